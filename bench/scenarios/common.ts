// Shared by the scenarios: their bounds (BENCH), the environment record, results files, clients and the systems under test.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { signToken } from '../../src/api/auth.js';
import { ClusterRoomClient } from '../../src/client/cluster-client.js';
import { RoomClient } from '../../src/client/room-client.js';
import { Consistency, Room } from '../../src/gen/roomregistry/v1/rooms.js';
import { type LaunchOptions, ProcessCluster, repoRoot } from '../../test/harness/process-cluster.js';
import { drive, type DriveResult } from '../driver.js';
import type { EtcdCluster } from '../etcd-cluster.js';
import { mib } from './stall-and-load.js';

/** Bounds and shapes of the scenarios (STYLE rule 7: each named, with why). */
export const BENCH = Object.freeze({
  /** clusterNodes: every scenario runs 3 nodes, the smallest cluster that survives a failure. */
  clusterNodes: 3,
  /** statusTimeoutMs: one /status request; a node busy for longer under load counts as not answering. */
  statusTimeoutMs: 2_000,
  /** leaderWaitMs: how long a scenario waits for a leader (after a restart of 1 M rooms, too). */
  leaderWaitMs: 30_000,
  /** channelsPerTarget: gRPC connections per node, so one HTTP/2 connection is not the bottleneck. */
  channelsPerTarget: 4,
  /** metadataBytes: the room record of issue 7 (100-byte metadata). */
  metadataBytes: 100,
  /** longTimeoutS: empty_timeout of rooms that must not expire during a run (the API's maximum). */
  longTimeoutS: 86_400,
  /** writeConcurrencies: issue 7's write-throughput levels. */
  writeConcurrencies: [1, 16, 64, 256] as const,
  /** leaderAimedConcurrency: the one level also measured with a leader-aware client (ClusterRoomClient). */
  leaderAimedConcurrency: 64,
  /** readConcurrency: in-flight reads for the read-throughput figures. */
  readConcurrency: 64,
  /** readRooms: rooms preloaded for reads to hit (random picks). */
  readRooms: 10_000,
  /** bulkConcurrency / bulkChannels: the bulk loader of the 1 M scenarios, aimed at the leader. */
  bulkConcurrency: 512,
  bulkChannels: 8,
  /** bulkLoadMsMax: give up a bulk load after this (a stalled cluster must not hang the run). */
  bulkLoadMsMax: 15 * 60_000,
  /** callDeadlineMs: per-call deadline (the API's default). */
  callDeadlineMs: 5_000,
  /** failoverConcurrency: the steady write load while the leader is killed. */
  failoverConcurrency: 32,
  /** failoverBeforeMs / failoverAfterMs: load before the kill (baseline) and after it. */
  failoverBeforeMs: 4_000,
  failoverAfterMs: 6_000,
  /** failoverBackoffMs: a client whose node failed waits this long, then tries the next node. */
  failoverBackoffMs: 20,
  /** recoveryWindowMs: throughput is "back" when a window this long reaches 90% of the baseline. */
  recoveryWindowMs: 500,
  /** probeIntervalMs: the event-loop stall probe, one LOCAL GetRoom per node this often. */
  probeIntervalMs: 10,
  /** snapshotTailEntries: entries written after the 1 M load to trigger the measured snapshot. */
  snapshotTailEntries: 40_000,
  /** snapshotWaitMsMax: the longest wait for every node's snapshot to finish. */
  snapshotWaitMsMax: 180_000,
  /** restartWaitMsMax: a restarting node must serve within this (the target is 10 s). */
  restartWaitMsMax: 120_000,
  /** sweepSteadyRatePerSecond: the steady CreateRoom load during the sweep scenario. */
  sweepSteadyRatePerSecond: 200,
  /** sweepBaselineMs: steady load measured before the backlog falls due. */
  sweepBaselineMs: 15_000,
  /** sweepDrainMsMax: the longest the sweep scenario waits for the backlog to drain. */
  sweepDrainMsMax: 300_000,
  /** bulkRatePerSecondGuess: the load-rate estimate used to set the backlog's due time. */
  bulkRatePerSecondGuess: 2_500,
});

export const resultsDir = join(repoRoot, 'bench', 'results');

interface Environment {
  date: string;
  gitRev: string;
  gitDirty: boolean;
  node: string;
  cores: number;
  memTotalGiB: number;
  memFreeGiB: number;
  loadAvgStart: number[];
  loadAvgEnd?: number[];
  busyProcesses: string[];
}

export function environment(): Environment {
  const git = (args: string[]): string => {
    try {
      return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  };
  return {
    date: new Date().toISOString(),
    gitRev: git(['rev-parse', '--short', 'HEAD']),
    gitDirty: git(['status', '--porcelain', '--untracked-files=no']).length > 0,
    node: process.version,
    cores: cpus().length,
    memTotalGiB: +(totalmem() / 2 ** 30).toFixed(1),
    memFreeGiB: +(freemem() / 2 ** 30).toFixed(1),
    loadAvgStart: loadavg().map((x) => +x.toFixed(2)),
    busyProcesses: busyProcesses(),
  };
}

/** busyProcesses: other processes using CPU when a scenario starts (to note contention). */
function busyProcesses(): string[] {
  try {
    const out = execFileSync('ps', ['-eo', 'pcpu,args', '--sort=-pcpu', '--no-headers'], { encoding: 'utf8' });
    return out
      .split('\n')
      .filter(
        (l) => Number(l.trim().split(/\s+/)[0]) >= 5 && !l.includes('ps -eo') && !l.includes('bench/scenarios.js'),
      )
      .slice(0, 5)
      .map((l) => l.trim().slice(0, 140));
  } catch {
    return [];
  }
}

export function save(name: string, env: Environment, body: object): void {
  mkdirSync(resultsDir, { recursive: true });
  env.loadAvgEnd = loadavg().map((x) => +x.toFixed(2));
  const file = join(resultsDir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify({ scenario: name, env, ...body }, null, 2)}\n`);
  say(`wrote ${file}`);
}

export function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** clockTicksPerSecond: the unit of utime/stime in /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const clockTicksPerSecond = 100;

/** cpuSeconds: user+system CPU time a process has used so far (0 when it is gone). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------- clients and records

/** benchToken: one token with the grants the scenarios use, signed once (the server still verifies it on every call). */
export function benchToken(c: ProcessCluster): string {
  return signToken(
    c.apiKey,
    c.apiSecret,
    { roomCreate: true, roomList: true },
    24 * 3600,
    Math.floor(Date.now() / 1000),
  );
}

/** clientsFor: `channels` clients per target, each on its own connection. */
export function clientsFor(c: ProcessCluster, targets: readonly string[], channels: number): RoomClient[] {
  const token = benchToken(c);
  return targets.flatMap((t) =>
    Array.from({ length: channels }, () => new RoomClient(t, { token }, { 'grpc.use_local_subchannel_pool': 1 })),
  );
}

export function closeAll(clients: readonly Pick<RoomClient, 'close'>[]): void {
  for (const c of clients) c.close();
}

export const metadata = 'm'.repeat(BENCH.metadataBytes);

/** roomRecord: what etcd stores for a room: the same protobuf Room our nodes keep. */
function roomRecord(name: string): Uint8Array {
  const nowMs = Date.now();
  return Room.encode(
    Room.fromPartial({
      sid: `RM_${name.slice(-12)}`,
      name,
      emptyTimeout: BENCH.longTimeoutS,
      departureTimeout: 20,
      creationTime: Math.floor(nowMs / 1000),
      creationTimeMs: nowMs,
      metadata,
    }),
  ).finish();
}

export interface SystemUnderTest {
  readonly name:
    | 'room-registry'
    | 'room-registry@leader'
    | 'room-registry@session'
    | 'room-registry@cache'
    | 'room-registry@twirp'
    | 'etcd';
  /** pids: the server processes, for their CPU time. */
  pids(): number[];
  write(concurrency: number, durationMs: number, prefix: string): Promise<DriveResult>;
  /** preload writes `count` rooms named `${prefix}-${i}` for reads. */
  preload(count: number, prefix: string): Promise<void>;
  read(
    mode: 'linearizable' | 'local',
    concurrency: number,
    durationMs: number,
    prefix: string,
    count: number,
  ): Promise<DriveResult>;
  close(): Promise<void>;
}

/** BenchCalls: what a scenario calls, on a one-node RoomClient or a ClusterRoomClient. */
type BenchCalls = Pick<RoomClient, 'createRoom' | 'getRoom' | 'close'> & Partial<Pick<ClusterRoomClient, 'cache'>>;

/**
 * RegistryClients: how a scenario reaches the cluster. `spread`: one-node clients over every
 * node (followers forward writes to the leader). `leader`: a ClusterRoomClient per worker group,
 * writes to the leader, reads at its home node, one unary call each. `session`: the same over
 * Session streams (issue 18). The same number of connections every way. `cache`: one
 * ClusterRoomClient over sessions with its watch-fed room cache, as one media node would hold
 * (reads come from memory; a linearizable one asks ReadRevision first); a read waits until the
 * cache has listed the rooms.
 */
export type RegistryClients = 'spread' | 'leader' | 'session' | 'cache';

const SYSTEM_NAMES: Record<RegistryClients, SystemUnderTest['name']> = {
  spread: 'room-registry',
  leader: 'room-registry@leader',
  session: 'room-registry@session',
  cache: 'room-registry@cache',
};

export function registrySystem(c: ProcessCluster, clientsKind: RegistryClients = 'spread'): SystemUnderTest {
  const clients: BenchCalls[] =
    clientsKind === 'spread'
      ? clientsFor(c, c.grpcTargets(), BENCH.channelsPerTarget)
      : Array.from(
          { length: clientsKind === 'cache' ? 1 : BENCH.channelsPerTarget * c.nodes.length },
          (_, i) =>
            new ClusterRoomClient(
              c.nodes,
              { token: benchToken(c) },
              {
                home: c.nodes[i % c.nodes.length]?.id ?? '',
                channelOptions: { 'grpc.use_local_subchannel_pool': 1 },
                session: clientsKind !== 'leader',
                cache: clientsKind === 'cache',
              },
            ),
        );
  const pick = (worker: number): BenchCalls => clients[worker % clients.length] as BenchCalls;
  return {
    name: SYSTEM_NAMES[clientsKind],
    pids: () => c.nodes.map((n) => n.process?.pid ?? 0),
    write: (concurrency, durationMs, prefix) =>
      drive({
        concurrencyMax: concurrency,
        durationMs,
        op: async (worker, seq) => {
          await pick(worker).createRoom(
            { name: `${prefix}-${seq}`, metadata, emptyTimeout: BENCH.longTimeoutS },
            BENCH.callDeadlineMs,
          );
        },
      }),
    preload: async (count, prefix) => {
      const r = await drive({
        concurrencyMax: 256,
        durationMs: BENCH.bulkLoadMsMax,
        operationsMax: count,
        op: async (worker, seq) => {
          await pick(worker).createRoom(
            { name: `${prefix}-${seq}`, metadata, emptyTimeout: BENCH.longTimeoutS },
            BENCH.callDeadlineMs,
          );
        },
      });
      if (r.errors > 0) throw new Error(`preload failed ${r.errors} times: ${JSON.stringify(r.errorsByCode)}`);
    },
    read: async (mode, concurrency, durationMs, prefix, count) => {
      const consistency = mode === 'local' ? Consistency.CONSISTENCY_LOCAL : Consistency.CONSISTENCY_LINEARIZABLE;
      for (const client of clients) await client.cache?.()?.ready();
      return drive({
        concurrencyMax: concurrency,
        durationMs,
        op: async (worker) => {
          const res = await pick(worker).getRoom(
            { name: `${prefix}-${Math.floor(Math.random() * count)}`, consistency },
            BENCH.callDeadlineMs,
          );
          if (res.room === undefined) throw new Error('read found no room');
        },
      });
    },
    close: async () => closeAll(clients),
  };
}

/**
 * twirpWrites: CreateRoom as LiveKit's server SDKs send it (Twirp, JSON over HTTP/1.1 with
 * keep-alive), spread over every node's HTTP listener, to measure the servers' CPU per call on
 * that path beside the gRPC one (issue 18). Writes only: the scenario reads over gRPC.
 */
export function twirpWrites(c: ProcessCluster): Pick<SystemUnderTest, 'name' | 'pids' | 'write' | 'close'> {
  const token = benchToken(c);
  // As many connections per node as the gRPC systems have channels, times a handful: HTTP/1.1 has one call per connection.
  const agents = c.nodes.map(() => new Agent({ keepAlive: true, maxSockets: BENCH.channelsPerTarget * 16 }));
  const post = (worker: number, body: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const node = c.nodes[worker % c.nodes.length];
      const [host, port] = (node?.http ?? '').split(':');
      const req = request(
        {
          host,
          port: Number(port),
          method: 'POST',
          path: '/twirp/livekit.RoomService/CreateRoom',
          agent: agents[worker % agents.length],
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          timeout: BENCH.callDeadlineMs,
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode === 200 ? resolve() : reject(new Error(`twirp CreateRoom: HTTP ${res.statusCode}`)),
          );
        },
      );
      req.on('timeout', () => req.destroy(new Error('twirp CreateRoom: timed out')));
      req.on('error', reject);
      req.end(body);
    });
  return {
    name: 'room-registry@twirp',
    pids: () => c.nodes.map((n) => n.process?.pid ?? 0),
    write: (concurrency, durationMs, prefix) =>
      drive({
        concurrencyMax: concurrency,
        durationMs,
        op: (worker, seq) =>
          post(worker, JSON.stringify({ name: `${prefix}-${seq}`, metadata, empty_timeout: BENCH.longTimeoutS })),
      }),
    close: async () => {
      for (const a of agents) a.destroy();
    },
  };
}

export function etcdSystem(e: EtcdCluster): SystemUnderTest {
  // As many connections as ours: channelsPerTarget clients, each with a connection to every member.
  const clients = Array.from({ length: BENCH.channelsPerTarget }, () => e.client());
  const pick = (worker: number): (typeof clients)[number] =>
    clients[worker % clients.length] as (typeof clients)[number];
  const put = async (worker: number, key: string): Promise<void> => {
    await pick(worker)
      .put(key)
      .value(Buffer.from(roomRecord(key)));
  };
  return {
    name: 'etcd',
    pids: () => e.members.map((m) => m.process?.pid ?? 0),
    write: (concurrency, durationMs, prefix) =>
      drive({ concurrencyMax: concurrency, durationMs, op: (worker, seq) => put(worker, `rooms/${prefix}-${seq}`) }),
    preload: async (count, prefix) => {
      const r = await drive({
        concurrencyMax: 256,
        durationMs: BENCH.bulkLoadMsMax,
        operationsMax: count,
        op: (worker, seq) => put(worker, `rooms/${prefix}-${seq}`),
      });
      if (r.errors > 0) throw new Error(`etcd preload failed ${r.errors} times: ${JSON.stringify(r.errorsByCode)}`);
    },
    read: (mode, concurrency, durationMs, prefix, count) =>
      drive({
        concurrencyMax: concurrency,
        durationMs,
        op: async (worker) => {
          const value = await pick(worker)
            .get(`rooms/${prefix}-${Math.floor(Math.random() * count)}`)
            .serializable(mode === 'local')
            .buffer();
          if (value === null) throw new Error('read found no key');
        },
      }),
    close: async () => {
      for (const c of clients) c.close();
    },
  };
}

/**
 * heapOf reads each node's V8 heap (used / total MiB), memory outside it (external MiB), and the
 * room table's share of that: its records, the slabs holding them, and what the quota counts.
 */
export async function heapOf(cluster: ProcessCluster): Promise<Record<string, Record<HeapFigure, number>>> {
  const out: Record<string, Record<HeapFigure, number>> = {};
  for (const n of cluster.nodes) {
    const m = await cluster.metrics(n.id);
    const figure = (name: string): number => mib(m.get(name) ?? 0);
    out[n.id] = {
      usedMiB: figure('nodejs_heap_size_used_bytes'),
      totalMiB: figure('nodejs_heap_size_total_bytes'),
      externalMiB: figure('nodejs_external_memory_bytes'),
      recordsMiB: figure('room_registry_state_bytes'),
      slabsMiB: figure('room_registry_state_slab_bytes'),
      quotaUsedMiB: figure('room_registry_quota_used_bytes'),
    };
  }
  return out;
}

type HeapFigure = 'usedMiB' | 'totalMiB' | 'externalMiB' | 'recordsMiB' | 'slabsMiB' | 'quotaUsedMiB';

/**
 * startCluster launches a scenario's 3 nodes through the one launcher (test/harness/process-cluster.ts) with
 * what a benchmark needs: BENCH_NODE_ARGS and `nodeArgs` for node itself, a private copy of dist/ (others rebuild
 * dist/ during a run; a restarted node must run the code that wrote its data; BENCH_SERVER_DIST=DIR copies another
 * build's dist/ instead, for an A/B with one load generator), --fsync always stated (the
 * figures must not change with a default), and waits long enough for nodes busy under load.
 */
export function startCluster(
  opts: {
    serveArgs?: readonly string[];
    nodeArgs?: readonly string[];
    /** launch: spare nodes (started later with --join) and the admin key the membership calls need. */
    launch?: Pick<LaunchOptions, 'spares' | 'adminKey'>;
  } = {},
): Promise<ProcessCluster> {
  return ProcessCluster.launch(BENCH.clusterNodes, ['--fsync', 'always', ...(opts.serveArgs ?? [])], {
    ...opts.launch,
    nodeArgs: [...benchNodeArgs(), ...(opts.nodeArgs ?? [])],
    distCopyDir: join(repoRoot, 'bench', '.run', String(process.pid)),
    ...(process.env['BENCH_SERVER_DIST'] === undefined ? {} : { distSource: process.env['BENCH_SERVER_DIST'] }),
    statusTimeoutMs: BENCH.statusTimeoutMs,
    leaderWaitMs: BENCH.leaderWaitMs,
  });
}

/** benchNodeArgs: BENCH_NODE_ARGS (e.g. "--trace-gc"), flags for node itself on every node of a scenario. */
export function benchNodeArgs(): string[] {
  return (process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
}
