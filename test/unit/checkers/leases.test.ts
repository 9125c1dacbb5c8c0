// Goal: the simulator's lease checker (test/sim/checkers/leases.ts) catches a media-node lease
// expired before its ttl ran out, or one that left shares behind, and passes an expiry on time.
// Method: heartbeats and expiries fed to it by hand, as the simulator's hooks would, in log order.
import { describe, expect, test } from 'vitest';
import { LeaseChecker } from '../../sim/checkers/leases.js';
import { SafetyViolation } from '../../sim/checkers/safety.js';
import type { Index } from '../../../src/lib/ids.js';

const at = (i: number): Index => i as Index;

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
  test('passes an expiry stamped at or after the last heartbeat plus its ttl', () => {
    const c = new LeaseChecker();
    c.heartbeatApplied(at(3), 500.4, 'mn1', 2);
    c.heartbeatApplied(at(5), 1000.7, 'mn1', 1);
    expect(violation(() => c.expired(at(9), 2000, ['mn1'], []))).toBeNull();
    // Every replica reports the same entry; it counts once.
    expect(violation(() => c.expired(at(9), 2000, ['mn1'], []))).toBeNull();
    expect(c.leasesExpired).toBe(1);
    expect(c.heartbeatsApplied).toBe(2);
  });

  test('fails an expiry stamped before the last heartbeat before it ran out, whatever came after', () => {
    const c = new LeaseChecker();
    c.heartbeatApplied(at(3), 100, 'mn1', 1);
    c.heartbeatApplied(at(5), 1000, 'mn1', 1);
    // A heartbeat after the expiry entry (index 12) does not excuse it, and an earlier one does not count.
    c.heartbeatApplied(at(12), 1500, 'mn1', 1);
    expect(violation(() => c.expired(at(9), 1999, ['mn1'], []))).toBe('lease expired early');
  });

  test('fails an expiry of a node that never heartbeat, or one that left shares behind', () => {
    const c = new LeaseChecker();
    expect(violation(() => c.expired(at(4), 5000, ['mn2'], []))).toBe('lease expiry');
    c.heartbeatApplied(at(5), 0, 'mn2', 1);
    expect(violation(() => c.expired(at(6), 5000, ['mn2'], ["r1 still holds mn2's share 3"]))).toBe('lease expiry');
  });
});
