// Goal (issue 14 item 1 of the node): RaftNode changes membership for its callers, promotes a
// learner that asked for it once caught up, keeps its member table from the applied
// configuration, and a leader that applies its own removal leaves through onFatal.
// Method: real RaftNodes over the in-memory transport (harness.ts), a fourth node started with
// no configuration (voters []), as `serve --join` starts one.
import { afterEach, expect, it } from 'vitest';
import { RegistryError } from '../../../src/lib/errors.js';
import { index, nodeId } from '../../../src/lib/ids.js';
import { encodeMemberContext } from '../../../src/node/member-context.js';
import { MemberRemovedError } from '../../../src/node/node.js';
import { type Harness, cluster, enc, soon, until } from './harness.js';

const d = nodeId('d');
const context = (promote: boolean): string =>
  encodeMemberContext({ region: 'r', grpc: '127.0.0.1:1', peer: '127.0.0.1:2', http: '127.0.0.1:3', promote });

let h: Harness | null = null;
afterEach(async () => {
  await h?.stopAll();
  h = null;
});

it('adds a learner that is promoted once caught up, and refuses changes off the leader or while one is in flight', async () => {
  h = await cluster();
  const leader = h.leader();
  for (let i = 0; i < 20; i++) await leader.node.propose(enc(`k${i}=v${i}`), soon());
  const joiner = h.start(d, 9, undefined, { voters: [] });
  expect(joiner.node.memberRole()).toBe('none');

  const follower = h.members.find((m) => m !== leader && m !== joiner);
  const refused = await follower?.node
    .changeMembership({ op: 'addLearner', id: d, context: context(true) }, soon())
    .then(
      () => null,
      (e: unknown) => e,
    );
  expect(refused).toBeInstanceOf(RegistryError);
  expect((refused as RegistryError).code).toBe('UNAVAILABLE');
  expect((refused as RegistryError).leaderId).toBe(leader.node.id);

  const adding = leader.node.changeMembership({ op: 'addLearner', id: d, context: context(true) }, soon());
  const second = await leader.node.changeMembership({ op: 'remove', id: d, context: '' }, soon()).then(
    () => null,
    (e: unknown) => e as RegistryError,
  );
  expect(second?.code).toBe('UNAVAILABLE');
  expect(await adding).toBeGreaterThan(0);

  await until('d is promoted to voter on every member', () =>
    h!.members.every((m) => m.node.members().some((x) => x.id === d && x.role === 'voter')),
  );
  expect(joiner.node.memberRole()).toBe('voter');
  await until('d applied every write', () => joiner.kv.map.get('k19') === 'v19');
  expect(leader.node.members().find((m) => m.id === d)?.context?.peer).toBe('127.0.0.1:2');
});

it('keeps a learner added without promote a learner; leadership goes to voters only', async () => {
  h = await cluster();
  const leader = h.leader();
  h.start(d, 9, undefined, { voters: [] });
  await leader.node.changeMembership({ op: 'addLearner', id: d, context: context(false) }, soon());
  await leader.node.propose(enc('x=1'), soon());
  await until('d applied the write', () => h!.members.find((m) => m.node.id === d)?.kv.map.get('x') === '1');
  expect(() => leader.node.transferLeadership(d)).toThrow(/d is not a voter/);
  expect(leader.node.members().find((m) => m.id === d)?.role).toBe('learner');
});

it('a leader that applies its own removal answers the caller, then leaves through onFatal', async () => {
  const fatal: unknown[] = [];
  h = await cluster(() => ({ onFatal: (e) => fatal.push(e) }));
  const leader = h.leader();
  const index = await leader.node.changeMembership({ op: 'remove', id: leader.node.id, context: '' }, soon());
  expect(index).toBeGreaterThan(0);
  await until('the removed leader left', () => fatal.length > 0);
  expect(fatal[0]).toBeInstanceOf(MemberRemovedError);
  expect(leader.node.memberRole()).toBe('none');
  const others = h.members.filter((m) => m !== leader);
  await until('the others elect a leader among themselves', () =>
    others.some((m) => m.node.status().role === 'leader'),
  );
  for (const m of others) expect(m.node.members().map((x) => x.id)).not.toContain(leader.node.id);
});

it('a peer’s removal notice makes a node leave, unless it applied the removal’s index (a later incarnation)', async () => {
  const fatal: unknown[] = [];
  h = await cluster(() => ({ onFatal: (e) => fatal.push(e) }));
  const leader = h.leader();
  await leader.node.propose(enc('x=1'), soon());
  const follower = h.members.find((m) => m !== leader);
  await until('the follower applied the write', () => follower?.kv.map.get('x') === '1');
  const applied = follower?.node.status().appliedIndex ?? 0;
  follower?.node.removedByPeer(leader.node.id, index(applied));
  // It stays: it goes on applying (leaving takes one tick; these writes take several).
  for (let i = 0; i < 5; i++) await leader.node.propose(enc(`y=${i}`), soon());
  await until('the follower applied the later writes', () => follower?.kv.map.get('y') === '4');
  expect(fatal).toEqual([]);
  follower?.node.removedByPeer(leader.node.id, index(applied + 1_000));
  await until('the follower left', () => fatal.length > 0);
  expect(fatal[0]).toBeInstanceOf(MemberRemovedError);
});
