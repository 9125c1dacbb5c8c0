/**
 * Every bound of the node, named once (STYLE rule 7). Each comment gives the trade-off.
 * Raft's own bounds (in ticks and entries) are in src/raft/config.ts; storage's in
 * src/storage/storage-limits.ts. `assertLimitRelations` runs at start-up.
 */
import { assert } from '../lib/assert.js';

export const LIMITS = Object.freeze({
  /**
   * tickIntervalMs: one Raft tick. With electionTimeoutTicks = 10 an election starts after
   * 1–2 s of silence; heartbeats every tick keep followers well inside that.
   */
  tickIntervalMs: 100,
  /** requestDeadlineDefaultMs: a request without a deadline gets this one (DESIGN §1: 5 s). */
  requestDeadlineDefaultMs: 5_000,
  /** requestDeadlineMaxMs: a longer client deadline is cut to this, so nothing waits forever. */
  requestDeadlineMaxMs: 5_000,
  /**
   * proposalsPendingMax: proposals waiting for their entry to apply on this node. Past it new
   * writes fail at once with RESOURCE_EXHAUSTED instead of queueing without bound.
   */
  proposalsPendingMax: 50_000,
  /** readsPendingMax: linearizable reads waiting for ReadIndex, likewise. */
  readsPendingMax: 50_000,
  /**
   * forwardBatchCommandsMax: commands a follower forwards to the leader in one Forward call.
   * Larger batches amortize the RPC; smaller ones bound the leader's work per call.
   */
  forwardBatchCommandsMax: 1_024,
  /** peerMessageBytesMax: the largest gRPC message between peers (an append batch, a chunk). */
  peerMessageBytesMax: 16 << 20,
  /** peerReconnectDelayMs: wait before reopening a broken peer stream (doubles to the max). */
  peerReconnectDelayMinMs: 50,
  peerReconnectDelayMaxMs: 500,
  /** peerCallDeadlineMs: a Forward call or snapshot stream chunk must progress within this. */
  peerCallDeadlineMs: 5_000,
  /** snapshotSliceBytes: serialize a snapshot in slices this big, yielding to the event loop between. */
  snapshotSliceBytes: 256 << 10,
  /** shutdownTransferWaitMs: on SIGTERM a leader waits this long for its transfer to finish. */
  shutdownTransferWaitMs: 2_000,
  /** commandBytesMax: one encoded command (metadata is at most 512 KiB, plus the room fields). */
  commandBytesMax: 1 << 20,
});

/** assertLimitRelations checks the relations between bounds that the design relies on. */
export function assertLimitRelations(electionTimeoutTicks: number): void {
  const electionTimeoutMs = electionTimeoutTicks * LIMITS.tickIntervalMs;
  assert(LIMITS.requestDeadlineDefaultMs <= LIMITS.requestDeadlineMaxMs, 'default deadline above the maximum');
  assert(LIMITS.requestDeadlineMaxMs > 2 * electionTimeoutMs, 'deadline must outlast a leader election');
  assert(LIMITS.commandBytesMax < LIMITS.peerMessageBytesMax, 'a command must fit in a peer message');
  assert(LIMITS.peerReconnectDelayMaxMs < electionTimeoutMs, 'reconnects must be faster than elections');
}
