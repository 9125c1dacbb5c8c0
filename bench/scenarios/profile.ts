// CPU profiles of the nodes under load (node --cpu-prof), summarized.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DriveResult, stats } from '../driver.js';
import type { ProcessCluster } from '../../test/harness/process-cluster.js';
import { summarizeProfile } from '../cpu-profile.js';
import {
  BENCH,
  type RegistryClients,
  resultsDir,
  environment,
  save,
  say,
  registrySystem,
  startCluster,
} from './common.js';

// ---------------------------------------------------------------- CPU profiles of the nodes

const PROFILE_OPS = ['write', 'read-linearizable', 'read-local'] as const;
type ProfileOp = (typeof PROFILE_OPS)[number];
const PROFILE_CLIENTS: readonly RegistryClients[] = ['spread', 'leader', 'session'];

/**
 * profile runs one op with `--cpu-prof` on every node and summarizes each node's profile, the
 * leader's first. `clients` is how the load reaches the cluster (common.ts RegistryClients):
 * spread unary calls make the followers forward writes; leader and session calls do not.
 */
export async function profile(args: {
  durationS: number;
  concurrency: number;
  op: ProfileOp;
  clients: RegistryClients;
}): Promise<void> {
  const env = environment();
  const profileDir = join(resultsDir, 'profiles');
  mkdirSync(profileDir, { recursive: true });
  const startedAtMs = Date.now();
  const cluster = await startCluster({ nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profileDir] });
  let leader: string;
  let r: DriveResult;
  let wal: WalWait[];
  const pids = new Map<string, number>();
  try {
    leader = await cluster.waitForLeader();
    for (const n of cluster.nodes) pids.set(n.id, n.process?.pid ?? 0);
    const system = registrySystem(cluster, args.clients);
    const prefix = `prof-${Date.now().toString(36)}`;
    if (args.op !== 'write') await system.preload(BENCH.readRooms, prefix);
    const walBefore = await walCounters(cluster);
    r =
      args.op === 'write'
        ? await system.write(args.concurrency, args.durationS * 1000, prefix)
        : await system.read(
            args.op === 'read-local' ? 'local' : 'linearizable',
            args.concurrency,
            args.durationS * 1000,
            prefix,
            BENCH.readRooms,
          );
    wal = walWait(walBefore, await walCounters(cluster), r.elapsedMs, leader);
    await system.close();
  } finally {
    await cluster.stopGracefully();
    await cluster.stop();
  }
  const s = stats(r);
  say(
    `profile: ${args.op} c=${args.concurrency} by ${args.clients} clients under --cpu-prof: ${s.opsPerSecond} ops/s p99 ${s.p99Ms} ms`,
  );
  for (const w of wal)
    say(
      `  ${w.node} (${w.role}): ${w.fsyncs} WAL fsyncs, ${w.entriesPerFsync} entries each, ${w.fsyncMeanMs} ms each as the node waits for it (until its callback runs), one in flight ${w.inFlightPct}% of the time`,
    );
  const summaries = summarizeNodes(profileDir, pids, leader);
  const name = ['profile', args.op === 'write' ? '' : args.op, args.clients === 'spread' ? '' : args.clients]
    .filter((part) => part !== '')
    .join('-');
  save(name, env, {
    op: args.op,
    clients: args.clients,
    leader,
    opsPerSecond: s.opsPerSecond,
    p99Ms: s.p99Ms,
    concurrency: args.concurrency,
    durationS: args.durationS,
    startedAt: new Date(startedAtMs).toISOString(),
    wal,
    nodes: summaries,
  });
}

/** WAL_SERIES: the counters walWait reads from each node's /metrics. */
const WAL_SERIES = {
  fsyncs: 'room_registry_wal_fsync_duration_seconds_count',
  fsyncSeconds: 'room_registry_wal_fsync_duration_seconds_sum',
  entries: 'room_registry_wal_entries_total',
} as const;

type WalCounters = Map<string, Record<keyof typeof WAL_SERIES, number>>;

interface WalWait {
  node: string;
  role: 'leader' | 'follower';
  fsyncs: number;
  entriesPerFsync: number;
  fsyncMeanMs: number;
  inFlightPct: number;
}

/** walCounters scrapes every node's WAL counters. */
async function walCounters(cluster: ProcessCluster): Promise<WalCounters> {
  const out: WalCounters = new Map();
  for (const n of cluster.nodes) {
    const m = await cluster.metrics(n.id);
    out.set(n.id, {
      fsyncs: m.get(WAL_SERIES.fsyncs) ?? 0,
      fsyncSeconds: m.get(WAL_SERIES.fsyncSeconds) ?? 0,
      entries: m.get(WAL_SERIES.entries) ?? 0,
    });
  }
  return out;
}

/**
 * walWait: how each node's log waited on the disk during the load: fsyncs, entries per fsync, and
 * how long each took as the node saw it. Turns wait for their fsync, so a node whose fsync is in
 * flight most of the time is bound by that wait, not by its CPU.
 */
function walWait(before: WalCounters, after: WalCounters, elapsedMs: number, leader: string): WalWait[] {
  return [...after].map(([node, a]) => {
    const b = before.get(node) ?? { fsyncs: 0, fsyncSeconds: 0, entries: 0 };
    const fsyncs = a.fsyncs - b.fsyncs;
    const seconds = a.fsyncSeconds - b.fsyncSeconds;
    return {
      node,
      role: node === leader ? 'leader' : 'follower',
      fsyncs,
      entriesPerFsync: +((a.entries - b.entries) / Math.max(1, fsyncs)).toFixed(1),
      fsyncMeanMs: +((seconds * 1000) / Math.max(1, fsyncs)).toFixed(2),
      inFlightPct: Math.round((100 * seconds * 1000) / elapsedMs),
    };
  });
}

/** summarizeNodes reads each node's .cpuprofile (found by pid) and prints its summary, the leader's first. */
function summarizeNodes(profileDir: string, pids: ReadonlyMap<string, number>, leader: string) {
  const files = readdirSync(profileDir);
  const nodes = [...pids.keys()].sort((a, b) => Number(b === leader) - Number(a === leader) || a.localeCompare(b));
  return nodes.map((id) => {
    const pid = pids.get(id) ?? 0;
    const file = files.find((f) => f.includes(`.${pid}.`) && f.endsWith('.cpuprofile'));
    if (file === undefined) throw new Error(`no profile of ${id} (pid ${pid}) in ${profileDir}`);
    const summary = summarizeProfile(JSON.parse(readFileSync(join(profileDir, file), 'utf8')), 25);
    say(`profile of ${id === leader ? 'the leader' : 'a follower'} ${id}: ${join(profileDir, file)}`);
    for (const line of summary.lines) say(`  ${line}`);
    return {
      node: id,
      role: id === leader ? 'leader' : 'follower',
      file: join('bench', 'results', 'profiles', file),
      ...summary,
    };
  });
}

export function profileClients(text: string | undefined): RegistryClients {
  const clients = PROFILE_CLIENTS.find((c) => c === text);
  if (clients === undefined)
    throw new Error(`--clients must be one of ${PROFILE_CLIENTS.join(', ')}; got ${text ?? 'nothing'}`);
  return clients;
}

export function profileOp(text: string | undefined): ProfileOp {
  const op = PROFILE_OPS.find((o) => o === text);
  if (op === undefined) throw new Error(`--op must be one of ${PROFILE_OPS.join(', ')}; got ${text ?? 'nothing'}`);
  return op;
}
