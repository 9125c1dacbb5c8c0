// Goal: every later build still reads, and applies, what version 1 of room-registry wrote
// (DESIGN §12, issue 15 item 5): a data dir's WAL (segments, hard state, identity), a snapshot
// file with its meta (learners and member contexts), and a backup file.
// Method: test/fixtures/compat/v1/ holds files written once by test/fixtures/compat/generate.ts
// through the production code paths. This test opens them with this build's readers and checks
// the rooms, the configuration and the counts against literal expectations, so it fails if a
// future change breaks any of these formats (a renumbered entry kind, a changed record framing,
// a snapshot or backup field read differently, a command that decodes to something else).
// Fixing such a failure means reading the old format too, never regenerating v1: the files are
// pinned by SHA256SUMS, and generate.ts refuses to overwrite a version that exists.
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyBackupFile } from '../../src/cli/backup.js';
import { claimDataDir } from '../../src/cli/data-dir.js';
import { Command } from '../../src/gen/roomregistry/command/v1/command.js';
import type { Room } from '../../src/gen/roomregistry/v1/rooms.js';
import { index, nodeId } from '../../src/lib/ids.js';
import { silentLogger } from '../../src/lib/logger.js';
import { SeededRng } from '../../src/lib/rng.js';
import { decodeCommandEntry } from '../../src/node/entry-codec.js';
import { decodeMemberContext } from '../../src/node/member-context.js';
import { RaftNode } from '../../src/node/node.js';
import { type ConfState, type Entry, applyConfChange, decodeConfChange } from '../../src/raft/index.js';
import { RoomRegistry } from '../../src/registry/index.js';
import { BackupReader } from '../../src/storage/backup-file.js';
import { DiskLogStorage } from '../../src/storage/disk-log-storage.js';
import { DiskSnapshotStore } from '../../src/storage/snapshot-store.js';
import { nodeStorageFs } from '../../src/storage/storage-fs.js';
import type { Transport } from '../../src/transport/transport.js';
import { cmd } from './registry/commands.js';

const V1 = join('test', 'fixtures', 'compat', 'v1');
const n1 = nodeId('n1');
const n2 = nodeId('n2');
const N2_CONTEXT = { region: 'sa-east', grpc: '127.0.0.1:9002', peer: '127.0.0.1:9102', http: '127.0.0.1:7802' };

/** EXPECTED_ROOMS: the fields of each room that do not depend on when the fixtures were made. */
const EXPECTED_ROOMS = [
  { name: 'alpha', sid: 'RM_alphaxxxxxxx', metadata: '{"topic":"daily"}', participants: 0, revision: 2 },
  { name: 'bravo', sid: 'RM_bravoxxxxxxx', metadata: '{"v":2}', participants: 0, revision: 6 },
  { name: 'charlie', sid: 'RM_charliexxxxx', metadata: 'c', participants: 3, revision: 7 },
  { name: 'echo', sid: 'RM_echoxxxxxxxx', metadata: 'é ☃ unicode', participants: 0, revision: 12 },
];
/** LAST_INDEX: a noop, 8 commands and 3 config entries, all committed in term 1. */
const LAST_INDEX = 12;
/** EXPECTED_CONF: n2 added as a learner, removed, and added again. */
const EXPECTED_CONF = { voters: [n1], learners: [n2] };

const temps: string[] = [];
afterEach(async () => {
  await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** copyOf copies a fixture dir to a temp dir: opening a data dir may tidy it, and the fixtures stay as written. */
async function copyOf(dir: string): Promise<string> {
  const tmp = await mkdtemp(join(tmpdir(), 'compat-'));
  temps.push(tmp);
  await cp(dir, tmp, { recursive: true });
  return tmp;
}

function roomsOf(r: RoomRegistry): Room[] {
  return r.listPage('', 100).rooms;
}

function stableFields(rooms: readonly Room[]): unknown[] {
  return rooms.map((r) => ({
    name: r.name,
    sid: r.sid,
    metadata: r.metadata,
    participants: r.numParticipants,
    revision: r.revision,
  }));
}

function checkRooms(r: RoomRegistry): void {
  expect(stableFields(roomsOf(r))).toEqual(EXPECTED_ROOMS);
  const bravo = r.getRoom('bravo');
  expect([bravo?.emptyTimeout, bravo?.departureTimeout]).toEqual([600, 20]);
  expect(r.getRoom('charlie')?.nodeId).toBe('media-1');
  expect(r.getRoom('delta')).toBeNull();
}

/** replay applies a log's entries as the node does: commands to the registry, config entries to the configuration. */
function replay(entries: readonly Entry[], registry: RoomRegistry): { conf: ConfState; kinds: Record<string, number> } {
  let conf: ConfState = { voters: [n1], learners: [], contexts: {} };
  const kinds: Record<string, number> = { command: 0, noop: 0, config: 0 };
  for (const e of entries) {
    kinds[e.kind] = (kinds[e.kind] ?? 0) + 1;
    if (e.kind === 'command') {
      const decoded = decodeCommandEntry(e.data);
      if (!decoded.ok) throw new Error(`entry ${e.index}: ${decoded.error}`);
      registry.apply(e.index, decoded.value.payload, decoded.value.entryTimeMs, decoded.value.quotaBytes);
    } else if (e.kind === 'config') {
      const cc = decodeConfChange(e.data);
      if (!cc.ok) throw new Error(`entry ${e.index}: ${cc.error}`);
      const next = applyConfChange(conf, cc.value);
      if (!next.ok) throw new Error(`entry ${e.index}: ${next.error}`);
      conf = next.value;
    }
  }
  return { conf, kinds };
}

function contextOf(conf: ConfState, id: string): unknown {
  const text = conf.contexts[id];
  if (text === undefined) return undefined;
  const decoded = decodeMemberContext(text);
  if (!decoded.ok) throw new Error(decoded.error);
  const { region, grpc, peer, http } = decoded.value;
  return { region, grpc, peer, http };
}

function digestOf(r: RoomRegistry): string {
  return JSON.stringify({ applied: r.appliedIndex(), rooms: roomsOf(r), totals: r.totalsSoFar() });
}

async function replayedWal(): Promise<{ registry: RoomRegistry; conf: ConfState; kinds: Record<string, number> }> {
  const dir = await copyOf(join(V1, 'wal'));
  const storage = await DiskLogStorage.open({ dir, fsync: false, logger: silentLogger });
  try {
    const registry = new RoomRegistry();
    const entries = storage.entries(storage.firstIndex(), index(storage.lastIndex() + 1), Infinity);
    return { registry, ...replay(entries, registry) };
  } finally {
    await storage.close();
  }
}

describe('compatibility fixtures v1', () => {
  it('are the files v1 wrote: every file is listed in SHA256SUMS with its digest', checkManifest);

  it('WAL: the data dir opens, its identity is accepted, and its entries decode and apply', async () => {
    const dir = await copyOf(join(V1, 'wal'));
    await claimDataDir(nodeStorageFs, dir, 'compat', 'n1', false, 'existing');
    const storage = await DiskLogStorage.open({ dir, fsync: false, logger: silentLogger });
    const hs = storage.initialHardState();
    expect([hs.term, hs.vote, hs.commit]).toEqual([1, n1, LAST_INDEX]);
    expect([storage.snapshotMeta().index, storage.firstIndex(), storage.lastIndex()]).toEqual([0, 1, LAST_INDEX]);
    await storage.close();
    const { registry, conf, kinds } = await replayedWal();
    expect(kinds).toEqual({ command: 8, noop: 1, config: 3 });
    expect({ voters: conf.voters, learners: conf.learners }).toEqual(EXPECTED_CONF);
    expect(contextOf(conf, 'n2')).toEqual(N2_CONTEXT);
    checkRooms(registry);
    expect(registry.appliedIndex()).toBe(LAST_INDEX);
  });

  it('WAL: a node of this build starts on the data dir, applies the log and takes writes', startOnWal);

  it('snapshot: the store lists its meta (learners, contexts) and it restores the rooms', async () => {
    const store = new DiskSnapshotStore(await copyOf(join(V1, 'snapshot')), false);
    const metas = await store.list();
    expect(metas.map((m) => [m.index, m.term])).toEqual([[LAST_INDEX, 1]]);
    const meta = metas[0];
    if (meta === undefined) throw new Error('no snapshot');
    expect({ voters: meta.voters, learners: meta.learners }).toEqual(EXPECTED_CONF);
    expect(contextOf(meta, 'n2')).toEqual(N2_CONTEXT);
    const registry = new RoomRegistry();
    await registry.restore(store.open(meta));
    checkRooms(registry);
    expect(registry.appliedIndex()).toBe(LAST_INDEX);
    // The three files hold one history: the snapshot's state is the WAL's, creation times included.
    expect(digestOf(registry)).toBe(digestOf((await replayedWal()).registry));
  });

  it('backup: it verifies, its header reads, and it restores the rooms', async () => {
    const path = join(V1, 'backup.rrb');
    const check = await verifyBackupFile(path);
    expect(check.header).toMatchObject({ formatVersion: 1, cluster: 'compat', index: LAST_INDEX, term: 1 });
    expect(check.header.members).toEqual(EXPECTED_CONF);
    expect(Number.isNaN(Date.parse(check.header.createdAt))).toBe(false);
    expect([check.rooms, check.dedupRecords]).toEqual([EXPECTED_ROOMS.length, 3]);
    const reader = await BackupReader.open(path);
    const registry = new RoomRegistry();
    try {
      await registry.restore(reader.chunks());
    } finally {
      await reader.close();
    }
    checkRooms(registry);
    expect(digestOf(registry)).toBe(digestOf((await replayedWal()).registry));
  });
});

async function checkManifest(): Promise<void> {
  const sums = (await readFile(join(V1, 'SHA256SUMS'), 'utf8')).trim().split('\n');
  const listed = sums.map((line) => line.split('  ')[1]);
  const present = (await readdir(V1, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile() && e.name !== 'SHA256SUMS')
    .map((e) => join(e.parentPath, e.name).slice(V1.length + 1))
    .sort();
  expect(listed).toEqual(present);
  for (const line of sums) {
    const [digest, file] = line.split('  ');
    const actual = createHash('sha256')
      .update(await readFile(join(V1, file ?? '')))
      .digest('hex');
    expect(actual, file).toBe(digest);
  }
}

/** startOnWal runs a RaftNode of this build on a copy of the v1 data dir: it re-elects itself, applies all, takes a write. */
async function startOnWal(): Promise<void> {
  const dir = await copyOf(join(V1, 'wal'));
  const storage = await DiskLogStorage.open({ dir, fsync: false, logger: silentLogger });
  const registry = new RoomRegistry();
  const node = new RaftNode({
    id: n1,
    voters: [n1],
    storage,
    snapshots: storage.snapshots,
    stateMachine: registry,
    transport: nullTransport,
    logger: silentLogger,
    random: new SeededRng(7),
    tickIntervalMs: 5,
  });
  node.start();
  try {
    await until(() => node.status().role === 'leader' && registry.appliedIndex() >= LAST_INDEX);
    checkRooms(registry);
    expect(node.status().learners).toEqual([n2]);
    expect(node.status().term).toBeGreaterThan(1);
    await node.propose(Command.encode(cmd.create('foxtrot')).finish(), Date.now() + 5_000);
    expect(registry.getRoom('foxtrot')?.revision).toBeGreaterThan(LAST_INDEX);
  } finally {
    await node.stop();
    await storage.close();
  }
}

const nullTransport: Transport = {
  send: () => undefined,
  sendSnapshot: () => Promise.resolve(false),
  forward: () => Promise.resolve([]),
  connectedPeers: () => [],
  close: () => undefined,
};

async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const endMs = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > endMs) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}
