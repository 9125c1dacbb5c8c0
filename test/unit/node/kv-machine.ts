import type { Index, Term } from '../../../src/lib/ids.js';
import type { SnapshotSource, StateMachine } from '../../../src/raft/index.js';

/** KvMachine is a tiny replicated map for node-loop tests: payload `key=value`, result the old value. */
export class KvMachine implements StateMachine {
  readonly map = new Map<string, string>();
  applied: Index = 0 as Index;
  readonly appliedTimesMs: number[] = [];
  /** appliedTerms: the term the node passed with each entry (the entry's own). */
  readonly appliedTerms: number[] = [];

  apply(index: Index, payload: Uint8Array, entryTimeMs: number, _quotaBytes: number, term: Term): Uint8Array {
    const text = new TextDecoder().decode(payload);
    const eq = text.indexOf('=');
    const key = text.slice(0, eq);
    const old = this.map.get(key) ?? '';
    this.map.set(key, text.slice(eq + 1));
    this.applied = index;
    this.appliedTimesMs.push(entryTimeMs);
    this.appliedTerms.push(term);
    return new TextEncoder().encode(old);
  }

  captureSnapshot(): SnapshotSource {
    let bytes: Uint8Array | null = new TextEncoder().encode(JSON.stringify([...this.map]));
    return {
      nextChunk: () => {
        const b = bytes;
        bytes = null;
        return b;
      },
      close: () => {
        bytes = null;
      },
    };
  }

  async restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const parts: Uint8Array[] = [];
    for await (const c of chunks) parts.push(c);
    const text = new TextDecoder().decode(Buffer.concat(parts));
    this.map.clear();
    for (const [k, v] of JSON.parse(text) as Array<[string, string]>) this.map.set(k, v);
  }
}
