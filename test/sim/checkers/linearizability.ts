/**
 * A linearizability checker: Wing & Gong's search, with Lowe's memoization of
 * (linearized set, model state) pairs and per-partition checking (P-compositionality), the
 * method Porcupine uses. Used by the simulator and by the chaos tests against real clusters.
 *
 * History: each operation has a call time and a return time. An operation whose outcome is
 * unknown (timeout, crash) has returnTime = +Infinity and output UNKNOWN: it may take effect at
 * any point after its call or never (linearized last, it is invisible to every observed read).
 */

/** UNKNOWN is the output of an operation whose outcome was never observed; models accept it. */
export const UNKNOWN = Object.freeze({ unknown: true as const });
export type Unknown = typeof UNKNOWN;

export function isUnknown(o: unknown): o is Unknown {
  return typeof o === 'object' && o !== null && (o as { unknown?: unknown }).unknown === true;
}

export interface Operation<I, O> {
  readonly clientId: number;
  readonly input: I;
  readonly callTime: number;
  readonly output: O | Unknown;
  readonly returnTime: number;
}

export interface Model<S, I, O> {
  /** partition splits a history into independent sub-histories (e.g. by key); default: one. */
  partition?(history: readonly Operation<I, O>[]): Operation<I, O>[][];
  init(): S;
  /** step returns the next state if `input` with `output` is legal from `state`, else undefined. */
  step(state: S, input: I, output: O | Unknown): S | undefined;
  equal(a: S, b: S): boolean;
  /** hash must agree with equal: equal states hash equal. */
  hash(state: S): string;
  describeOperation?(input: I, output: O | Unknown): string;
}

export type CheckResult =
  | { readonly verdict: 'ok' }
  | {
      readonly verdict: 'illegal';
      readonly partition: number;
      readonly longestLinearizablePrefix: string[];
      readonly explanation: string;
    }
  | { readonly verdict: 'timeout' };

/** checkTimeBudgetMsDefault bounds one check; a history too tangled to decide gives 'timeout'. */
export const checkTimeBudgetMsDefault = 60_000;

export function checkLinearizable<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  options: { readonly timeBudgetMs?: number } = {},
): CheckResult {
  const deadlineMs = Date.now() + (options.timeBudgetMs ?? checkTimeBudgetMsDefault);
  const partitions = model.partition?.(history) ?? [history.slice()];
  for (let p = 0; p < partitions.length; p++) {
    const ops = partitions[p] ?? [];
    const result = checkPartition(model, ops, deadlineMs);
    if (result === 'timeout') return { verdict: 'timeout' };
    if (result !== 'ok') return { verdict: 'illegal', partition: p, ...explain(model, ops, result) };
  }
  return { verdict: 'ok' };
}

/** Entry is one call or return event in the doubly linked event list. */
interface Entry {
  readonly id: number;
  readonly isCall: boolean;
  /** match: a call's return entry. */
  match: Entry | null;
  prev: Entry | null;
  next: Entry | null;
}

function buildEntries<I, O>(ops: readonly Operation<I, O>[]): Entry {
  const events: Array<{ time: number; isCall: boolean; id: number }> = [];
  ops.forEach((op, id) => {
    events.push({ time: op.callTime, isCall: true, id }, { time: op.returnTime, isCall: false, id });
  });
  // At equal times calls go first: more overlap, so never a false "illegal".
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.id - b.id : a.isCall ? -1 : 1));
  const head: Entry = { id: -1, isCall: false, match: null, prev: null, next: null };
  const calls = new Map<number, Entry>();
  let tail = head;
  for (const ev of events) {
    const e: Entry = { id: ev.id, isCall: ev.isCall, match: null, prev: tail, next: null };
    tail.next = e;
    tail = e;
    if (ev.isCall) calls.set(ev.id, e);
    else {
      const call = calls.get(ev.id);
      if (call !== undefined) call.match = e;
    }
  }
  return head;
}

function lift(call: Entry): void {
  const ret = call.match as Entry;
  (call.prev as Entry).next = call.next;
  if (call.next !== null) call.next.prev = call.prev;
  (ret.prev as Entry).next = ret.next;
  if (ret.next !== null) ret.next.prev = ret.prev;
}

function unlift(call: Entry): void {
  const ret = call.match as Entry;
  (ret.prev as Entry).next = ret;
  if (ret.next !== null) ret.next.prev = ret;
  (call.prev as Entry).next = call;
  if (call.next !== null) call.next.prev = call;
}

/** checkPartition returns 'ok', 'timeout', or the largest set of operations it could linearize. */
function checkPartition<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  deadlineMs: number,
): 'ok' | 'timeout' | Set<number> {
  const head = buildEntries(ops);
  const linearized = new Set<number>();
  let best = new Set<number>();
  const cache = new Map<string, S[]>();
  const stack: Array<{ call: Entry; state: S }> = [];
  let state = model.init();
  let entry = head.next;
  let steps = 0;
  while (head.next !== null) {
    if (++steps % 4096 === 0 && Date.now() > deadlineMs) return 'timeout';
    if (entry === null) return 'ok'; // defensive: only returns remain once everything is lifted
    if (entry.isCall) {
      const op = ops[entry.id] as Operation<I, O>;
      const next = model.step(state, op.input, op.output);
      if (next !== undefined && remember(cache, model, linearized, entry.id, next)) {
        stack.push({ call: entry, state });
        state = next;
        linearized.add(entry.id);
        if (linearized.size > best.size) best = new Set(linearized);
        lift(entry);
        entry = head.next;
        continue;
      }
      entry = entry.next;
      continue;
    }
    // A return whose call is not linearized yet: undo the last choice and try the next one.
    const top = stack.pop();
    if (top === undefined) return best;
    state = top.state;
    linearized.delete(top.call.id);
    unlift(top.call);
    entry = top.call.next;
  }
  return 'ok';
}

/** remember records (linearized ∪ {id}, state); false when that configuration was explored. */
function remember<S, I, O>(
  cache: Map<string, S[]>,
  model: Model<S, I, O>,
  linearized: Set<number>,
  id: number,
  state: S,
): boolean {
  const ids = [...linearized, id].sort((a, b) => a - b);
  const key = `${ids.join(',')}|${model.hash(state)}`;
  const seen = cache.get(key);
  if (seen?.some((s) => model.equal(s, state)) === true) return false;
  if (seen === undefined) cache.set(key, [state]);
  else seen.push(state);
  return true;
}

function explain<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  best: Set<number>,
): { longestLinearizablePrefix: string[]; explanation: string } {
  const describe = (op: Operation<I, O>): string => {
    const what =
      model.describeOperation?.(op.input, op.output) ?? `${JSON.stringify(op.input)} -> ${JSON.stringify(op.output)}`;
    const end = Number.isFinite(op.returnTime) ? String(op.returnTime) : '?';
    return `client ${op.clientId} [${op.callTime}, ${end}] ${what}`;
  };
  const prefix = [...best].sort((a, b) => a - b).map((i) => describe(ops[i] as Operation<I, O>));
  const stuck = ops.filter((_, i) => !best.has(i)).map(describe);
  const explanation = `could linearize ${best.size} of ${ops.length} operations; these could not be placed:\n  ${stuck.join('\n  ')}`;
  return { longestLinearizablePrefix: prefix, explanation };
}
