import type { HistoryOp } from '../clients.js';
import { KV_MODEL, type KvModelInput, type KvModelOutput } from './kv-model.js';
import { type Operation, UNKNOWN, checkLinearizable } from './linearizability.js';

/**
 * history.ts adapts the workload's history (clients.ts) to the linearizability checker and the
 * key-value model: reads become `get`, writes return nothing, and a write with no return time
 * keeps the UNKNOWN output.
 */
export interface HistoryVerdict {
  readonly verdict: 'ok' | 'illegal' | 'timeout';
  readonly details: string;
}

/** checkHistory checks the simulator's client history against the key-value model, per key. */
export function checkHistory(history: readonly HistoryOp[], budgetMs: number): HistoryVerdict {
  const ops = history.map(toOperation);
  const r = checkLinearizable(KV_MODEL, ops, { timeBudgetMs: budgetMs });
  if (r.verdict === 'illegal') return { verdict: 'illegal', details: r.explanation };
  return { verdict: r.verdict, details: '' };
}

function toOperation(op: HistoryOp): Operation<KvModelInput, KvModelOutput> {
  const unknown = !Number.isFinite(op.returnTime);
  if (op.input.op === 'read') {
    const input: KvModelInput = { op: 'get', key: op.input.key };
    return {
      clientId: op.clientId,
      input,
      callTime: op.callTime,
      output: unknown ? UNKNOWN : { value: op.output },
      returnTime: op.returnTime,
    };
  }
  return {
    clientId: op.clientId,
    input: op.input,
    callTime: op.callTime,
    output: unknown ? UNKNOWN : {},
    returnTime: op.returnTime,
  };
}
