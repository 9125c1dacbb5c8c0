/**
 * Goal: a proposal waiting at a log index is never replaced silently (issue 19 item 4): its caller would wait for
 * an outcome no one reports. Method: Proposals on a clock whose timers never fire; track twice at one index must
 * assert, while the ordinary course (apply, overwrite by another term, loss of leadership) settles each waiter.
 */
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../../../src/lib/assert.js';
import { RegistryError } from '../../../src/lib/errors.js';
import { index, term } from '../../../src/lib/ids.js';
import type { NodeClock } from '../../../src/node/clock.js';
import { Proposals } from '../../../src/node/proposals.js';
import { Waiter } from '../../../src/node/waiter.js';

const stillClock: NodeClock = {
  nowMs: () => 1_000,
  monotonicMs: () => 0,
  after: () => ({ cancel: () => {} }),
  every: () => ({ cancel: () => {} }),
  soon: () => {},
};

const waiter = (): Waiter<Uint8Array> => new Waiter<Uint8Array>(60_000, 'deadline', stillClock);

describe('Proposals', () => {
  it('asserts when a second proposal is tracked at an index where one waits', () => {
    const p = new Proposals(stillClock);
    p.track(index(5), term(2), waiter());
    expect(() => p.track(index(5), term(3), waiter())).toThrow(AssertionError);
  });

  it('settles each waiter once: by its result, by an overwrite, or by the loss of leadership', async () => {
    const p = new Proposals(stillClock);
    const [applied, overwritten, lost] = [waiter(), waiter(), waiter()];
    p.track(index(5), term(2), applied);
    p.track(index(6), term(2), overwritten);
    p.track(index(7), term(2), lost);
    p.applied(index(5), term(2), new Uint8Array([1]));
    p.applied(index(6), term(3), new Uint8Array([2]));
    p.failInFlight(new RegistryError('UNAVAILABLE', 'lost leadership'));
    await expect(applied.promise).resolves.toEqual(new Uint8Array([1]));
    await expect(overwritten.promise).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(lost.promise).rejects.toMatchObject({ message: 'lost leadership' });
    // Every index is free again: a new leadership may propose at them.
    expect(() => p.track(index(7), term(4), waiter())).not.toThrow();
  });
});
