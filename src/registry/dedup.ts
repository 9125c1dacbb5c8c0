import { LRUCache } from 'lru-cache';
import type { DedupRecord } from '../gen/roomregistry/snapshot/v1/snapshot.js';
import { REGISTRY_LIMITS } from './registry-limits.js';

/** DEDUP_RECORD_OVERHEAD_BYTES: what one remembered id costs beyond its key and result bytes. */
const DEDUP_RECORD_OVERHEAD_BYTES = 96;

export interface Remembered {
  /** command: the oneof case of the command that used the id (a reuse for another command is refused). */
  readonly command: string;
  readonly result: Uint8Array;
}

/**
 * DedupTable remembers the first result of each request id, so a write retried after an
 * unknown outcome (say, its leader died between commit and reply) applies once (Raft thesis
 * §6.3). It is replicated state: only `apply` touches it, in log order, so every replica keeps
 * and evicts the same ids; the snapshot stores it least recently used first, and restoring in
 * that order rebuilds the same recency.
 */
export class DedupTable {
  private cache = newCache();

  get size(): number {
    return this.cache.size;
  }

  /** lookup returns the remembered result and marks the id as recently used. */
  lookup(requestId: string): Remembered | undefined {
    return this.cache.get(requestId);
  }

  remember(requestId: string, command: string, result: Uint8Array): void {
    this.cache.set(requestId, { command, result });
  }

  /** records lists the ids least recently used first (the snapshot's order). */
  records(): DedupRecord[] {
    const out: DedupRecord[] = [];
    for (const requestId of this.cache.rkeys()) {
      const r = this.cache.peek(requestId);
      // A Buffer view of the same bytes (the generated type wants a Buffer); nothing is copied.
      if (r !== undefined) out.push({ requestId, command: r.command, result: Buffer.from(r.result.buffer, r.result.byteOffset, r.result.byteLength) });
    }
    return out;
  }

  /** replaceAll restores a snapshot's records, given least recently used first. */
  replaceAll(records: readonly DedupRecord[]): void {
    const cache = newCache();
    for (const r of records) cache.set(r.requestId, { command: r.command, result: r.result });
    this.cache = cache;
  }
}

function newCache(): LRUCache<string, Remembered> {
  return new LRUCache<string, Remembered>({
    max: REGISTRY_LIMITS.dedupEntriesMax,
    maxSize: REGISTRY_LIMITS.dedupBytesMax,
    sizeCalculation: (r, key) => r.result.byteLength + key.length * 2 + DEDUP_RECORD_OVERHEAD_BYTES,
  });
}
