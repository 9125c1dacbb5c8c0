/**
 * Goal (issue 15 item 4): `serve --force-new-cluster` rewrites a survivor's log so that it is
 * the only voter: the entries up to its commit index stay byte for byte, the ones after it go,
 * committed config entries removing every other member follow at a term above every term the
 * log and hard state hold; the rewrite survives a reopen (it is in the WAL), a crash half-way
 * is repaired by running it again, and the core started on the result elects itself alone.
 * Refused: an empty log, a node the log's configuration leaves out.
 * Method: the pure plan on in-memory logs; the write on a real DiskLogStorage in a temp dir,
 * reopened; a RaftCore driven by ticks on the rewritten log.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import {
  forceNewClusterAtStart,
  planForceNewCluster,
  writeForceNewCluster,
} from '../../../src/cli/force-new-cluster.js';
import { appliedConf, bootstrap } from '../../../src/cli/membership-boot.js';
import { type ClusterConfig, parseClusterConfig } from '../../../src/config/cluster-config.js';
import { type NodeId, index, nodeId, term } from '../../../src/lib/ids.js';
import { type Logger, silentLogger } from '../../../src/lib/logger.js';
import { SeededRng } from '../../../src/lib/rng.js';
import { MemoryNodeStorage } from '../../../src/node/memory-storage.js';
import {
  type ConfState,
  type Entry,
  type NodeLogStorage,
  RAFT_DEFAULTS,
  RaftCore,
  decodeConfChange,
} from '../../../src/raft/index.js';
import { DiskLogStorage } from '../../../src/storage/disk-log-storage.js';

const [n1, n2, n3, n4] = ['n1', 'n2', 'n3', 'n4'].map(nodeId) as [NodeId, NodeId, NodeId, NodeId];

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'rr-force-new-'));
  dirs.push(d);
  return d;
}

function cluster(): ClusterConfig {
  const nodes = [1, 2, 3].map((k) => ({
    id: `n${k}`,
    region: 'r',
    grpc: `127.0.0.1:${k}000`,
    peer: `127.0.0.1:${k}001`,
    http: `127.0.0.1:${k}002`,
  }));
  const c = parseClusterConfig({ cluster: 'c', secret: 's'.repeat(32), apiKeys: { k: 'a'.repeat(32) }, nodes }, [], {});
  if (c === null) throw new Error('config');
  return c;
}

const command = (i: number, t: number): Entry => ({
  index: index(i),
  term: term(t),
  kind: 'command',
  data: new TextEncoder().encode(`cmd-${i}`),
});

/**
 * survivorLog: a founded 3-voter cluster (config entries 1..3, term 1), commands 4..6 of term 2
 * known committed, commands 7..8 of term 3 not known committed, hard state at term 3.
 */
async function survivorLog(storage: NodeLogStorage): Promise<void> {
  await bootstrap(storage, cluster());
  await storage.persist([command(4, 2), command(5, 2), command(6, 2)], { term: term(2), vote: n2, commit: index(6) });
  await storage.persist([command(7, 3), command(8, 3)], { term: term(3), vote: n3, commit: index(6) });
}

function changesOf(entries: readonly Entry[]): string[] {
  return entries.map((e) => {
    const cc = decodeConfChange(e.data);
    return cc.ok ? `${e.index}@${e.term} ${cc.value.op} ${cc.value.id}` : cc.error;
  });
}

/** plain: entries as index, term, kind and data bytes (a reopened WAL gives Buffers where the writer had Uint8Arrays). */
function plain(entries: readonly Entry[]): string[] {
  return entries.map((e) => `${e.index}@${e.term} ${e.kind} ${Buffer.from(e.data).toString('hex')}`);
}

function openDisk(dir: string): Promise<DiskLogStorage> {
  return DiskLogStorage.open({ dir, fsync: true, logger: silentLogger });
}

it('keeps the log through the commit index, drops the rest, and removes every other voter at a higher term', async () => {
  const storage = new MemoryNodeStorage();
  await survivorLog(storage);
  const plan = planForceNewCluster(storage, n1, appliedConf(storage, []));
  expect(plan.ok).toBe(true);
  const p = plan.ok ? plan.value : null;
  expect(p).toMatchObject({ keptIndex: 6, discardedEntries: 2, term: 4, removed: ['n2', 'n3'] });
  expect(changesOf(p?.entries ?? [])).toEqual(['7@4 remove n2', '8@4 remove n3']);
  expect(p?.hardState).toEqual({ term: 4, vote: null, commit: 8 });
});

it('writes the plan durably: a reopened data dir holds the kept prefix, the forced entries committed, and n1 alone', async () => {
  const dir = tempDir();
  const before = await openDisk(dir);
  await survivorLog(before);
  const kept = plain(before.entries(index(1), index(7), Number.MAX_SAFE_INTEGER));
  await forceNewClusterAtStart(before, [], n1, dir, silentLogger);
  await before.close();

  const after = await openDisk(dir);
  try {
    expect(after.lastIndex()).toBe(8);
    expect(after.initialHardState()).toEqual({ term: 4, vote: null, commit: 8 });
    expect(plain(after.entries(index(1), index(7), Number.MAX_SAFE_INTEGER))).toEqual(kept);
    expect(changesOf(after.entries(index(7), index(9), Number.MAX_SAFE_INTEGER))).toEqual([
      '7@4 remove n2',
      '8@4 remove n3',
    ]);
    expect(appliedConf(after, [])).toMatchObject({ voters: ['n1'], learners: [] });
    // Started with the flag again, the node is the only voter already: nothing is forced or dropped.
    expect(planForceNewCluster(after, n1, appliedConf(after, []))).toEqual({ ok: true, value: null });
  } finally {
    await after.close();
  }
});

it('a crash between the term and the entries, or within the entries, is repaired by running it again', async () => {
  const dir = tempDir();
  const first = await openDisk(dir);
  await survivorLog(first);
  const plan = planForceNewCluster(first, n1, appliedConf(first, []));
  if (!plan.ok || plan.value === null) throw new Error('no plan');
  // What a crash may leave: the new term, and the first forced entry without the commit record after it.
  await first.persist([], { term: plan.value.term, vote: null, commit: index(6) });
  await first.persist(plan.value.entries.slice(0, 1), { term: plan.value.term, vote: null, commit: index(6) });
  await first.close();

  const second = await openDisk(dir);
  try {
    expect(appliedConf(second, []).voters).toEqual(['n1', 'n2', 'n3']);
    await forceNewClusterAtStart(second, [], n1, dir, silentLogger);
    expect(changesOf(second.entries(index(7), index(9), Number.MAX_SAFE_INTEGER))).toEqual([
      '7@5 remove n2',
      '8@5 remove n3',
    ]);
    expect(second.initialHardState()).toEqual({ term: 5, vote: null, commit: 8 });
    expect(appliedConf(second, []).voters).toEqual(['n1']);
  } finally {
    await second.close();
  }
});

it('a learner survivor is promoted first; learners are removed too; a log resting on a snapshot keeps it', async () => {
  const storage = new MemoryNodeStorage();
  const conf: ConfState = { voters: [n1, n2], learners: [n3, n4], contexts: {} };
  await storage.applySnapshot({ index: index(40), term: term(6), ...conf });
  storage.setHardState({ term: term(7), vote: null, commit: index(40) });
  const plan = planForceNewCluster(storage, n3, appliedConf(storage, []));
  const p = plan.ok ? plan.value : null;
  expect(p).toMatchObject({ keptIndex: 40, discardedEntries: 0, term: 8, removed: ['n1', 'n2', 'n4'] });
  expect(changesOf(p?.entries ?? [])).toEqual([
    '41@8 promote n3',
    '42@8 remove n1',
    '43@8 remove n2',
    '44@8 remove n4',
  ]);
  if (p === null) throw new Error('no plan');
  await writeForceNewCluster(storage, p);
  expect(appliedConf(storage, [])).toMatchObject({ voters: ['n3'], learners: [] });
});

it('refuses an empty log and a node that its log’s configuration leaves out', async () => {
  const empty = new MemoryNodeStorage();
  expect(planForceNewCluster(empty, n1, appliedConf(empty, []))).toEqual({
    ok: false,
    error: 'the log is empty: there is no surviving data here to start from',
  });
  await expect(forceNewClusterAtStart(empty, [], n1, '/data/n1', silentLogger)).rejects.toThrow(
    /--force-new-cluster refused for data dir \/data\/n1: the log is empty/,
  );
  const storage = new MemoryNodeStorage();
  await survivorLog(storage);
  await expect(forceNewClusterAtStart(storage, [], n4, '/data/n4', silentLogger)).rejects.toThrow(
    /n4 is not a member of the configuration its log holds \(voters \[n1, n2, n3\], learners \[\]\)/,
  );
  expect(storage.lastIndex()).toBe(8); // nothing written
});

it('warns naming the index after which acknowledged writes may be lost', async () => {
  const storage = new MemoryNodeStorage();
  await survivorLog(storage);
  const lines: Array<{ level: string; event: string; fields: Record<string, unknown> }> = [];
  const logger: Logger = {
    log: (level, event, fields = {}) => lines.push({ level, event, fields }),
    info: (event, fields) => logger.log('info', event, fields),
    warn: (event, fields) => logger.log('warn', event, fields),
    error: (event, fields) => logger.log('error', event, fields),
  };
  await forceNewClusterAtStart(storage, [], n1, '/data/n1', logger);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ level: 'warn', event: 'force_new_cluster', fields: { keptIndex: 6 } });
  expect(String(lines[0]?.fields['detail'])).toContain('WRITES ACKNOWLEDGED AFTER INDEX 6 MAY BE LOST');
});

it('the core started on the rewritten log applies the removals, elects itself alone and commits alone', async () => {
  const storage = new MemoryNodeStorage();
  await survivorLog(storage);
  await forceNewClusterAtStart(storage, [], n1, '/data/n1', silentLogger);
  const core = new RaftCore({ ...RAFT_DEFAULTS, id: n1, voters: [], storage, random: new SeededRng(15) });
  const drain = async (): Promise<Entry[]> => {
    const applied: Entry[] = [];
    while (core.hasReady()) {
      const rd = core.ready();
      expect(rd.messages.filter((m) => m.to !== n1)).toEqual([]); // nobody else is asked for anything
      await storage.persist(rd.entries, rd.hardState);
      applied.push(...rd.committed);
      core.advance();
    }
    return applied;
  };
  const replayed = await drain();
  expect(replayed.map((e) => e.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  expect(core.confState().voters).toEqual(['n1']);
  for (let t = 0; t < 3 * RAFT_DEFAULTS.electionTimeoutTicks && core.status().role !== 'leader'; t++) {
    core.tick();
    await drain();
  }
  expect(core.status().role).toBe('leader');
  expect(core.status().term).toBeGreaterThan(4);
  const proposed = core.propose(new TextEncoder().encode('after'));
  expect(proposed.ok).toBe(true);
  const committed = await drain();
  expect(committed.map((e) => e.kind)).toContain('command');
});
