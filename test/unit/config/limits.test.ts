/**
 * Goal: the limit tables agree with each other (issue 19 item 5). Method: the start-up checks pass on the shipped
 * values; the election timeout has one source (RAFT_DEFAULTS, in ticks) that the milliseconds derive from; and the
 * relations across tables that no single layer can check at start-up (storage ↔ config) hold.
 */
import { describe, expect, it } from 'vitest';
import { assertGrpcLimitRelations, GRPC_LIMITS } from '../../../src/api/grpc-limits.js';
import { assertLimitRelations, electionTimeoutTicks, LIMITS } from '../../../src/config/limits.js';
import { RAFT_DEFAULTS } from '../../../src/raft/index.js';
import { STORAGE_LIMITS } from '../../../src/storage/storage-limits.js';

describe('limits', () => {
  it('pass their start-up relation checks', () => {
    expect(() => assertLimitRelations()).not.toThrow();
    expect(() => assertGrpcLimitRelations()).not.toThrow();
  });

  it('take the election timeout from RAFT_DEFAULTS alone', () => {
    expect(electionTimeoutTicks()).toBe(RAFT_DEFAULTS.electionTimeoutTicks);
    expect(LIMITS.electionTimeoutMs).toBe(RAFT_DEFAULTS.electionTimeoutTicks * LIMITS.tickIntervalMs);
  });

  it('refuse a reply bound below what the list paths may send', () => {
    expect(() => assertGrpcLimitRelations({ ...GRPC_LIMITS, replyBytesMax: 1 << 20 })).toThrow(/fit a reply/);
  });

  it('let a WAL record hold the largest command and a snapshot slice', () => {
    expect(STORAGE_LIMITS.recordBytesMax).toBeGreaterThan(LIMITS.commandBytesMax + (64 << 10));
    expect(STORAGE_LIMITS.recordBytesMax).toBeGreaterThan(LIMITS.snapshotSliceBytes);
    expect(STORAGE_LIMITS.walSegmentBytesMax).toBeGreaterThanOrEqual(STORAGE_LIMITS.recordBytesMax);
  });
});
