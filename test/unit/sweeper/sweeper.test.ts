/**
 * Goal: the sweeper expires media-node leases before rooms (dropping a dead node's shares can
 * make its rooms due), one batch a turn so its rate bound holds for both kinds, only on the
 * leader, and a refused lease batch is retried at the idle pace rather than in a tight loop
 * (issue 16; DESIGN §13). Method: a Sweeper over a scripted expiry source and a target that
 * records each proposal and answers at once, driven by vitest's fake timers so turns and pacing
 * are counted exactly, without sleeping.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Command, CommandResult } from '../../../src/gen/roomregistry/command/v1/command.js';
import type { Logger } from '../../../src/lib/logger.js';
import { SWEEPER_LIMITS, Sweeper, type ExpirySource } from '../../../src/sweeper/sweeper.js';

type Proposed = NonNullable<Command['command']>;

class Source implements ExpirySource {
  dueNodes: string[] = [];
  due: string[] = [];
  /** versionInUse / versionToSet: a registry that sets `versionToSet` once every member applies it. */
  versionInUse = 1;
  versionToSet = 3;
  commandVersionToSet(everyMemberApplies: number): number | null {
    return everyMemberApplies >= this.versionToSet && this.versionToSet > this.versionInUse ? this.versionToSet : null;
  }
  dueMediaNodes(_nowMs: number, max: number): string[] {
    return this.dueNodes.slice(0, max);
  }
  dueRooms(_nowMs: number, max: number): string[] {
    return this.due.slice(0, max);
  }
}

function target(answer: (c: Proposed) => CommandResult['result'], leader = true) {
  const proposed: Proposed[] = [];
  return {
    proposed,
    /** membersApply: the command version every member advertised (1: an older build among them). */
    membersApply: 1,
    isLeader: () => leader,
    commandVersionEveryMemberApplies(): number {
      return this.membersApply;
    },
    propose: (payload: Uint8Array): Promise<Uint8Array> => {
      const c = Command.decode(payload);
      if (c.command === undefined) throw new Error('proposed a command of no kind');
      expect([c.requestId, c.apiKey]).toEqual(['', '']);
      proposed.push(c.command);
      return Promise.resolve(CommandResult.encode({ result: answer(c.command), revision: 1 }).finish());
    },
  };
}

function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, log: () => {}, info: () => {}, error: () => {}, warn: (event) => warnings.push(event) };
}

/** expireAll: the state machine expires whatever it is handed (and the source forgets it, as apply would). */
function expireAll(source: Source): (c: Proposed) => CommandResult['result'] {
  return (c) => {
    if (c.$case === 'expireMediaNodes') {
      source.dueNodes = source.dueNodes.filter((n) => !c.value.nodeIds.includes(n));
      return { $case: 'expiredMediaNodes', value: { mediaNodes: c.value.nodeIds.length } };
    }
    if (c.$case === 'expireRooms') {
      source.due = source.due.filter((n) => !c.value.names.includes(n));
      return { $case: 'expired', value: { rooms: c.value.names.length } };
    }
    throw new Error(`unexpected ${c.$case}`);
  };
}

let sweeper: Sweeper | null = null;
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  sweeper?.stop();
  sweeper = null;
  vi.useRealTimers();
});

const backlogPaceMs = Math.ceil(1000 / SWEEPER_LIMITS.sweepBatchesPerSecondMax);

describe('Sweeper with media-node leases', () => {
  it('expires due leases first, then the rooms, one batch a turn at the backlog pace', async () => {
    const source = new Source();
    source.dueNodes = ['sfu-a', 'sfu-b'];
    source.due = ['room-1'];
    const t = target(expireAll(source));
    const events: string[] = [];
    sweeper = new Sweeper(source, t, recordingLogger());
    sweeper.events.onMediaNodeBatch = (n, expired) => events.push(`nodes ${n}/${expired}`);
    sweeper.events.onBatch = (n, expired) => events.push(`rooms ${n}/${expired}`);
    sweeper.kick();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.proposed).toEqual([{ $case: 'expireMediaNodes', value: { nodeIds: ['sfu-a', 'sfu-b'] } }]);
    await vi.advanceTimersByTimeAsync(backlogPaceMs - 2);
    expect(t.proposed).toHaveLength(1); // the rate bound: no second batch in the same turn
    await vi.advanceTimersByTimeAsync(2);
    expect(t.proposed[1]).toEqual({ $case: 'expireRooms', value: { names: ['room-1'] } });
    expect(events).toEqual(['nodes 2/2', 'rooms 1/1']);
  });

  it('keeps at most sweepBatchesPerSecondMax batches a second through a lease backlog, each bounded', async () => {
    const source = new Source();
    // A backlog that never drains (each batch answers as if applied; the same leases stay due).
    source.dueNodes = Array.from({ length: SWEEPER_LIMITS.sweepBatchMediaNodesMax + 1 }, (_, i) => `sfu-${i}`);
    source.due = ['room-1'];
    const t = target((c) =>
      c.$case === 'expireMediaNodes'
        ? { $case: 'expiredMediaNodes', value: { mediaNodes: c.value.nodeIds.length } }
        : undefined,
    );
    sweeper = new Sweeper(source, t, recordingLogger());
    sweeper.kick();
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.proposed.length).toBeGreaterThan(SWEEPER_LIMITS.sweepBatchesPerSecondMax / 2);
    expect(t.proposed.length).toBeLessThanOrEqual(SWEEPER_LIMITS.sweepBatchesPerSecondMax + 1);
    for (const c of t.proposed) {
      expect(c.$case).toBe('expireMediaNodes');
      if (c.$case === 'expireMediaNodes') expect(c.value.nodeIds).toHaveLength(SWEEPER_LIMITS.sweepBatchMediaNodesMax);
    }
  });

  it('retries a refused lease batch at the idle pace and logs it', async () => {
    const source = new Source();
    source.dueNodes = ['sfu-a'];
    const t = target(() => ({ $case: 'failure', value: { code: 'FAILED_PRECONDITION', message: 'not yet' } }));
    const logger = recordingLogger();
    sweeper = new Sweeper(source, t, logger);
    sweeper.kick();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.proposed).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(SWEEPER_LIMITS.sweepIntervalMs - 1);
    expect(t.proposed).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.proposed).toHaveLength(2);
    expect(logger.warnings).toEqual(['sweep_failed', 'sweep_failed']);
  });

  it('proposes nothing on a follower', async () => {
    const source = new Source();
    source.dueNodes = ['sfu-a'];
    source.due = ['room-1'];
    const t = target(expireAll(source), false);
    sweeper = new Sweeper(source, t, recordingLogger());
    sweeper.start();
    await vi.advanceTimersByTimeAsync(5 * SWEEPER_LIMITS.sweepIntervalMs);
    expect(t.proposed).toEqual([]);
  });
});

describe('Sweeper and the command version', () => {
  it('sets the version once every member applies it, before any batch, and never again', async () => {
    const source = new Source();
    source.due = ['room-1'];
    const expire = expireAll(source);
    const t = target((c) => {
      if (c.$case !== 'setCommandVersion') return expire(c);
      source.versionInUse = c.value.version; // as apply does
      return { $case: 'commandVersionSet', value: { commandVersionInUse: c.value.version } };
    });
    sweeper = new Sweeper(source, t, recordingLogger());
    sweeper.kick();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.proposed).toEqual([{ $case: 'expireRooms', value: { names: ['room-1'] } }]); // a member applies only 1
    t.membersApply = 3;
    source.due = ['room-2'];
    await vi.advanceTimersByTimeAsync(SWEEPER_LIMITS.sweepIntervalMs);
    expect(t.proposed[1]).toEqual({ $case: 'setCommandVersion', value: { version: 3 } });
    await vi.advanceTimersByTimeAsync(10 * SWEEPER_LIMITS.sweepIntervalMs);
    expect(t.proposed.slice(2)).toEqual([{ $case: 'expireRooms', value: { names: ['room-2'] } }]);
  });

  it('retries a refused SetCommandVersion at the idle pace and logs it', async () => {
    const source = new Source();
    const t = target(() => ({ $case: 'failure', value: { code: 'FAILED_PRECONDITION', message: 'member n3' } }));
    t.membersApply = 3;
    const logger = recordingLogger();
    sweeper = new Sweeper(source, t, logger);
    sweeper.kick();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.proposed).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(SWEEPER_LIMITS.sweepIntervalMs - 1);
    expect(t.proposed).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.proposed).toHaveLength(2);
    expect(logger.warnings).toEqual(['command_version_not_set', 'command_version_not_set']);
  });
});
