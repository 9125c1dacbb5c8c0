/**
 * Every bound of the node, named once (STYLE rule 7). Each comment gives the trade-off.
 * Raft's own bounds (in ticks and entries) are in src/raft/config.ts; storage's in
 * src/storage/storage-limits.ts. `assertLimitRelations` runs at start-up.
 */
import { assert } from '../lib/assert.js';

export const LIMITS = Object.freeze({
  /** tickIntervalMs: one Raft tick; the leader heartbeats every tick. */
  tickIntervalMs: 100,
  /**
   * electionTimeoutMs: a follower that hears no leader for a random time in [700, 1400) ms
   * campaigns (the core draws from [1, 2) × the timeout), about 1 s on average. The first of
   * two followers fires after ~0.9 s in the median, so a write gap after a leader's death is
   * about 1 s; seven heartbeats fit in the shortest timeout, so a busy or briefly paused leader
   * is not deposed. Also the window in which a leader must hear from a majority (CheckQuorum).
   */
  electionTimeoutMs: 700,
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
   * readIndexRetryMs: a ReadIndex request unanswered this long is taken as lost (request or
   * reply) and sent again under a new context. A healthy round trip takes one heartbeat
   * (100 ms) plus a cross-region RTT, so 1 s rarely resends needlessly, and a 5 s read
   * deadline still fits four attempts.
   */
  readIndexRetryMs: 1_000,
  /**
   * forwardBatchCommandsMax: commands a follower forwards to the leader in one Forward call.
   * Larger batches amortize the RPC; smaller ones bound the leader's work per call.
   */
  forwardBatchCommandsMax: 1_024,
  /** peerMessageBytesMax: the largest gRPC message between peers (an append batch, a chunk). */
  peerMessageBytesMax: 16 << 20,
  /**
   * inboxMessagesMax, inboxBytesMax: peer messages queued for the loop's next turn. They grow
   * only while the loop is stuck (a stalled disk: each peer sends a heartbeat per tick and its
   * appends); past either bound messages are dropped and counted (metric
   * inbox_dropped_messages_total), which Raft tolerates. 10 000 messages is minutes of
   * heartbeats from four peers; 64 MiB holds four full peer messages.
   */
  inboxMessagesMax: 10_000,
  inboxBytesMax: 64 << 20,
  /** peerReconnectDelayMs: wait before reopening a broken peer stream (doubles to the max). */
  peerReconnectDelayMinMs: 50,
  peerReconnectDelayMaxMs: 500,
  /**
   * peerCallDeadlineMs: a Forward call must finish, and a snapshot stream (either end) move
   * its next chunk, within this, or it is abandoned (the snapshot is sent again later). Long
   * enough for a 256 KiB chunk over a slow WAN link; short enough that a stuck peer does not
   * hold a stream for the whole snapshotStreamDeadlineMs.
   */
  peerCallDeadlineMs: 5_000,
  /** snapshotSliceBytes: serialize a snapshot in slices this big, yielding to the event loop between. */
  snapshotSliceBytes: 256 << 10,
  /** shutdownTransferWaitMs: on SIGTERM a leader waits this long for its transfer to finish. */
  shutdownTransferWaitMs: 2_000,
  /** commandBytesMax: one encoded command (metadata is at most 512 KiB, plus the room fields). */
  commandBytesMax: 1 << 20,
});

/** electionTimeoutTicks is LIMITS.electionTimeoutMs in the core's unit. */
export function electionTimeoutTicks(): number {
  const ticks = LIMITS.electionTimeoutMs / LIMITS.tickIntervalMs;
  assert(Number.isInteger(ticks) && ticks > 1, 'the election timeout must be a whole number of ticks, more than one');
  return ticks;
}

/** assertLimitRelations checks the relations between bounds that the design relies on. */
export function assertLimitRelations(): void {
  const electionTimeoutMs = LIMITS.electionTimeoutMs;
  assert(LIMITS.requestDeadlineDefaultMs <= LIMITS.requestDeadlineMaxMs, 'default deadline above the maximum');
  assert(LIMITS.requestDeadlineMaxMs > 2 * electionTimeoutMs, 'deadline must outlast a leader election');
  assert(LIMITS.commandBytesMax < LIMITS.peerMessageBytesMax, 'a command must fit in a peer message');
  assert(LIMITS.inboxBytesMax >= LIMITS.peerMessageBytesMax, 'the inbox must hold at least one full peer message');
  assert(LIMITS.peerReconnectDelayMaxMs < electionTimeoutMs, 'reconnects must be faster than elections');
  assert(LIMITS.readIndexRetryMs < LIMITS.requestDeadlineDefaultMs, 'a lost ReadIndex request must be retried within a read deadline');
}
