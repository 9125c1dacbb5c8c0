/**
 * KV_MODEL: a map of string registers for the checker. put sets, append adds `,value` (or the
 * value to an empty key), get returns the value (null when unset). Partitioned by key, so each
 * key's history is checked on its own.
 */
import { type Model, type Operation, type Unknown, isUnknown } from './linearizability.js';

export type KvModelInput =
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly op: 'append'; readonly key: string; readonly value: string }
  | { readonly op: 'get'; readonly key: string };

/** KvModelOutput: what a get returned; writes return {}. */
export type KvModelOutput = { readonly value: string | null } | Record<string, never>;

export const KV_APPEND_SEPARATOR = ',';

export const KV_MODEL: Model<string | null, KvModelInput, KvModelOutput> = {
  partition(history) {
    const byKey = new Map<string, Operation<KvModelInput, KvModelOutput>[]>();
    for (const op of history) {
      const list = byKey.get(op.input.key);
      if (list === undefined) byKey.set(op.input.key, [op]);
      else list.push(op);
    }
    return [...byKey.keys()].sort().map((k) => byKey.get(k) ?? []);
  },
  init: () => null,
  step(state, input, output: KvModelOutput | Unknown) {
    switch (input.op) {
      case 'put':
        return input.value;
      case 'append':
        return state === null || state === '' ? input.value : `${state}${KV_APPEND_SEPARATOR}${input.value}`;
      case 'get':
        if (isUnknown(output)) return state;
        return 'value' in output && output.value === state ? state : undefined;
    }
  },
  equal: (a, b) => a === b,
  hash: (s) => (s === null ? '\u0000null' : s),
  describeOperation(input, output) {
    if (input.op === 'get')
      return `get(${input.key}) -> ${isUnknown(output) ? '?' : JSON.stringify('value' in output ? output.value : null)}`;
    return `${input.op}(${input.key}, ${JSON.stringify(input.value)})${isUnknown(output) ? ' ?' : ''}`;
  },
};
