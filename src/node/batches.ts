import { LIMITS } from '../config/limits.js';
import { assert } from '../lib/assert.js';
import type { Message } from '../raft/index.js';

/**
 * MESSAGE_OVERHEAD_BYTES / ENTRY_OVERHEAD_BYTES bound what a peer message and each entry in it
 * add in protobuf beyond the entries' data: ids, terms, indexes and tags, a few varints each.
 * Generous, so a batch measured with them is never larger on the wire.
 */
const MESSAGE_OVERHEAD_BYTES = 128;
const ENTRY_OVERHEAD_BYTES = 32;

/** peerMessageBytes is an upper bound on one Raft message's encoded size. */
export function peerMessageBytes(m: Message): number {
  if (m.type !== 'append') return MESSAGE_OVERHEAD_BYTES;
  let bytes = MESSAGE_OVERHEAD_BYTES;
  for (const e of m.entries) bytes += ENTRY_OVERHEAD_BYTES + e.data.byteLength;
  return bytes;
}

/**
 * splitBatches cuts items into consecutive batches of at most countMax items and bytesMax
 * bytes (as bytesOf measures them), in order. The limits are set so that one valid command or
 * one append always fits (assertLimitRelations); an item larger than bytesMax anyway (a
 * command no leader validated) travels alone, and the transport refuses it, not the process.
 */
export function splitBatches<T>(
  items: readonly T[],
  bytesOf: (item: T) => number,
  bytesMax: number,
  countMax: number,
): T[][] {
  const batches: T[][] = [];
  let batch: T[] = [];
  let batchBytes = 0;
  for (const item of items) {
    const bytes = bytesOf(item);
    if (batch.length > 0 && (batch.length >= countMax || batchBytes + bytes > bytesMax)) {
      batches.push(batch);
      batch = [];
      batchBytes = 0;
    }
    batch.push(item);
    batchBytes += bytes;
  }
  if (batch.length > 0) batches.push(batch);
  assert(batches.reduce((n, b) => n + b.length, 0) === items.length, 'splitBatches lost or added an item');
  return batches;
}

/**
 * peerBatches cuts the messages of one Ready for one peer into RaftBatch messages that gRPC
 * will carry (LIMITS.peerMessageBytesMax): a Ready may hold up to inflightAppendsMax appends
 * of appendBytesPerMessageMax each, far more than one gRPC message may be.
 */
export function peerBatches(messages: readonly Message[]): Message[][] {
  return splitBatches(messages, peerMessageBytes, LIMITS.peerBatchBytesMax, Number.MAX_SAFE_INTEGER);
}
