import type { Index, Term } from '../../src/lib/ids.js';

/**
 * The simulator's replicated state machine: a string map with put and append. Commands travel
 * in log entries as printable text (`put|k2|c3.17`), so traces show them as they are. Values
 * are unique per write, which makes the linearizability search fast and its failures readable.
 */

export type KvCommand =
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly op: 'append'; readonly key: string; readonly value: string };

/** APPEND_SEPARATOR goes between appended values, so a read shows every append it saw. */
export const APPEND_SEPARATOR = ',';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeKvCommand(c: KvCommand): Uint8Array {
  return encoder.encode(`${c.op}|${c.key}|${c.value}`);
}

export function decodeKvCommand(data: Uint8Array): KvCommand {
  const [op, key, value, ...rest] = decoder.decode(data).split('|');
  if ((op !== 'put' && op !== 'append') || key === undefined || value === undefined || rest.length > 0) {
    throw new Error(`undecodable kv command ${JSON.stringify(decoder.decode(data))}`);
  }
  return { op, key, value };
}

/**
 * applyKvCommand is the state machine's transition. checkers/kv-model.ts states the same
 * semantics on its own for the linearizability checker, so a slip in one shows as a mismatch.
 */
export function applyKvCommand(current: string | null, c: KvCommand): string {
  if (c.op === 'put' || current === null || current === '') return c.value;
  return `${current}${APPEND_SEPARATOR}${c.value}`;
}

/** KvSnapshot is a copy of a node's map at `index`: the bytes that travel beside an InstallSnapshot. */
export interface KvSnapshot {
  readonly index: Index;
  readonly term: Term;
  readonly data: ReadonlyMap<string, string>;
  /** digest is a canonical text of `data`, compared across nodes snapshotting the same index. */
  readonly digest: string;
}

/** SimKv is one node's in-memory state machine; a crash loses it, a restart restores a snapshot. */
export class SimKv {
  private data = new Map<string, string>();
  /** applied is the index of the last entry applied (or of the snapshot restored). */
  applied: Index = 0 as Index;

  apply(i: Index, data: Uint8Array | null): void {
    if (data !== null) {
      const c = decodeKvCommand(data);
      this.data.set(c.key, applyKvCommand(this.data.get(c.key) ?? null, c));
    }
    this.applied = i;
  }

  get(key: string): string | null {
    return this.data.get(key) ?? null;
  }

  snapshot(term: Term): KvSnapshot {
    const copy = new Map(this.data);
    return { index: this.applied, term, data: copy, digest: kvDigest(copy) };
  }

  restore(s: KvSnapshot): void {
    this.data = new Map(s.data);
    this.applied = s.index;
  }

  digest(): string {
    return kvDigest(this.data);
  }
}

export function kvDigest(data: ReadonlyMap<string, string>): string {
  return JSON.stringify([...data].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
