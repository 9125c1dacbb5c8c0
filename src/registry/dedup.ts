import type { DedupRecord } from '../gen/roomregistry/snapshot/v1/snapshot.js';
import { assert } from '../lib/assert.js';
import { REGISTRY_LIMITS } from './registry-limits.js';

/**
 * DEDUP_RECORD_OVERHEAD_BYTES: what one remembered id costs beyond its strings and result
 * bytes (the record object, its Map entry and queue slot, the result's Uint8Array object).
 */
const DEDUP_RECORD_OVERHEAD_BYTES = 256;
/** QUEUE_COMPACT_MIN: evicted slots at the queue's head before it is worth copying the rest down. */
const QUEUE_COMPACT_MIN = 1_024;

/** DEDUP_EVICTION_REASONS: the bound that made the table forget an id before its window ended. */
export const DEDUP_EVICTION_REASONS = ['entries', 'bytes'] as const;
export type DedupEvictionReason = (typeof DEDUP_EVICTION_REASONS)[number];

export interface Remembered {
  readonly apiKey: string;
  readonly requestId: string;
  /** command: the oneof case of the command that used the id (a reuse for another is refused). */
  readonly command: string;
  /** room: the room it named ("" for none, or unknown: a record from an older snapshot). */
  readonly room: string;
  readonly result: Uint8Array;
  /** entryTimeMs: the entry time of its first use; null until stamped (from an older snapshot). */
  entryTimeMs: number | null;
  readonly sizeBytes: number;
}

/**
 * DedupTable remembers the first result of each (API key, request id), so a write retried
 * after an unknown outcome (say, its leader died between commit and reply) applies once (Raft
 * thesis §6.3), and one client cannot read another's result by guessing its id. Every id is
 * kept for at least REGISTRY_LIMITS.dedupWindowMs of entry time after its first use, unless the
 * entry or byte bound forces the oldest out first (`onEvicted` counts those). It is replicated
 * state: only `apply` touches it, in log order and with the entry's time, so every replica keeps
 * and evicts the same ids; ids leave in order of first use, which the snapshot keeps.
 */
export class DedupTable {
  private byKey = new Map<string, Remembered>();
  /** queue: the ids in order of first use; slots before `head` are evicted. Invariant: holds exactly byKey's records. */
  private queue: Array<Remembered | undefined> = [];
  private head = 0;
  private bytes = 0;

  constructor(private readonly onEvicted: (reason: DedupEvictionReason) => void = () => {}) {}

  get size(): number {
    return this.byKey.size;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  lookup(apiKey: string, requestId: string): Remembered | undefined {
    return this.byKey.get(keyOf(apiKey, requestId));
  }

  /**
   * expire forgets the ids whose window ended at `nowMs` (an entry time), oldest first. Records
   * restored from an older snapshot carry no time: the first entry after the restore stamps them.
   */
  expire(nowMs: number): void {
    for (let i = this.head; i < this.queue.length && this.queue[i]?.entryTimeMs === null; i++) {
      const r = this.queue[i];
      if (r !== undefined) r.entryTimeMs = nowMs;
    }
    for (;;) {
      const oldest = this.queue[this.head];
      if (oldest === undefined || oldest.entryTimeMs === null) break;
      if (oldest.entryTimeMs + REGISTRY_LIMITS.dedupWindowMs > nowMs) break;
      this.evictOldest();
    }
  }

  /** remember adds an id not yet held, then evicts the oldest while a bound is exceeded. */
  remember(r: Omit<Remembered, 'sizeBytes'>): void {
    const key = keyOf(r.apiKey, r.requestId);
    assert(!this.byKey.has(key), () => `request id ${r.requestId} remembered twice`);
    const record: Remembered = { ...r, sizeBytes: sizeOf(r) };
    this.byKey.set(key, record);
    this.queue.push(record);
    this.bytes += record.sizeBytes;
    this.enforceBounds();
  }

  private enforceBounds(): void {
    for (;;) {
      const reason: DedupEvictionReason | null =
        this.byKey.size > REGISTRY_LIMITS.dedupEntriesMax
          ? 'entries'
          : this.bytes > REGISTRY_LIMITS.dedupBytesMax
            ? 'bytes'
            : null;
      if (reason === null) return;
      this.evictOldest();
      this.onEvicted(reason);
    }
  }

  private evictOldest(): void {
    const oldest = this.queue[this.head];
    assert(oldest !== undefined, 'dedup queue empty while the table is not');
    this.queue[this.head] = undefined; // free the record now, not at the next compaction
    this.head++;
    this.byKey.delete(keyOf(oldest.apiKey, oldest.requestId));
    this.bytes -= oldest.sizeBytes;
    if (this.head >= QUEUE_COMPACT_MIN && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    assert(this.queue.length - this.head === this.byKey.size, 'dedup queue and table disagree');
  }

  /** records lists the ids in order of first use (the snapshot's order). */
  records(): DedupRecord[] {
    const out: DedupRecord[] = [];
    for (let i = this.head; i < this.queue.length; i++) {
      const r = this.queue[i];
      if (r === undefined) continue;
      // A Buffer view of the same bytes (the generated type wants a Buffer); nothing is copied.
      const result = Buffer.from(r.result.buffer, r.result.byteOffset, r.result.byteLength);
      out.push({
        requestId: r.requestId,
        apiKey: r.apiKey,
        command: r.command,
        room: r.room,
        result,
        ...(r.entryTimeMs === null ? {} : { entryTimeMs: r.entryTimeMs }),
      });
    }
    return out;
  }

  /**
   * replaceAll restores a snapshot's records, in the order given (first use first; an older
   * snapshot's least recently used first), evicting as `remember` would if the bounds shrank.
   */
  replaceAll(records: readonly DedupRecord[]): void {
    this.byKey = new Map();
    this.queue = [];
    this.head = 0;
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

/** keyOf joins an API key and a request id unambiguously (the key's length first). */
function keyOf(apiKey: string, requestId: string): string {
  return `${apiKey.length}:${apiKey}:${requestId}`;
}

function sizeOf(r: Omit<Remembered, 'sizeBytes'>): number {
  // Strings are counted as UTF-16, as the heap holds them.
  return (
    DEDUP_RECORD_OVERHEAD_BYTES +
    2 * (r.apiKey.length + r.requestId.length + r.room.length + r.command.length) +
    r.result.byteLength
  );
}
