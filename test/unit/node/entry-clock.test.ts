// Goal: entry times never go backwards along the log when a leader's clock is behind the
// times already in its log (issue 13 finding 7), so expiry never runs backwards. Method: real
// RaftNodes over the in-memory twins; after some writes, leadership moves and every clock in
// the process is set 60 s back (Date.now mocked); the next writes must be stamped no earlier.
import { afterEach, describe, expect, test, vi } from 'vitest';
import { MemoryNodeStorage } from '../../../src/node/memory-storage.js';
import { EntryClock } from '../../../src/node/entry-clock.js';
import { encodeCommandEntry } from '../../../src/node/entry-codec.js';
import type { Index, Term } from '../../../src/lib/ids.js';
import { type Harness, cluster, enc, soon, until } from './harness.js';

let h: Harness | null = null;
afterEach(async () => {
  vi.restoreAllMocks();
  await h?.stopAll();
  h = null;
});

const nonDecreasing = (xs: readonly number[]): boolean => xs.every((x, i) => i === 0 || x >= xs[i - 1]!);

describe('entry times', () => {
  test('a new leader whose clock is behind stamps no earlier than the entries it holds', async () => {
    h = await cluster();
    const l = h.leader();
    for (let i = 0; i < 5; i++) await l.node.propose(enc(`a=${i}`), soon());
    const next = h.members.find((m) => m !== l)!;
    await until('the successor holds every write', () => next.kv.map.get('a') === '4');
    l.node.transferLeadership(next.node.id);
    await until('the successor leads', () => next.node.status().role === 'leader');
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() - 60_000);
    for (let i = 0; i < 5; i++) await next.node.propose(enc(`b=${i}`), soon());
    await until('all applied', () => h!.members.every((m) => m.kv.map.get('b') === '4'));
    for (const m of h.members) expect(nonDecreasing(m.kv.appliedTimesMs), m.kv.appliedTimesMs.join(',')).toBe(true);
  });

  test('a restarted leader starts from the last entry time in its log', () => {
    const storage = new MemoryNodeStorage();
    const e = (i: number, ms: number | null) =>
      ms === null
        ? { index: i as Index, term: 1 as Term, kind: 'noop' as const, data: new Uint8Array() }
        : {
            index: i as Index,
            term: 1 as Term,
            kind: 'command' as const,
            data: encodeCommandEntry(ms, enc('k=v'), 1 << 30),
          };
    storage.append([e(1, 5_000), e(2, 9_000), e(3, null)]);
    const clock = EntryClock.fromLog(storage);
    expect(clock.stamp(1_000)).toBe(9_000);
    expect(clock.stamp(12_000)).toBe(12_000);
  });
});
