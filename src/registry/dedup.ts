import type { DedupRecord } from '../gen/roomregistry/snapshot/v1/snapshot.js';
import { assert } from '../lib/assert.js';
import { type DedupEntry, DedupStore, NO_SLOT } from './dedup-store.js';
import { REGISTRY_LIMITS } from './registry-limits.js';

export type { DedupEntry } from './dedup-store.js';

/**
 * DEDUP_RECORD_OVERHEAD_BYTES: what one remembered id counts beyond its strings and result
 * bytes. It once estimated the heap a record took (its object, Map entry and queue slot, the
 * result's Uint8Array); the table now keeps ids packed (dedup-store.ts) and costs less, but the
 * count must not change: see sizeOf.
 */
const DEDUP_RECORD_OVERHEAD_BYTES = 256;

/** DEDUP_EVICTION_REASONS: the bound that made the table forget an id before its window ended. */
export const DEDUP_EVICTION_REASONS = ['entries', 'bytes'] as const;
export type DedupEvictionReason = (typeof DEDUP_EVICTION_REASONS)[number];

/** DedupLimits: the bounds a table keeps (REGISTRY_LIMITS'; tests shrink them). */
export interface DedupLimits {
  readonly dedupWindowMs: number;
  readonly dedupEntriesMax: number;
  readonly dedupBytesMax: number;
}

/** Remembered is a remembered id as `lookup` returns it: a copy, still valid after the table changes. */
export interface Remembered extends DedupEntry {
  /** sizeBytes: what it counts against dedupBytesMax (sizeOf). */
  readonly sizeBytes: number;
}

/**
 * DedupTable remembers the first result of each (API key, request id), so a write retried
 * after an unknown outcome (say, its leader died between commit and reply) applies once (Raft
 * thesis §6.3), and one client cannot read another's result by guessing its id. Every id is
 * kept for at least REGISTRY_LIMITS.dedupWindowMs of entry time after its first use, unless the
 * entry or byte bound forces the oldest out first (`onEvicted` counts those). It is replicated
 * state: only `apply` touches it, in log order and with the entry's time, so every replica keeps
 * and evicts the same ids; ids leave in order of first use, which the snapshot keeps. The ids
 * are kept packed in a DedupStore, with no heap object of their own.
 * Invariant: `bytes` sums the store's counted sizes; between calls the store is within the bounds.
 */
export class DedupTable {
  private store = new DedupStore();
  private bytes = 0;

  constructor(
    private readonly onEvicted: (reason: DedupEvictionReason) => void = () => {},
    private readonly limits: DedupLimits = REGISTRY_LIMITS,
  ) {
    assert(limits.dedupEntriesMax >= 1 && limits.dedupBytesMax >= 1, 'dedup bounds must hold an id');
  }

  get size(): number {
    return this.store.size;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  /** lookup is the id's record, decoded into a fresh object (undefined: not remembered). */
  lookup(apiKey: string, requestId: string): Remembered | undefined {
    const slot = this.store.find(apiKey, requestId);
    if (slot === NO_SLOT) return undefined;
    const r = this.store.recordAt(slot);
    return {
      apiKey: r.apiKey,
      requestId: r.requestId,
      command: r.command,
      room: r.room,
      // A copy: apply returns it to the proposer, who may keep it while ids come and go.
      result: new Uint8Array(r.result),
      entryTimeMs: r.entryTimeMs ?? null,
      sizeBytes: this.store.countedBytesAt(slot),
    };
  }

  /**
   * expire forgets the ids whose window ended at `nowMs` (an entry time), oldest first. Records
   * restored from an older snapshot carry no time: the first entry after the restore stamps them.
   */
  expire(nowMs: number): void {
    for (let i = 0; i < this.store.size; i++) {
      const slot = this.store.slotAt(i);
      if (this.store.entryTimeAt(slot) !== null) break;
      this.store.setEntryTimeAt(slot, nowMs);
    }
    while (this.store.size > 0) {
      const oldestMs = this.store.entryTimeAt(this.store.slotAt(0));
      if (oldestMs === null || oldestMs + this.limits.dedupWindowMs > nowMs) break;
      this.evictOldest();
    }
  }

  /** remember adds an id not yet held, then evicts the oldest while a bound is exceeded. */
  remember(r: DedupEntry): void {
    const sizeBytes = sizeOf(r);
    this.store.push(r, sizeBytes); // asserts the id is not held yet
    this.bytes += sizeBytes;
    this.enforceBounds();
  }

  private enforceBounds(): void {
    for (;;) {
      const reason: DedupEvictionReason | null =
        this.store.size > this.limits.dedupEntriesMax
          ? 'entries'
          : this.bytes > this.limits.dedupBytesMax
            ? 'bytes'
            : null;
      if (reason === null) return;
      this.evictOldest();
      this.onEvicted(reason);
    }
  }

  private evictOldest(): void {
    assert(this.store.size > 0, 'dedup table evicting while empty');
    this.bytes -= this.store.countedBytesAt(this.store.slotAt(0));
    this.store.shift();
    assert(this.bytes >= 0 && (this.store.size > 0 || this.bytes === 0), 'dedup byte count drifted');
  }

  /** records lists the ids in order of first use (the snapshot's order); results are views, not copies. */
  records(): DedupRecord[] {
    const out: DedupRecord[] = [];
    for (let i = 0; i < this.store.size; i++) out.push(this.store.recordAt(this.store.slotAt(i)));
    return out;
  }

  /**
   * replaceAll restores a snapshot's records, in the order given (first use first; an older
   * snapshot's least recently used first), evicting as `remember` would if the bounds shrank.
   */
  replaceAll(records: readonly DedupRecord[]): void {
    this.store = new DedupStore();
    this.bytes = 0;
    for (const r of records) {
      this.remember({
        apiKey: r.apiKey,
        requestId: r.requestId,
        command: r.command,
        room: r.room,
        result: r.result,
        entryTimeMs: r.entryTimeMs ?? null,
      });
    }
  }
}

/**
 * sizeOf is what an id counts against dedupBytesMax. The bound is replicated behaviour: every
 * replica, of this build or an older one, must evict exactly the same ids, so this formula stays
 * byte for byte what older builds counted (strings as UTF-16 code units, as the heap once held
 * them, and DEDUP_RECORD_OVERHEAD_BYTES), though the packed store holds UTF-8 and less overhead.
 */
function sizeOf(r: DedupEntry): number {
  return (
    DEDUP_RECORD_OVERHEAD_BYTES +
    2 * (r.apiKey.length + r.requestId.length + r.room.length + r.command.length) +
    r.result.byteLength
  );
}
