// Goal: linearizable reads on a follower survive lost and stale messages (issue 13 findings
// 3 and 4): a reply meant for an earlier process of the member never confirms a read of the
// restarted one; a lost request is sent again; reads past their deadline or sent to a former
// leader leave the books. Method: real RaftNodes over the in-memory twins; links are cut
// one way so the follower's requests are lost while it still hears the leader.
import { afterEach, describe, expect, test } from 'vitest';
import { RegistryError } from '../../../src/lib/errors.js';
import type { Message } from '../../../src/raft/index.js';
import { type Harness, type Member, cluster, enc, soon, until } from './harness.js';

let h: Harness | null = null;
afterEach(async () => {
  await h?.stopAll();
  h = null;
});

const readIndexSent = (m: Member): Extract<Message, { type: 'readIndex' }>[] =>
  m.sent.filter((x): x is Extract<Message, { type: 'readIndex' }> => x.type === 'readIndex');

async function codeOf(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => 'resolved',
    (error: unknown) => error,
  );
  return e instanceof RegistryError ? e.code : String(e);
}

describe('follower reads', () => {
  test('a delayed reply to the previous process of a member does not confirm a read of the restarted one', async () => {
    h = await cluster();
    const l = h.leader();
    const f = h.members.find((m) => m !== l)!;
    await l.node.propose(enc('k=1'), soon());
    // The old process asks; its request is held back (here: lost), as a slow link would.
    h.network.cut(f.node.id, l.node.id);
    expect(await codeOf(f.node.readBarrier(Date.now() + 200))).toBe('DEADLINE_EXCEEDED');
    const oldRequest = readIndexSent(f)[0]!;
    await h.kill(f);
    const f2 = h.start(f.node.id, 99, f);
    await until('the restarted member follows the leader', () => f2.node.status().leader === l.node.id);
    await l.node.propose(enc('k=2'), soon()); // acknowledged after the old read was asked
    const read = f2.node.readBarrier(Date.now() + 400);
    await until('the new process asked', () => readIndexSent(f2).length > 0);
    // Now the leader's reply to the old request arrives, naming the commit index of its time.
    const term = l.node.status().term;
    f2.node.deliver([
      {
        type: 'readIndexResp',
        from: l.node.id,
        to: f.node.id,
        term,
        contexts: oldRequest.contexts,
        index: 1 as never,
        reject: false,
      },
    ]);
    expect(await codeOf(read)).toBe('DEADLINE_EXCEEDED');
  });

  test('a read whose request was lost is asked again and succeeds within its deadline', async () => {
    h = await cluster();
    const l = h.leader();
    const f = h.members.find((m) => m !== l)!;
    await l.node.propose(enc('k=1'), soon());
    h.network.cut(f.node.id, l.node.id);
    const read = f.node.readBarrier(Date.now() + 4_000);
    await until('the request went out', () => readIndexSent(f).length > 0);
    // The memory network drops at delivery, one macrotask after the send: let it, then heal.
    await new Promise((r) => setImmediate(r));
    h.network.healAll();
    expect(await read).toBeGreaterThan(0);
    expect(readIndexSent(f).length).toBeGreaterThan(1);
  });

  test('reads past their deadline no longer count toward readsPendingMax', async () => {
    h = await cluster();
    const l = h.leader();
    const f = h.members.find((m) => m !== l)!;
    h.network.cut(f.node.id, l.node.id);
    const reads = Array.from({ length: 5 }, () => f.node.readBarrier(Date.now() + 200));
    // All at once: a read awaited only after another could reject with no handler attached.
    expect(await Promise.all(reads.map(codeOf))).toEqual(reads.map(() => 'DEADLINE_EXCEEDED'));
    await until('no read counted as pending', () => f.node.load().reads === 0, 3_000);
  });

  test('a read sent to a former leader fails at once when this member wins leadership', async () => {
    h = await cluster();
    const l = h.leader();
    const f = h.members.find((m) => m !== l)!;
    // The transfer waits for the target to be caught up, which the leader learns only from acks
    // the cut would drop: cut only once it knows (CI failed here when the new term's entry was unacked).
    await until('the leader knows the follower holds its log', () => {
      const s = l.node.status();
      return s.progress?.[f.node.id]?.match === s.lastIndex;
    });
    h.network.cut(f.node.id, l.node.id);
    const read = codeOf(f.node.readBarrier(Date.now() + 4_000));
    await until('the request went out (and was lost)', () => readIndexSent(f).length > 0);
    l.node.transferLeadership(f.node.id);
    await until('the follower leads', () => f.node.status().role === 'leader');
    const startMs = Date.now();
    const outcome = await read;
    // It either failed clearly at the change, or was asked again of this member (now leader).
    expect(['UNAVAILABLE', 'resolved']).toContain(outcome);
    expect(Date.now() - startMs).toBeLessThan(3_000);
  });
});
