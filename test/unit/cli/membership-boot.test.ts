/**
 * Goal (issue 14 item 3): a new cluster's founders write identical config entries 1..n; the
 * configuration a data dir holds is its snapshot's plus its committed config entries; a node
 * that configuration leaves out refuses to start; a log from before membership changes keeps
 * the config file's nodes; member contexts and spare nodes are checked.
 * Method: the pure functions of src/cli/membership-boot.ts on in-memory logs, the codec and
 * the config parser on objects, the peer authenticator on metadata.
 */
import { expect, it } from 'vitest';
import { type ClusterConfig, parseClusterConfig } from '../../../src/config/cluster-config.js';
import { index, nodeId, term } from '../../../src/lib/ids.js';
import { MemoryNodeStorage } from '../../../src/node/memory-storage.js';
import { decodeMemberContext, encodeMemberContext } from '../../../src/node/member-context.js';
import { decodeConfChange, encodeConfChange } from '../../../src/raft/index.js';
import { PeerAuthenticator, peerMetadata, removedRefusalIndex } from '../../../src/transport/peer-auth.js';
import {
  appliedConf,
  bootstrap,
  bootstrapEntries,
  checkMembership,
  legacyVoters,
  logIsEmpty,
} from '../../../src/cli/membership-boot.js';

const node = (id: string, base: number, spare = false): Record<string, unknown> => ({
  id,
  region: `r-${id}`,
  grpc: `127.0.0.1:${base}`,
  peer: `127.0.0.1:${base + 1}`,
  http: `127.0.0.1:${base + 2}`,
  ...(spare ? { spare: true } : {}),
});

function config(nodes: Record<string, unknown>[]): { config: ClusterConfig | null; problems: string[] } {
  const problems: string[] = [];
  const raw = { cluster: 'c', secret: 's'.repeat(32), apiKeys: { k: 'a'.repeat(32) }, nodes };
  return { config: parseClusterConfig(raw, problems, {}), problems };
}

const three = (): ClusterConfig => {
  const c = config([node('n3', 3000), node('n1', 1000), node('n2', 2000), node('n4', 4000, true)]).config;
  if (c === null) throw new Error('config');
  return c;
};

it('founders write the same config entries 1..n: one addVoter per node that is not spare, ids sorted', () => {
  const entries = bootstrapEntries(three());
  expect(entries.map((e) => [e.index, e.term, e.kind])).toEqual([
    [1, 1, 'config'],
    [2, 1, 'config'],
    [3, 1, 'config'],
  ]);
  const changes = entries.map((e) => decodeConfChange(e.data));
  expect(changes.map((c) => (c.ok ? `${c.value.op}:${c.value.id}` : c.error))).toEqual([
    'addVoter:n1',
    'addVoter:n2',
    'addVoter:n3',
  ]);
  const first = changes[0];
  const ctx = first?.ok === true ? decodeMemberContext(first.value.context) : null;
  expect(ctx?.ok === true ? ctx.value : null).toEqual({
    region: 'r-n1',
    grpc: '127.0.0.1:1000',
    peer: '127.0.0.1:1001',
    http: '127.0.0.1:1002',
    promote: false,
  });
  // Byte for byte the same on every founder (another order of the file's nodes changes nothing).
  const reordered = config([node('n2', 2000), node('n1', 1000), node('n3', 3000)]).config;
  expect(bootstrapEntries(reordered ?? three()).map((e) => Buffer.from(e.data).toString())).toEqual(
    entries.map((e) => Buffer.from(e.data).toString()),
  );
});

it('reads the configuration a log holds up to its commit index, and refuses a node it leaves out', async () => {
  const storage = new MemoryNodeStorage();
  expect(logIsEmpty(storage)).toBe(true);
  await bootstrap(storage, three());
  expect(logIsEmpty(storage)).toBe(false);
  expect(appliedConf(storage, []).voters).toEqual(['n1', 'n2', 'n3']);
  // A removal that is in the log but not known committed does not count yet.
  const remove = {
    index: index(4),
    term: term(2),
    kind: 'config' as const,
    data: encodeConfChange({ op: 'remove', id: nodeId('n1'), context: '' }),
  };
  await storage.persist([remove], { term: term(2), vote: null, commit: index(3) });
  expect(appliedConf(storage, []).voters).toEqual(['n1', 'n2', 'n3']);
  await storage.persist([], { term: term(2), vote: null, commit: index(4) });
  const conf = appliedConf(storage, []);
  expect(conf.voters).toEqual(['n2', 'n3']);
  expect(() => checkMembership(conf, nodeId('n1'), '/data/n1')).toThrow(/n1 is not a member .* it was removed/);
  expect(() => checkMembership(conf, nodeId('n2'), '/data/n2')).not.toThrow();
  // No configuration at all: a node waiting to be added.
  expect(() => checkMembership({ voters: [], learners: [], contexts: {} }, nodeId('n9'), '/d')).not.toThrow();
});

it('a log from before membership changes keeps the config file’s nodes as its configuration', async () => {
  const legacy = new MemoryNodeStorage();
  await legacy.persist([{ index: index(1), term: term(1), kind: 'noop', data: new Uint8Array() }], {
    term: term(1),
    vote: null,
    commit: index(1),
  });
  expect(legacyVoters(legacy, three())).toEqual(['n3', 'n1', 'n2']);
  const modern = new MemoryNodeStorage();
  await bootstrap(modern, three());
  expect(legacyVoters(modern, three())).toBeNull();
  expect(legacyVoters(new MemoryNodeStorage(), three())).toBeNull();
});

it('checks member contexts and spare entries', () => {
  const c = { region: 'r', grpc: 'h:1', peer: 'h:2', http: 'h:3', promote: true };
  expect(decodeMemberContext(encodeMemberContext(c))).toEqual({ ok: true, value: c });
  expect(decodeMemberContext('{"region":"r","grpc":"h:1","peer":"h","http":"h:3"}')).toMatchObject({ ok: false });
  expect(decodeMemberContext('{"region":"r","grpc":"h:1","peer":"h:2","http":"h:3","x":1}')).toMatchObject({
    ok: false,
    error: 'member context has an unknown key "x"',
  });
  expect(config([node('n1', 1000), { ...node('n2', 2000), spare: 'yes' }]).problems).toContain(
    'nodes[1].spare must be true or false',
  );
  expect(config([node('n1', 1000, true)]).problems).toContain(
    '"nodes" must hold at least one node that is not spare (the members of a new cluster)',
  );
});

it('refuses a removed member’s peer calls as removedMember, and counts them', () => {
  const secret = 'x'.repeat(32);
  const auth = new PeerAuthenticator('c', secret, [nodeId('n1'), nodeId('n2')]);
  const md = peerMetadata({ cluster: 'c', nodeId: nodeId('n2'), secret });
  expect(auth.check(md)).toEqual({ ok: true, value: 'n2' });
  auth.setMembers([nodeId('n1'), nodeId('n2')], new Map([[nodeId('n2'), 42]]));
  expect(auth.check(md)).toEqual({ ok: false, error: 'removedMember' });
  expect(auth.removedAt(nodeId('n2'))).toBe(42);
  expect(auth.removedAt(nodeId('n1'))).toBeNull();
  expect(removedRefusalIndex('peer call refused: removedMember at index 42')).toBe(42);
  expect(removedRefusalIndex('peer call refused: unknownNode')).toBeNull();
  expect(auth.refused.removedMember).toBe(1);
});
