// Goal: the simulator's lease checker (test/sim/checkers/leases.ts) catches a media-node lease
// expired before its ttl ran out (or before a leader change's extension ran out), a due lease an
// expiry entry kept, and an expiry that left shares behind, and passes an expiry on time.
// Method: command entries fed to it by hand in log order, as the simulator's hooks would, each
// expiry reported right after its entry, as its first apply does.
import { describe, expect, test } from 'vitest';
import type { Command } from '../../../src/gen/roomregistry/command/v1/command.js';
import type { Index } from '../../../src/lib/ids.js';
import { LeaseChecker } from '../../sim/checkers/leases.js';
import { SafetyViolation } from '../../sim/checkers/safety.js';

const at = (i: number): Index => i as Index;
const stats = { numRooms: 0, numClients: 0, cpuLoad: 0 };

function heartbeat(nodeId: string, ttlS: number): Command['command'] {
  return { $case: 'mediaNodeHeartbeat', value: { nodeId, region: 'eu', ttlS, stats } };
}

function expire(...nodeIds: string[]): Command['command'] {
  return { $case: 'expireMediaNodes', value: { nodeIds } };
}

const other: Command['command'] = { $case: 'deleteRoom', value: { name: 'r1' } };

/** violation runs `fn` and returns the checker name of the SafetyViolation it threw, or null. */
function violation(fn: () => void): string | null {
  try {
    fn();
    return null;
  } catch (e) {
    if (e instanceof SafetyViolation) return e.checker;
    throw e;
  }
}

describe('LeaseChecker', () => {
  test('passes an expiry stamped at or after the last heartbeat plus its ttl, counted once', () => {
    const c = new LeaseChecker();
    c.commandApplied(at(3), 500.4, 1, heartbeat('mn1', 2));
    c.commandApplied(at(5), 1000.7, 1, heartbeat('mn1', 1));
    c.commandApplied(at(9), 2000, 1, expire('mn1'));
    expect(violation(() => c.expired(at(9), 2000, ['mn1'], []))).toBeNull();
    // Every other replica reports the same entry; it counts once.
    expect(violation(() => c.expired(at(9), 2000, ['mn1'], []))).toBeNull();
    expect(c.leasesExpired).toBe(1);
    expect(c.heartbeatsApplied).toBe(2);
  });

  test('fails an expiry before the ttl of the last heartbeat ran out', () => {
    const c = new LeaseChecker();
    c.commandApplied(at(3), 100, 1, heartbeat('mn1', 1));
    c.commandApplied(at(5), 1000, 1, heartbeat('mn1', 1));
    c.commandApplied(at(9), 1999, 1, expire('mn1'));
    expect(violation(() => c.expired(at(9), 1999, ['mn1'], []))).toBe('lease expired early');
  });

  test('extends live leases by the leaderless gap at a new term, and fails an expiry inside it', () => {
    const c = new LeaseChecker();
    c.commandApplied(at(3), 1000, 1, heartbeat('mn1', 1)); // until 2000
    c.commandApplied(at(4), 1500, 1, heartbeat('mn2', 1)); // until 2500
    c.commandApplied(at(5), 1800, 1, other);
    // Term 2's first command, 700 ms after term 1's last: both leases live at 1800 move by 700.
    c.commandApplied(at(7), 2500, 2, expire('mn1', 'mn2'));
    expect(violation(() => c.expired(at(7), 2500, [], []))).toBeNull();
    c.commandApplied(at(8), 2600, 2, expire('mn1'));
    expect(violation(() => c.expired(at(8), 2600, ['mn1'], []))).toBe('lease expired early');
  });

  test('fails an expiry entry that keeps a lease it names and which is due', () => {
    const c = new LeaseChecker();
    c.commandApplied(at(3), 1000, 1, heartbeat('mn1', 1));
    c.commandApplied(at(6), 2000, 1, expire('mn1'));
    expect(violation(() => c.expired(at(6), 2000, [], []))).toBe('lease kept past due');
  });

  test('fails an expiry of a node that holds no lease, or one that left shares behind', () => {
    const c = new LeaseChecker();
    c.commandApplied(at(4), 5000, 1, expire('mn2'));
    expect(violation(() => c.expired(at(4), 5000, ['mn2'], []))).toBe('lease expiry');
    c.commandApplied(at(5), 6000, 1, heartbeat('mn2', 1));
    c.commandApplied(at(6), 9000, 1, expire('mn2'));
    expect(violation(() => c.expired(at(6), 9000, ['mn2'], ["r1 still holds mn2's share 3"]))).toBe('lease expiry');
  });
});
