// Goal: staleness_ms bounds how old the state a node serves may be (issue 13 finding 5): it
// grows on a leader whose disk stalls while the others elect a new leader (it was 0), and on a
// follower whose disk stalls while the leader keeps committing (it was ~ one heartbeat), and it
// stays small on a healthy cluster. Method: real RaftNodes over the in-memory twins; a
// member's log write is held open through its beforePersist hook.
import { afterEach, describe, expect, test } from 'vitest';
import { type Harness, type Member, cluster, enc, soon, until } from './harness.js';

let h: Harness | null = null;
let release: (() => void) | null = null;
let holdOn: string | null = null;
afterEach(async () => {
  holdOn = null;
  release?.();
  release = null;
  await h?.stopAll();
  h = null;
});

async function stallable(): Promise<Harness> {
  return cluster((id) => ({
    beforePersist: () => (holdOn === id ? new Promise<void>((r) => (release = r)) : Promise.resolve()),
  }));
}

const others = (h: Harness, m: Member): Member[] => h.members.filter((x) => x !== m);

describe('staleness', () => {
  test('stays small on a healthy cluster, leader and followers', async () => {
    h = await stallable();
    const l = h.leader();
    await l.node.propose(enc('k=1'), soon());
    await until('every member reports fresh state', () => h!.members.every((m) => m.node.stalenessMs() < 1_000));
  });

  test('grows on a leader whose disk stalls while the others elect a new leader', async () => {
    h = await stallable();
    const l = h.leader();
    await l.node.propose(enc('k=1'), soon());
    holdOn = l.node.id;
    const stuck = l.node.propose(enc('k=2'), soon()).catch(() => undefined);
    await until('the leader is stuck in a log write', () => release !== null);
    await until('the others elect a new leader', () => others(h!, l).some((m) => m.node.status().role === 'leader'));
    expect(l.node.status().role).toBe('leader'); // it does not know yet
    await until('the old leader reports its state as old', () => l.node.stalenessMs() > 500);
    holdOn = null;
    release!();
    await stuck;
  });

  test('grows on a follower whose disk stalls while the leader keeps committing', async () => {
    h = await stallable();
    const l = h.leader();
    const f = others(h, l)[0]!;
    await l.node.propose(enc('k=1'), soon());
    holdOn = f.node.id;
    await l.node.propose(enc('k=2'), soon()); // commits with the other follower
    await until('the follower is stuck in a log write', () => release !== null);
    for (let i = 3; i < 10; i++) await l.node.propose(enc(`k=${i}`), soon());
    await until('the stalled follower reports its state as old', () => f.node.stalenessMs() > 500);
    expect(f.kv.map.get('k')).not.toBe('9');
  });
});
