// Goal: the core is changed only in the loop's turn, never between ready() and advance()
// (issue 13 finding 8: transferLeadership did). Method: real RaftNodes over the in-memory
// twins; the leader's log write is held open, leadership transfer is asked for meanwhile, and
// a spy on the core records whether it was asked while a Ready was outstanding.
import { afterEach, describe, expect, test, vi } from 'vitest';
import { RaftCore } from '../../../src/raft/index.js';
import { type Harness, cluster, enc, soon, until } from './harness.js';

let h: Harness | null = null;
afterEach(async () => {
  vi.restoreAllMocks();
  await h?.stopAll();
  h = null;
});

describe('the loop owns the core', () => {
  test('a leadership transfer asked for during a log write starts after that Ready is advanced', async () => {
    let release: (() => void) | null = null;
    let holdOn: string | null = null;
    h = await cluster((id) => ({
      beforePersist: () => (holdOn === id ? new Promise<void>((r) => (release = r)) : Promise.resolve()),
    }));
    const l = h.leader();
    const target = h.members.find((m) => m !== l)!;
    const calledMidReady: boolean[] = [];
    const original = RaftCore.prototype.transferLeadership;
    vi.spyOn(RaftCore.prototype, 'transferLeadership').mockImplementation(function (this: RaftCore, to) {
      calledMidReady.push((this as unknown as { outstanding: unknown }).outstanding !== null);
      return original.call(this, to);
    });
    holdOn = l.node.id;
    const write = l.node.propose(enc('w=1'), soon());
    await until('the leader is inside a log write', () => release !== null);
    l.node.transferLeadership(target.node.id);
    holdOn = null;
    (release as unknown as () => void)();
    await write.catch(() => undefined); // the transfer may overtake it; its outcome is not the point
    await until('the transfer ran', () => calledMidReady.length > 0);
    expect(calledMidReady).toEqual([false]);
    await until('the target leads', () => target.node.status().role === 'leader');
  });
});
