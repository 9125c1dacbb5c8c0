// Goal: while a node's loop is stuck in a log write, the peer messages queued for it stay
// within LIMITS.inboxMessagesMax and inboxBytesMax; the rest are dropped and counted, and the
// cluster recovers once the disk answers (issue 13 finding 8). Method: real RaftNodes over the
// in-memory twins; one follower's log write is held open while its peers and a flood of
// heartbeats keep arriving.
import { afterEach, describe, expect, test } from 'vitest';
import { LIMITS } from '../../../src/config/limits.js';
import type { Index, Term } from '../../../src/lib/ids.js';
import type { Message } from '../../../src/raft/index.js';
import { type Harness, cluster, enc, soon, until } from './harness.js';

let h: Harness | null = null;
afterEach(async () => {
  await h?.stopAll();
  h = null;
});

describe('the inbox', () => {
  test('is bounded during a disk stall and drops (and counts) what does not fit', async () => {
    let release: (() => void) | null = null;
    let holdOn: string | null = null;
    h = await cluster((id) => ({
      beforePersist: () => (holdOn === id ? new Promise<void>((r) => (release = r)) : Promise.resolve()),
    }));
    const l = h.leader();
    const f = h.members.find((m) => m !== l)!;
    holdOn = f.node.id;
    await l.node.propose(enc('x=1'), soon()); // commits with the other follower; f's write hangs
    await until('the follower is stuck in a log write', () => release !== null);
    const term = l.node.status().term as Term;
    const flood: Message[] = Array.from({ length: LIMITS.inboxMessagesMax + 500 }, () => ({
      type: 'heartbeat',
      from: l.node.id,
      to: f.node.id,
      term,
      commit: 0 as Index,
      readSeq: 0,
    }));
    for (let i = 0; i < flood.length; i += 1_000) f.node.deliver(flood.slice(i, i + 1_000));
    const stats = f.node.inboxStats();
    expect(stats.messages).toBeLessThanOrEqual(LIMITS.inboxMessagesMax);
    expect(stats.bytes).toBeLessThanOrEqual(LIMITS.inboxBytesMax);
    expect(stats.dropped).toBeGreaterThanOrEqual(500);
    holdOn = null;
    (release as unknown as () => void)();
    await l.node.propose(enc('x=2'), soon());
    await until('the follower caught up', () => f.kv.map.get('x') === '2');
    // The leader's heartbeats keep arriving: the flood must drain, not every turn be empty.
    await until('the follower drained its inbox', () => f.node.inboxStats().messages === 0);
  });
});
