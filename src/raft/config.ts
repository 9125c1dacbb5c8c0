import type { NodeId } from '../lib/ids.js';
import type { Rng } from '../lib/rng.js';
import type { LogStorage } from './log-storage.js';

/**
 * RaftConfig: time is in ticks here; milliseconds live only in the node (STYLE rule 4).
 * Every bound is named; `validateRaftConfig` checks their relations at start-up.
 */
export interface RaftConfig {
  readonly id: NodeId;
  /**
   * voters is the configuration before index 1, used when storage holds no snapshot yet. A
   * cluster bootstrapped with config entries (and a node joining one) passes [].
   */
  readonly voters: readonly NodeId[];
  readonly storage: LogStorage;
  /** random drives election jitter; the only randomness in the core. */
  readonly random: Rng;
  /**
   * electionTimeoutTicks: a follower that hears nothing from a leader for a random time in
   * [electionTimeoutTicks, 2 × electionTimeoutTicks) campaigns. Also the CheckQuorum window.
   */
  readonly electionTimeoutTicks: number;
  /** heartbeatIntervalTicks: a leader's heartbeat period; well below the election timeout. */
  readonly heartbeatIntervalTicks: number;
  /** inflightAppendsMax bounds un-acknowledged appends pipelined to one follower. */
  readonly inflightAppendsMax: number;
  /** appendBytesPerMessageMax bounds the entry bytes in one append (at least one entry is sent). */
  readonly appendBytesPerMessageMax: number;
  /** uncommittedEntriesMax: proposals beyond this many uncommitted entries are refused as overload. */
  readonly uncommittedEntriesMax: number;
  /**
   * uncommittedBytesMax: proposals beyond this many bytes proposed by this leader and not yet
   * applied are refused as overload (etcd's MaxUncommittedEntriesSize); one entry always fits.
   */
  readonly uncommittedBytesMax: number;
  /** committedBytesPerReadyMax bounds the entry bytes handed to the state machine in one Ready. */
  readonly committedBytesPerReadyMax: number;
  /** snapshotIntervalEntries: ask for a snapshot once this many entries are applied since the last. */
  readonly snapshotIntervalEntries: number;
  /** snapshotRetryTicks: a snapshot send with no answer for this long is retried. */
  readonly snapshotRetryTicks: number;
  /** preVote: campaign only after a pre-vote round shows a majority would vote (default true). */
  readonly preVote: boolean;
  /** checkQuorum: a leader that hears from no majority for an election timeout steps down (default true). */
  readonly checkQuorum: boolean;
}

export type RaftConfigDefaults = Omit<RaftConfig, 'id' | 'voters' | 'storage' | 'random'>;

/**
 * RAFT_DEFAULTS are sized for a 100 ms tick (config LIMITS.tickIntervalMs): a 700 ms election timeout (the one source
 * of it; config derives LIMITS.electionTimeoutMs from it), 100 ms heartbeats.
 */
export const RAFT_DEFAULTS: RaftConfigDefaults = Object.freeze({
  electionTimeoutTicks: 7,
  heartbeatIntervalTicks: 1,
  inflightAppendsMax: 256,
  appendBytesPerMessageMax: 1 << 20,
  uncommittedEntriesMax: 100_000,
  // 64 MiB: 128 commands of 512 KiB, or ~0.3 s of writes at 200 MB/s of disk; beyond it a
  // slow quorum shows as RESOURCE_EXHAUSTED at once instead of a growing in-memory tail.
  uncommittedBytesMax: 64 << 20,
  committedBytesPerReadyMax: 8 << 20,
  snapshotIntervalEntries: 100_000,
  snapshotRetryTicks: 100,
  preVote: true,
  checkQuorum: true,
});

/** validateRaftConfig returns a list of problems; empty means valid. */
export function validateRaftConfig(c: RaftConfig): string[] {
  const problems: string[] = [];
  if (new Set(c.voters).size !== c.voters.length) problems.push('voters contain duplicates');
  if (!(c.heartbeatIntervalTicks >= 1)) problems.push('heartbeatIntervalTicks must be >= 1');
  if (!(c.electionTimeoutTicks > c.heartbeatIntervalTicks)) {
    problems.push('electionTimeoutTicks must be greater than heartbeatIntervalTicks');
  }
  if (!(c.inflightAppendsMax >= 1)) problems.push('inflightAppendsMax must be >= 1');
  if (!(c.appendBytesPerMessageMax >= 1)) problems.push('appendBytesPerMessageMax must be >= 1');
  if (!(c.uncommittedEntriesMax >= 1)) problems.push('uncommittedEntriesMax must be >= 1');
  if (!(c.uncommittedBytesMax >= 1)) problems.push('uncommittedBytesMax must be >= 1');
  if (!(c.committedBytesPerReadyMax >= 1)) problems.push('committedBytesPerReadyMax must be >= 1');
  if (!(c.snapshotIntervalEntries >= 1)) problems.push('snapshotIntervalEntries must be >= 1');
  if (!(c.snapshotRetryTicks > c.electionTimeoutTicks)) {
    problems.push('snapshotRetryTicks must be greater than electionTimeoutTicks');
  }
  return problems;
}
