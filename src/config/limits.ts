/**
 * Every bound of the node, named once (STYLE rule 7). Each comment gives the trade-off.
 * Raft's own bounds (in ticks and entries) are in src/raft/config.ts; storage's in
 * src/storage/storage-limits.ts. `assertLimitRelations` runs at start-up.
 * Timing has one source: the election timeout is RAFT_DEFAULTS.electionTimeoutTicks, and its
 * milliseconds here are derived from it and the tick.
 */
import { assert } from '../lib/assert.js';
import { RAFT_DEFAULTS } from '../raft/index.js';

/** tickIntervalMs: one Raft tick; the leader heartbeats every tick (RAFT_DEFAULTS.heartbeatIntervalTicks). */
const tickIntervalMs = 100;

/**
 * ENVELOPE_BYTES_SLACK: room for what a peer message carries around its entries or commands
 * (terms, indexes, ids, protobuf tags), measured generously; used where one more entry or
 * command must still fit a batch.
 */
const ENVELOPE_BYTES_SLACK = 64 << 10;

export const LIMITS = Object.freeze({
  tickIntervalMs,
  /**
   * electionTimeoutMs (RAFT_DEFAULTS.electionTimeoutTicks × tickIntervalMs, 7 × 100 ms): a
   * follower that hears no leader for a random time in [700, 1400) ms
   * campaigns (the core draws from [1, 2) × the timeout), about 1 s on average. The first of
   * two followers fires after ~0.9 s in the median, so a write gap after a leader's death is
   * about 1 s; seven heartbeats fit in the shortest timeout, so a busy or briefly paused leader
   * is not deposed. Also the window in which a leader must hear from a majority (CheckQuorum).
   */
  electionTimeoutMs: RAFT_DEFAULTS.electionTimeoutTicks * tickIntervalMs,
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
   * peerBatchBytesMax: the Raft messages of one Ready to one peer go out in RaftBatch messages of
   * at most this many bytes (src/node/batches.ts measures them generously); kept 1 MiB under
   * peerMessageBytesMax for the framing. Fewer, larger batches cost fewer writes.
   */
  peerBatchBytesMax: 15 << 20,
  /**
   * forwardBatchBytesMax: the command bytes a follower forwards in one Forward call, besides
   * forwardBatchCommandsMax. Its reply carries a room per command, so a batch's reply may be
   * larger than its request (an occupancy update returns 512 KiB of metadata); the leader
   * answers the results that do not fit in one peer message as UNAVAILABLE "retry with the
   * same request id", which the dedup table answers.
   */
  forwardBatchBytesMax: 8 << 20,
  /**
   * proposalsPendingBytesMax: command bytes of the writes waiting on this node (queued or in
   * flight), besides proposalsPendingMax. Past it new writes fail RESOURCE_EXHAUSTED at once:
   * 50 000 pending writes of 512 KiB would otherwise hold 25 GiB. 256 MiB is 512 such writes,
   * or all 50 000 writes of up to 5 KiB.
   */
  proposalsPendingBytesMax: 256 << 20,
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
  /**
   * snapshotIntervalBytes: take a snapshot once this many entry bytes were applied since the
   * last one, whatever their count (the count trigger is RAFT_DEFAULTS.snapshotIntervalEntries).
   * It bounds the log tail kept in memory and replayed from the WAL at restart to about this
   * plus the uncommitted bytes; smaller means more snapshots, each costing O(state) ≤ the quota.
   */
  snapshotIntervalBytes: 256 << 20,
  /** snapshotSliceBytes: serialize a snapshot in slices this big, yielding to the event loop between. */
  snapshotSliceBytes: 256 << 10,
  /**
   * promoteLagEntriesMax: the leader promotes a learner added with promote:true once its match
   * index is within this many entries of the leader's last index. Promoting a voter far behind
   * would make it part of the quorum before it can help commit (a 3-voter cluster would stall
   * writes until it caught up); 1 000 entries is well under a second of replication.
   */
  promoteLagEntriesMax: 1_000,
  /** shutdownTransferWaitMs: on SIGTERM a leader waits this long for its transfer to finish. */
  shutdownTransferWaitMs: 2_000,
  /** shutdownDrainMs: on SIGTERM the API listeners let calls in flight answer for this long, then cut them off. */
  shutdownDrainMs: 2_000,
  /** commandBytesMax: one encoded command (metadata is at most 512 KiB, plus the room fields). */
  commandBytesMax: 1 << 20,
  /**
   * quotaBytesDefault: the state quota (`serve --quota-bytes`): the summed bytes the rooms
   * occupy (src/registry/state-quota.ts) past which CreateRoom and growing updates fail
   * RESOURCE_EXHAUSTED "registry is full". 2 GiB, etcd's default backend quota. The rooms are
   * held outside the V8 heap (src/registry/room-table.ts), so `--max-old-space-size` does not
   * bound them: the quota is sized to the machine's memory, beside the log tail and the heap.
   */
  quotaBytesDefault: 2 * 1024 * 1024 * 1024,
  /** quotaBytesMin: a smaller quota is a typo; 1 MiB still lets tests fill it quickly. */
  quotaBytesMin: 1 << 20,
});

/** electionTimeoutTicks is the election timeout the node runs with: RAFT_DEFAULTS', the one source. */
export function electionTimeoutTicks(): number {
  const ticks = RAFT_DEFAULTS.electionTimeoutTicks;
  assert(Number.isInteger(ticks) && ticks > 1, 'the election timeout must be a whole number of ticks, more than one');
  assert(LIMITS.electionTimeoutMs === ticks * LIMITS.tickIntervalMs, 'electionTimeoutMs must be derived from ticks');
  return ticks;
}

/** assertLimitRelations checks the relations between bounds that the design relies on. */
export function assertLimitRelations(): void {
  const electionTimeoutMs = LIMITS.electionTimeoutMs;
  assert(LIMITS.requestDeadlineDefaultMs <= LIMITS.requestDeadlineMaxMs, 'default deadline above the maximum');
  assert(LIMITS.requestDeadlineMaxMs > 2 * electionTimeoutMs, 'deadline must outlast a leader election');
  assert(LIMITS.commandBytesMax < LIMITS.peerMessageBytesMax, 'a command must fit in a peer message');
  assert(LIMITS.peerBatchBytesMax < LIMITS.peerMessageBytesMax, 'a peer batch must fit in a peer message');
  // An append holds at least one entry, so one entry past the append budget must fit a batch too.
  assert(
    RAFT_DEFAULTS.appendBytesPerMessageMax + LIMITS.commandBytesMax + ENVELOPE_BYTES_SLACK <= LIMITS.peerBatchBytesMax,
    'an append must fit in a peer batch',
  );
  assert(
    LIMITS.commandBytesMax + ENVELOPE_BYTES_SLACK <= LIMITS.forwardBatchBytesMax,
    'a command must fit in a forward batch',
  );
  assert(LIMITS.forwardBatchBytesMax < LIMITS.peerMessageBytesMax, 'a forward batch must fit in a peer message');
  assert(LIMITS.commandBytesMax <= LIMITS.proposalsPendingBytesMax, 'one write must fit in the pending bytes');
  assert(LIMITS.inboxBytesMax >= LIMITS.peerMessageBytesMax, 'the inbox must hold at least one full peer message');
  assert(LIMITS.peerReconnectDelayMaxMs < electionTimeoutMs, 'reconnects must be faster than elections');
  assert(
    LIMITS.readIndexRetryMs < LIMITS.requestDeadlineDefaultMs,
    'a lost ReadIndex request must be retried within a read deadline',
  );
  // A healthy ReadIndex round takes one heartbeat; a retry sooner would resend every read.
  const heartbeatIntervalMs = RAFT_DEFAULTS.heartbeatIntervalTicks * LIMITS.tickIntervalMs;
  assert(LIMITS.readIndexRetryMs > 2 * heartbeatIntervalMs, 'a ReadIndex retry must wait out a heartbeat round');
  assert(LIMITS.snapshotSliceBytes < LIMITS.peerMessageBytesMax, 'a snapshot slice must fit in a peer message');
  assert(LIMITS.commandBytesMax <= RAFT_DEFAULTS.uncommittedBytesMax, 'one write must fit the uncommitted budget');
}
