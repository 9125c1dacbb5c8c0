/**
 * The benchmark scenarios of issue 7, one subcommand each (the Makefile's bench-* targets):
 *
 *   node dist/bench/scenarios.js throughput [--etcd auto|off|require] [--reps 3] [--duration-s 5]
 *   node dist/bench/scenarios.js failover   [--reps 5]
 *   node dist/bench/scenarios.js million    [--rooms 1000000]
 *   node dist/bench/scenarios.js sweep      [--rooms 1000000]
 *   node dist/bench/scenarios.js profile    [--duration-s 15]
 *
 * Every scenario runs 3 nodes on 127.0.0.1 (free ports, temp dirs, --fsync always), prints one
 * line per figure and writes bench/results/<scenario>.json with the environment (date, git rev,
 * cores, memory, load average before and after: other work on the machine skews the figures).
 * Every process it starts is killed at the end, also on failure, and every loop is bounded.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { signToken } from '../src/api/auth.js';
import { ClusterRoomClient } from '../src/client/cluster-client.js';
import { RoomClient } from '../src/client/room-client.js';
import { Consistency, Room } from '../src/gen/roomregistry/v1/rooms.js';
import { repoRoot } from '../test/harness/process-cluster.js';
import { BenchCluster, killAllLive, sleep } from './bench-cluster.js';
import { drive, type DriveResult, longestGapMs, median, perBucket, stats } from './driver.js';
import { ETCD_INSTALL_HINT, EtcdCluster, etcdBinary, etcdVersion } from './etcd-cluster.js';
import { summarizeProfile } from './cpu-profile.js';

/** Bounds and shapes of the scenarios (STYLE rule 7: each named, with why). */
const BENCH = Object.freeze({
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

const resultsDir = join(repoRoot, 'bench', 'results');

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

function environment(): Environment {
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
      .filter((l) => Number(l.trim().split(/\s+/)[0]) >= 5 && !l.includes('ps -eo') && !l.includes('bench/scenarios.js'))
      .slice(0, 5)
      .map((l) => l.trim().slice(0, 140));
  } catch {
    return [];
  }
}

function save(name: string, env: Environment, body: object): void {
  mkdirSync(resultsDir, { recursive: true });
  env.loadAvgEnd = loadavg().map((x) => +x.toFixed(2));
  const file = join(resultsDir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify({ scenario: name, env, ...body }, null, 2)}\n`);
  say(`wrote ${file}`);
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

// ---------------------------------------------------------------- clients and records

/** benchToken: one token with the grants the scenarios use, signed once (the server still verifies it on every call). */
function benchToken(c: BenchCluster): string {
  return signToken(c.apiKey, c.apiSecret, { roomCreate: true, roomList: true }, 24 * 3600, Math.floor(Date.now() / 1000));
}

/** clientsFor: `channels` clients per target, each on its own connection. */
function clientsFor(c: BenchCluster, targets: readonly string[], channels: number): RoomClient[] {
  const token = benchToken(c);
  return targets.flatMap((t) => Array.from({ length: channels }, () => new RoomClient(t, { token }, { 'grpc.use_local_subchannel_pool': 1 })));
}

function closeAll(clients: readonly Pick<RoomClient, 'close'>[]): void {
  for (const c of clients) c.close();
}

const metadata = 'm'.repeat(BENCH.metadataBytes);

/** roomRecord: what etcd stores for a room: the same protobuf Room our nodes keep. */
function roomRecord(name: string): Uint8Array {
  const nowMs = Date.now();
  return Room.encode(
    Room.fromPartial({ sid: `RM_${name.slice(-12)}`, name, emptyTimeout: BENCH.longTimeoutS, departureTimeout: 20, creationTime: Math.floor(nowMs / 1000), creationTimeMs: nowMs, metadata }),
  ).finish();
}

interface SystemUnderTest {
  readonly name: 'room-registry' | 'room-registry@leader' | 'etcd';
  /** pids: the server processes, for their CPU time. */
  pids(): number[];
  write(concurrency: number, durationMs: number, prefix: string): Promise<DriveResult>;
  /** preload writes `count` rooms named `${prefix}-${i}` for reads. */
  preload(count: number, prefix: string): Promise<void>;
  read(mode: 'linearizable' | 'local', concurrency: number, durationMs: number, prefix: string, count: number): Promise<DriveResult>;
  close(): Promise<void>;
}

/** RoomCalls: what a scenario calls, on a one-node RoomClient or a ClusterRoomClient. */
type RoomCalls = Pick<RoomClient, 'createRoom' | 'getRoom' | 'close'>;

/**
 * registrySystem spreads calls over every node (followers forward writes to the leader), or,
 * with `leaderAware`, gives each worker a ClusterRoomClient, which sends writes to the leader:
 * the same number of connections either way.
 */
function registrySystem(c: BenchCluster, leaderAware = false): SystemUnderTest {
  const clients: RoomCalls[] = leaderAware
    ? Array.from({ length: BENCH.channelsPerTarget * c.nodes.length }, (_, i) => new ClusterRoomClient(c.nodes, { token: benchToken(c) }, { home: c.nodes[i % c.nodes.length]?.id ?? '', channelOptions: { 'grpc.use_local_subchannel_pool': 1 } }))
    : clientsFor(c, c.grpcTargets(), BENCH.channelsPerTarget);
  const pick = (worker: number): RoomCalls => clients[worker % clients.length] as RoomCalls;
  return {
    name: leaderAware ? 'room-registry@leader' : 'room-registry',
    pids: () => c.nodes.map((n) => n.process?.pid ?? 0),
    write: (concurrency, durationMs, prefix) =>
      drive({
        concurrencyMax: concurrency,
        durationMs,
        op: async (worker, seq) => {
          await pick(worker).createRoom({ name: `${prefix}-${seq}`, metadata, emptyTimeout: BENCH.longTimeoutS }, BENCH.callDeadlineMs);
        },
      }),
    preload: async (count, prefix) => {
      const r = await drive({
        concurrencyMax: 256,
        durationMs: BENCH.bulkLoadMsMax,
        operationsMax: count,
        op: async (worker, seq) => {
          await pick(worker).createRoom({ name: `${prefix}-${seq}`, metadata, emptyTimeout: BENCH.longTimeoutS }, BENCH.callDeadlineMs);
        },
      });
      if (r.errors > 0) throw new Error(`preload failed ${r.errors} times: ${JSON.stringify(r.errorsByCode)}`);
    },
    read: (mode, concurrency, durationMs, prefix, count) => {
      const consistency = mode === 'local' ? Consistency.CONSISTENCY_LOCAL : Consistency.CONSISTENCY_LINEARIZABLE;
      return drive({
        concurrencyMax: concurrency,
        durationMs,
        op: async (worker) => {
          const res = await pick(worker).getRoom({ name: `${prefix}-${Math.floor(Math.random() * count)}`, consistency }, BENCH.callDeadlineMs);
          if (res.room === undefined) throw new Error('read found no room');
        },
      });
    },
    close: async () => closeAll(clients),
  };
}

function etcdSystem(e: EtcdCluster): SystemUnderTest {
  // As many connections as ours: channelsPerTarget clients, each with a connection to every member.
  const clients = Array.from({ length: BENCH.channelsPerTarget }, () => e.client());
  const pick = (worker: number): (typeof clients)[number] => clients[worker % clients.length] as (typeof clients)[number];
  const put = async (worker: number, key: string): Promise<void> => {
    await pick(worker).put(key).value(Buffer.from(roomRecord(key)));
  };
  return {
    name: 'etcd',
    pids: () => e.members.map((m) => m.process?.pid ?? 0),
    write: (concurrency, durationMs, prefix) => drive({ concurrencyMax: concurrency, durationMs, op: (worker, seq) => put(worker, `rooms/${prefix}-${seq}`) }),
    preload: async (count, prefix) => {
      const r = await drive({ concurrencyMax: 256, durationMs: BENCH.bulkLoadMsMax, operationsMax: count, op: (worker, seq) => put(worker, `rooms/${prefix}-${seq}`) });
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

// ---------------------------------------------------------------- throughput (+ etcd)

/** clockTicksPerSecond: the unit of utime/stime in /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const clockTicksPerSecond = 100;

/** cpuSeconds: user+system CPU time a process has used so far (0 when it is gone). */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond;
  } catch {
    return 0;
  }
}

/** measured runs `work` and says how much CPU the servers and this client process used, in % of one core. */
async function measured(system: SystemUnderTest, work: () => Promise<DriveResult>): Promise<{ r: DriveResult; serverCpuPct: number[]; clientCpuPct: number }> {
  const pids = system.pids();
  const before = pids.map(cpuSeconds);
  const clientBefore = process.cpuUsage();
  const r = await work();
  const client = process.cpuUsage(clientBefore);
  const spanS = r.elapsedMs / 1000;
  return {
    r,
    serverCpuPct: pids.map((pid, i) => Math.round((100 * (cpuSeconds(pid) - (before[i] ?? 0))) / spanS)),
    clientCpuPct: Math.round((client.user + client.system) / 1e4 / spanS),
  };
}

interface ThroughputRow {
  system: string;
  op: string;
  concurrency: number;
  reps: { opsPerSecond: number; p50Ms: number; p99Ms: number; maxMs: number; errors: number; serverCpuPct: number[]; clientCpuPct: number }[];
  median: { opsPerSecond: number; p50Ms: number; p99Ms: number };
}

function row(system: string, op: string, concurrency: number): ThroughputRow {
  return { system, op, concurrency, reps: [], median: { opsPerSecond: 0, p50Ms: 0, p99Ms: 0 } };
}

// eslint-disable-next-line max-lines-per-function -- TODO(#19): splits with scenarios.ts into a file per scenario
async function throughput(args: { reps: number; durationS: number; etcd: string; ops: string[] }): Promise<void> {
  const env = environment();
  const durationMs = args.durationS * 1000;
  let etcdInfo: string | null = null;
  const binary = args.etcd === 'off' ? null : etcdBinary();
  if (binary === null && args.etcd === 'require') {
    say(ETCD_INSTALL_HINT);
    process.exitCode = 2;
    return;
  }
  if (binary === null && args.etcd === 'auto') say(`${ETCD_INSTALL_HINT} (running without the comparison)`);
  const cluster = await BenchCluster.start({ size: 3, serveArgs: [], nodeArgs: benchNodeArgs() });
  let etcd: EtcdCluster | null = null;
  const systems: SystemUnderTest[] = [];
  let atLeader: SystemUnderTest | null = null;
  try {
    systems.push(registrySystem(cluster));
    const aimed = registrySystem(cluster, true);
    atLeader = aimed;
    if (binary !== null) {
      etcdInfo = etcdVersion(binary);
      etcd = await EtcdCluster.start(binary);
      systems.push(etcdSystem(etcd));
    }
    const rows = new Map<string, ThroughputRow>();
    const record = (system: string, op: string, concurrency: number, m: { r: DriveResult; serverCpuPct: number[]; clientCpuPct: number }): void => {
      const r = m.r;
      const key = `${system}/${op}/${concurrency}`;
      const entry = rows.get(key) ?? row(system, op, concurrency);
      rows.set(key, entry);
      const s = stats(r);
      entry.reps.push({ opsPerSecond: s.opsPerSecond, p50Ms: s.p50Ms, p99Ms: s.p99Ms, maxMs: s.maxMs, errors: r.errors, serverCpuPct: m.serverCpuPct, clientCpuPct: m.clientCpuPct });
      say(
        `${system} ${op} c=${concurrency}: ${s.opsPerSecond} ops/s p50 ${s.p50Ms} ms p99 ${s.p99Ms} ms max ${s.maxMs} ms errors ${r.errors}${r.errors > 0 ? ` ${JSON.stringify(r.errorsByCode)}` : ''}` +
          `  cpu: servers ${m.serverCpuPct.join('/')}%, client ${m.clientCpuPct}%`,
      );
    };
    const readPrefix = `read-${Date.now().toString(36)}`;
    if (args.ops.includes('read')) for (const s of systems) await s.preload(BENCH.readRooms, readPrefix);
    // Repetitions interleave the systems, so contention from other work on the machine hits both alike.
    for (let rep = 0; rep < args.reps; rep++) {
      if (args.ops.includes('write')) {
        for (const c of BENCH.writeConcurrencies) {
          for (const s of systems) record(s.name, 'write', c, await measured(s, () => s.write(c, durationMs, `w-${rep}-${c}-${Date.now().toString(36)}`)));
        }
        const c = BENCH.leaderAimedConcurrency;
        record(aimed.name, 'write', c, await measured(aimed, () => aimed.write(c, durationMs, `wl-${rep}-${Date.now().toString(36)}`)));
      }
      if (args.ops.includes('read')) {
        for (const s of systems) {
          record(s.name, 'read-linearizable', BENCH.readConcurrency, await measured(s, () => s.read('linearizable', BENCH.readConcurrency, durationMs, readPrefix, BENCH.readRooms)));
          // etcd's nearest counterpart of LOCAL is a serializable (member-local) get.
          record(s.name, s.name === 'etcd' ? 'read-serializable' : 'read-local', BENCH.readConcurrency, await measured(s, () => s.read('local', BENCH.readConcurrency, durationMs, readPrefix, BENCH.readRooms)));
        }
      }
    }
    for (const r of rows.values()) {
      r.median = { opsPerSecond: median(r.reps.map((x) => x.opsPerSecond)), p50Ms: median(r.reps.map((x) => x.p50Ms)), p99Ms: median(r.reps.map((x) => x.p99Ms)) };
    }
    const get = (system: string, op: string, c: number): ThroughputRow | undefined => rows.get(`${system}/${op}/${c}`);
    const ratios: Record<string, number> = {};
    if (etcd !== null) {
      for (const c of BENCH.writeConcurrencies) {
        const ours = get('room-registry', 'write', c);
        const theirs = get('etcd', 'write', c);
        if (ours !== undefined && theirs !== undefined) {
          ratios[`write c=${c} throughput ours/etcd`] = +(ours.median.opsPerSecond / theirs.median.opsPerSecond).toFixed(2);
          ratios[`write c=${c} p99 ours/etcd`] = +(ours.median.p99Ms / theirs.median.p99Ms).toFixed(2);
        }
      }
      const aimedRow = get('room-registry@leader', 'write', BENCH.leaderAimedConcurrency);
      const etcdAtSame = get('etcd', 'write', BENCH.leaderAimedConcurrency);
      if (aimedRow !== undefined && etcdAtSame !== undefined) {
        ratios[`write c=${BENCH.leaderAimedConcurrency} leader-aware client, throughput ours/etcd`] = +(aimedRow.median.opsPerSecond / etcdAtSame.median.opsPerSecond).toFixed(2);
        ratios[`write c=${BENCH.leaderAimedConcurrency} leader-aware client, p99 ours/etcd`] = +(aimedRow.median.p99Ms / etcdAtSame.median.p99Ms).toFixed(2);
      }
      const lin = get('room-registry', 'read-linearizable', BENCH.readConcurrency);
      const local = get('room-registry', 'read-local', BENCH.readConcurrency);
      const etcdLin = get('etcd', 'read-linearizable', BENCH.readConcurrency);
      const etcdSer = get('etcd', 'read-serializable', BENCH.readConcurrency);
      if (lin !== undefined && etcdLin !== undefined) ratios['linearizable read ours/etcd linearizable'] = +(lin.median.opsPerSecond / etcdLin.median.opsPerSecond).toFixed(2);
      if (local !== undefined && etcdLin !== undefined) ratios['LOCAL read ours/etcd linearizable'] = +(local.median.opsPerSecond / etcdLin.median.opsPerSecond).toFixed(2);
      if (local !== undefined && etcdSer !== undefined) ratios['LOCAL read ours/etcd serializable'] = +(local.median.opsPerSecond / etcdSer.median.opsPerSecond).toFixed(2);
    }
    say('medians:');
    for (const r of rows.values()) say(`  ${r.system} ${r.op} c=${r.concurrency}: ${r.median.opsPerSecond} ops/s p50 ${r.median.p50Ms} ms p99 ${r.median.p99Ms} ms (${r.reps.length} reps)`);
    for (const [k, v] of Object.entries(ratios)) say(`  ratio ${k}: ${v}`);
    save(args.ops.length === 1 ? `throughput-${args.ops[0] ?? ''}${etcd === null ? '' : '-compare'}` : `throughput${etcd === null ? '' : '-compare'}`, env, {
      durationS: args.durationS,
      repsRequested: args.reps,
      etcd: etcdInfo,
      rows: [...rows.values()],
      ratios,
    });
  } finally {
    for (const s of systems) await s.close();
    await atLeader?.close();
    await etcd?.stop();
    await cluster.stop();
  }
}

/** heapOf reads each node's V8 heap (used / total MiB) and memory outside it (external MiB) from /metrics. */
async function heapOf(cluster: BenchCluster): Promise<Record<string, { usedMiB: number; totalMiB: number; externalMiB: number }>> {
  const out: Record<string, { usedMiB: number; totalMiB: number; externalMiB: number }> = {};
  for (const n of cluster.nodes) {
    const m = await cluster.metrics(n.id);
    out[n.id] = {
      usedMiB: mib(m.get('nodejs_heap_size_used_bytes') ?? 0),
      totalMiB: mib(m.get('nodejs_heap_size_total_bytes') ?? 0),
      externalMiB: mib(m.get('nodejs_external_memory_bytes') ?? 0),
    };
  }
  return out;
}

/** benchNodeArgs: BENCH_NODE_ARGS (e.g. "--trace-gc"), flags for node itself on every node of a scenario. */
function benchNodeArgs(): string[] {
  return (process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
}

// ---------------------------------------------------------------- failover

async function failover(args: { reps: number }): Promise<void> {
  const env = environment();
  const cluster = await BenchCluster.start({ size: 3, serveArgs: [], nodeArgs: benchNodeArgs() });
  const clients = clientsFor(cluster, cluster.grpcTargets(), BENCH.channelsPerTarget);
  // Each worker sticks to a client; when its node fails it backs off and moves to the next one,
  // as a client with the node list would.
  const choice = Array.from({ length: BENCH.failoverConcurrency }, (_, w) => w);
  const runs: { killed: string; newLeader: string; gapMs: number; backTo90PctMs: number; baselineOpsPerSecond: number; errors: number; errorsByCode: Record<string, number> }[] = [];
  try {
    for (let rep = 0; rep < args.reps; rep++) {
      const leader = await cluster.waitForLeader();
      const prefix = `fo-${rep}-${Date.now().toString(36)}`;
      let killAtMs = 0;
      const load = drive({
        concurrencyMax: BENCH.failoverConcurrency,
        durationMs: BENCH.failoverBeforeMs + BENCH.failoverAfterMs,
        errorBackoffMs: BENCH.failoverBackoffMs,
        op: async (worker, seq) => {
          const k = choice[worker] ?? worker;
          try {
            await (clients[k % clients.length] as RoomClient).createRoom({ name: `${prefix}-${seq}`, metadata, emptyTimeout: BENCH.longTimeoutS }, BENCH.callDeadlineMs);
          } catch (e) {
            choice[worker] = k + BENCH.channelsPerTarget; // the same channel slot on the next node
            throw e;
          }
        },
      });
      const loadStartMs = performance.now();
      await sleep(BENCH.failoverBeforeMs);
      killAtMs = performance.now() - loadStartMs;
      await cluster.kill(leader, 'SIGKILL');
      const r = await load;
      const newLeader = await cluster.waitForLeader();
      const baseline = stats(r, 1_000, killAtMs).opsPerSecond; // the first second warms connections up
      const { gapMs } = longestGapMs(r, killAtMs - 1_000, r.elapsedMs);
      const buckets = perBucket(r, 100);
      const windowBuckets = BENCH.recoveryWindowMs / 100;
      let backMs = -1;
      for (let b = Math.floor(killAtMs / 100); b + windowBuckets <= buckets.length; b++) {
        const sum = buckets.slice(b, b + windowBuckets).reduce((s, x) => s + x, 0);
        if (sum / (BENCH.recoveryWindowMs / 1000) >= 0.9 * baseline) {
          backMs = b * 100 + BENCH.recoveryWindowMs - killAtMs;
          break;
        }
      }
      runs.push({ killed: leader, newLeader, gapMs: Math.round(gapMs), backTo90PctMs: Math.round(backMs), baselineOpsPerSecond: baseline, errors: r.errors, errorsByCode: r.errorsByCode });
      say(`failover ${rep + 1}/${args.reps}: killed ${leader}, new leader ${newLeader}, write gap ${Math.round(gapMs)} ms, back to 90% of ${baseline} ops/s after ${Math.round(backMs)} ms, errors ${r.errors} ${JSON.stringify(r.errorsByCode)}`);
      // Bring the killed node back and let it catch up before the next round.
      cluster.spawn(leader);
      const s = await cluster.status(newLeader);
      await cluster.waitForApplied(leader, s?.commitIndex ?? 0, 60_000);
      for (let i = 0; i < choice.length; i++) choice[i] = i;
    }
    // A run that never got back to 90% within the window (-1) counts as longer than any that did.
    const backs = runs.map((x) => (x.backTo90PctMs < 0 ? Infinity : x.backTo90PctMs));
    const backMedian = median(backs);
    const summary = {
      medianGapMs: median(runs.map((x) => x.gapMs)),
      medianBackTo90PctMs: Number.isFinite(backMedian) ? backMedian : -1,
      notBackWithinWindow: backs.filter((x) => !Number.isFinite(x)).length,
      maxGapMs: Math.max(...runs.map((x) => x.gapMs)),
    };
    say(`failover median write gap ${summary.medianGapMs} ms (max ${summary.maxGapMs}), median back-to-90% ${summary.medianBackTo90PctMs} ms over ${runs.length} kills`);
    save('failover', env, { concurrency: BENCH.failoverConcurrency, runs, ...summary });
  } finally {
    closeAll(clients);
    await cluster.stop();
  }
}

// ---------------------------------------------------------------- bulk load

/** bulkLoad creates `count` rooms at the leader as fast as the cluster takes them; emptyTimeoutS(i) sets each room's timeout. */
async function bulkLoad(cluster: BenchCluster, leader: string, count: number, prefix: string, emptyTimeoutS: () => number): Promise<{ seconds: number; roomsPerSecond: number; errors: number; errorsByCode: Record<string, number> }> {
  const clients = clientsFor(cluster, [cluster.node(leader).grpc], BENCH.bulkChannels);
  try {
    const failed: number[] = [];
    const r = await drive({
      concurrencyMax: BENCH.bulkConcurrency,
      durationMs: BENCH.bulkLoadMsMax,
      operationsMax: count,
      op: async (worker, seq) => {
        try {
          await (clients[worker % clients.length] as RoomClient).createRoom({ name: `${prefix}-${seq}`, metadata, emptyTimeout: emptyTimeoutS() }, 30_000);
        } catch (e) {
          failed.push(seq);
          throw e;
        }
      },
    });
    // Retry what failed (overload answers at once with RESOURCE_EXHAUSTED), so the count is exact.
    for (let attempt = 0; attempt < 5 && failed.length > 0; attempt++) {
      const again = failed.splice(0);
      await Promise.all(
        again.map(async (seq, i) => {
          try {
            await (clients[i % clients.length] as RoomClient).createRoom({ name: `${prefix}-${seq}`, metadata, emptyTimeout: emptyTimeoutS() }, 30_000);
          } catch {
            failed.push(seq);
          }
        }),
      );
    }
    if (failed.length > 0) throw new Error(`bulk load: ${failed.length} creates still failing: ${JSON.stringify(r.errorsByCode)}`);
    return { seconds: +(r.elapsedMs / 1000).toFixed(1), roomsPerSecond: Math.round(count / (r.elapsedMs / 1000)), errors: r.errors, errorsByCode: r.errorsByCode };
  } finally {
    closeAll(clients);
  }
}

/** progressEvery logs a line every `ms` while `work` runs (long loads should show they move). */
async function withProgress<T>(cluster: BenchCluster, id: string, ms: number, work: Promise<T>): Promise<T> {
  let done = false;
  const ticker = (async () => {
    const startMs = Date.now();
    while (!done) {
      await sleep(ms);
      if (done) break;
      const s = await cluster.status(id);
      say(`  … ${Math.round((Date.now() - startMs) / 1000)} s: ${id} rooms ${s?.rooms ?? '?'} applied ${s?.appliedIndex ?? '?'}`);
    }
  })();
  try {
    return await work;
  } finally {
    done = true;
    await ticker;
  }
}

// ---------------------------------------------------------------- 1 M rooms

interface ProbeResult {
  node: string;
  count: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  maxAtMs: number;
}

/** Probe sends one LOCAL GetRoom to each node every probeIntervalMs and keeps the latencies: a stall of a node's event loop shows as a slow probe. */
class StallProbe {
  private stopped = false;
  private readonly samples = new Map<string, { atMs: number; ms: number }[]>();
  private readonly errors = new Map<string, number>();
  private readonly loops: Promise<void>[] = [];
  readonly startMs = performance.now();

  constructor(cluster: BenchCluster, room: string) {
    for (const n of cluster.nodes) {
      const client = clientsFor(cluster, [n.grpc], 1)[0] as RoomClient;
      this.samples.set(n.id, []);
      this.loops.push(
        (async () => {
          try {
            // Bounded even if stop() is never reached (a scenario that failed half-way).
            const endMs = performance.now() + BENCH.snapshotWaitMsMax + 60_000;
            while (!this.stopped && performance.now() < endMs) {
              const t0 = performance.now();
              try {
                await client.getRoom({ name: room, consistency: Consistency.CONSISTENCY_LOCAL }, BENCH.callDeadlineMs);
                this.samples.get(n.id)?.push({ atMs: t0 - this.startMs, ms: performance.now() - t0 });
              } catch {
                this.errors.set(n.id, (this.errors.get(n.id) ?? 0) + 1);
              }
              const restMs = BENCH.probeIntervalMs - (performance.now() - t0);
              if (restMs > 0) await sleep(restMs);
            }
          } finally {
            client.close();
          }
        })(),
      );
    }
  }

  nowMs(): number {
    return performance.now() - this.startMs;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }

  /** result over probes started in [fromMs, toMs). */
  result(node: string, fromMs: number, toMs: number): ProbeResult {
    const xs = (this.samples.get(node) ?? []).filter((s) => s.atMs >= fromMs && s.atMs < toMs);
    const sorted = Float64Array.from(xs.map((s) => s.ms)).sort();
    const worst = xs.reduce((w, s) => (s.ms > w.ms ? s : w), { atMs: 0, ms: 0 });
    const q = (p: number): number => +(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0).toFixed(1);
    return { node, count: xs.length, errors: this.errors.get(node) ?? 0, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: +worst.ms.toFixed(1), maxAtMs: Math.round(worst.atMs) };
  }
}

const mib = (bytes: number): number => Math.round(bytes / 2 ** 20);

// eslint-disable-next-line max-lines-per-function -- TODO(#19): splits with scenarios.ts into a file per scenario
async function million(args: { rooms: number; snapshotIntervalEntries: number | null }): Promise<void> {
  const env = environment();
  // By default the measured snapshot comes after the load, so its stalls are not mixed with the
  // load's (and the log of the whole load stays in memory until then: the worst case for memory).
  // With --snapshot-interval-entries the node's own cadence applies and the tail runs until the
  // next snapshot after the load.
  const interval = args.snapshotIntervalEntries ?? args.rooms + BENCH.snapshotTailEntries;
  const nodeArgs = benchNodeArgs();
  const cluster = await BenchCluster.start({ size: 3, serveArgs: ['--snapshot-interval-entries', String(interval)], nodeArgs });
  let leader = '';
  try {
    leader = await cluster.waitForLeader();
    const prefix = `m-${Date.now().toString(36)}`;
    say(`million: loading ${args.rooms} rooms with ${BENCH.metadataBytes}-byte metadata at ${leader} (concurrency ${BENCH.bulkConcurrency}, ${BENCH.bulkChannels} channels)`);
    const load = await withProgress(cluster, leader, 15_000, bulkLoad(cluster, leader, args.rooms, prefix, () => BENCH.longTimeoutS));
    say(`million: loaded in ${load.seconds} s (${load.roomsPerSecond} rooms/s, ${load.errors} retried: ${JSON.stringify(load.errorsByCode)})`);
    const commit = (await cluster.status(leader))?.commitIndex ?? 0;
    for (const n of cluster.nodes) await cluster.waitForApplied(n.id, commit, 120_000);
    if (global.gc !== undefined) global.gc();
    await sleep(2_000);
    const rssLoaded = Object.fromEntries(cluster.nodes.map((n) => [n.id, mib(cluster.rssBytes(n.id))]));
    const heapLoaded = await heapOf(cluster);
    say(`million: VmRSS right after loading ${args.rooms} rooms (log entries since the last snapshot still in memory): ${JSON.stringify(rssLoaded)} MiB; heap ${JSON.stringify(heapLoaded)}`);

    // Snapshot: write create+delete pairs (room count stays) until every node has taken one,
    // while the probe measures each node's responsiveness.
    const before = new Map<string, { count: number; sum: number }>();
    for (const n of cluster.nodes) {
      const m = await cluster.metrics(n.id);
      before.set(n.id, { count: m.get('room_registry_snapshots_total') ?? 0, sum: m.get('room_registry_snapshot_duration_seconds_sum') ?? 0 });
    }
    const probe = new StallProbe(cluster, `${prefix}-1`);
    const lagMaxS = new Map<string, number>();
    const doneAt = new Map<string, { atMs: number; durationMs: number }>();
    const clients = clientsFor(cluster, [cluster.node(leader).grpc], BENCH.channelsPerTarget);
    let stopTrigger = false;
    const tailPrefix = `${prefix}-tail`;
    const trigger = drive({
      concurrencyMax: 16,
      durationMs: BENCH.snapshotWaitMsMax,
      stop: () => stopTrigger,
      op: async (worker, seq) => {
        const client = clients[worker % clients.length] as RoomClient;
        await client.createRoom({ name: `${tailPrefix}-${seq}`, metadata, emptyTimeout: BENCH.longTimeoutS }, BENCH.callDeadlineMs);
        await client.deleteRoom({ room: `${tailPrefix}-${seq}` }, BENCH.callDeadlineMs);
      },
    });
    const waitEndMs = Date.now() + BENCH.snapshotWaitMsMax;
    while (doneAt.size < cluster.nodes.length && Date.now() < waitEndMs) {
      await sleep(200);
      for (const n of cluster.nodes) {
        const m = await cluster.metrics(n.id);
        lagMaxS.set(n.id, Math.max(lagMaxS.get(n.id) ?? 0, m.get('nodejs_eventloop_lag_max_seconds') ?? 0));
        const b = before.get(n.id);
        const count = m.get('room_registry_snapshots_total') ?? 0;
        if (b !== undefined && !doneAt.has(n.id) && count > b.count) {
          const durationMs = ((m.get('room_registry_snapshot_duration_seconds_sum') ?? 0) - b.sum) * 1000;
          doneAt.set(n.id, { atMs: probe.nowMs(), durationMs });
          say(`million: ${n.id} snapshot done, ${Math.round(durationMs)} ms, ${mib(m.get('room_registry_snapshot_last_bytes') ?? 0)} MiB`);
        }
      }
    }
    stopTrigger = true;
    await sleep(1_000);
    await probe.stop();
    const triggerResult = await trigger;
    closeAll(clients);
    const snapshot = cluster.nodes.map((n) => {
      const d = doneAt.get(n.id);
      // The snapshot ran in [done - duration, done]; the done time is known to within one poll (200 ms) plus a scrape.
      const during = d === undefined ? null : probe.result(n.id, d.atMs - d.durationMs - 400, d.atMs + 100);
      const outside = d === undefined ? null : probe.result(n.id, 0, Math.max(0, d.atMs - d.durationMs - 400));
      return { node: n.id, durationMs: d === undefined ? null : Math.round(d.durationMs), probeDuring: during, probeBefore: outside, eventLoopLagMaxMs: Math.round((lagMaxS.get(n.id) ?? 0) * 1000) };
    });
    for (const s of snapshot) {
      say(`million: ${s.node} snapshot ${s.durationMs} ms; probe during: max ${s.probeDuring?.maxMs} ms p99 ${s.probeDuring?.p99Ms} ms; before: max ${s.probeBefore?.maxMs} p99 ${s.probeBefore?.p99Ms}; server event-loop lag max over the window ${s.eventLoopLagMaxMs} ms`);
    }
    say(`million: trigger load ${stats(triggerResult).opsPerSecond} pairs/s, errors ${triggerResult.errors}`);
    await sleep(2_000);
    const rssAfterSnapshot = Object.fromEntries(cluster.nodes.map((n) => [n.id, mib(cluster.rssBytes(n.id))]));
    const heapAfterSnapshot = await heapOf(cluster);
    say(`million: VmRSS after the snapshot (log compacted): ${JSON.stringify(rssAfterSnapshot)} MiB; heap ${JSON.stringify(heapAfterSnapshot)}`);

    // Restart to serving: a follower after kill -9, then the whole cluster after kill -9.
    const follower = cluster.nodes.find((n) => n.id !== leader)?.id ?? 'n2';
    const restartFollower = await timeRestart(cluster, [follower], `${prefix}-${args.rooms - 1}`);
    say(`million: follower ${follower} kill -9 → serving LOCAL reads of the newest room and caught up: ${restartFollower.servingMs} ms`);
    const restartAll = await timeRestart(cluster, cluster.nodes.map((n) => n.id), `${prefix}-${args.rooms - 1}`);
    say(`million: whole cluster kill -9 → leader elected and a linearizable read + a write answered: ${restartAll.servingMs} ms`);
    const rssAfterRestart = Object.fromEntries(cluster.nodes.map((n) => [n.id, mib(cluster.rssBytes(n.id))]));
    const heapAfterRestart = await heapOf(cluster);
    say(`million: VmRSS after the restart (restored from the snapshot): ${JSON.stringify(rssAfterRestart)} MiB; heap ${JSON.stringify(heapAfterRestart)}`);
    save('million', env, {
      nodeArgs, leader, rooms: args.rooms, metadataBytes: BENCH.metadataBytes, snapshotIntervalEntries: interval, load,
      rssLoadedMiB: rssLoaded, rssAfterSnapshotMiB: rssAfterSnapshot, rssAfterRestartMiB: rssAfterRestart,
      heapLoaded, heapAfterSnapshot, heapAfterRestart, snapshot, restartFollower, restartAll,
    });
  } finally {
    await cluster.stop({ keep: nodeArgs.length > 0 });
    if (nodeArgs.length > 0) say(`million: node logs kept in ${cluster.dir}`);
  }
}

/** timeRestart kill -9s `ids`, starts them again and times until they serve (see the callers' lines). */
async function timeRestart(cluster: BenchCluster, ids: string[], newestRoom: string): Promise<{ nodes: string[]; servingMs: number }> {
  const alive = cluster.nodes.find((n) => !ids.includes(n.id) && n.process !== null);
  const commit = alive === undefined ? 0 : ((await cluster.status(alive.id))?.commitIndex ?? 0);
  for (const id of ids) await cluster.kill(id, 'SIGKILL');
  const startMs = performance.now();
  for (const id of ids) cluster.spawn(id);
  const endMs = Date.now() + BENCH.restartWaitMsMax;
  const token = benchToken(cluster);
  for (const id of ids) {
    const client = new RoomClient(cluster.node(id).grpc, { token }, { 'grpc.use_local_subchannel_pool': 1 });
    try {
      for (;;) {
        if (Date.now() > endMs) throw new Error(`${id} not serving after ${BENCH.restartWaitMsMax} ms`);
        try {
          const consistency = alive === undefined ? Consistency.CONSISTENCY_LINEARIZABLE : Consistency.CONSISTENCY_LOCAL;
          const res = await client.getRoom({ name: newestRoom, consistency }, 1_000);
          const s = await cluster.status(id);
          if (res.room !== undefined && s !== null && s.appliedIndex >= commit) {
            if (alive === undefined) await client.createRoom({ name: `restart-${Date.now().toString(36)}`, emptyTimeout: BENCH.longTimeoutS }, 2_000);
            break;
          }
        } catch {
          // not up yet (connection refused, no leader yet, or still replaying)
        }
        await sleep(20);
      }
    } finally {
      client.close();
    }
  }
  return { nodes: ids, servingMs: Math.round(performance.now() - startMs) };
}

// ---------------------------------------------------------------- sweep of a 1 M backlog

// eslint-disable-next-line max-lines-per-function -- TODO(#19): splits with scenarios.ts into a file per scenario
async function sweep(args: { rooms: number; ratePerSecondGuess: number }): Promise<void> {
  const env = environment();
  const cluster = await BenchCluster.start({ size: 3, serveArgs: [], nodeArgs: benchNodeArgs() });
  try {
    const leader = await cluster.waitForLeader();
    const prefix = `s-${Date.now().toString(36)}`;
    // Every room falls due at one moment, after the load and a baseline of steady load: the
    // timeout of each room is what remains until then (so all are overdue together).
    const loadEstimateMs = (args.rooms / args.ratePerSecondGuess) * 1000 * 1.3 + 10_000;
    const dueAtMs = Date.now() + loadEstimateMs + BENCH.sweepBaselineMs + 5_000;
    const timeoutS = (): number => Math.max(1, Math.ceil((dueAtMs - Date.now()) / 1000));
    say(`sweep: loading ${args.rooms} rooms due at ${new Date(dueAtMs).toISOString()} (estimate ${Math.round(loadEstimateMs / 1000)} s of load)`);
    const load = await withProgress(cluster, leader, 15_000, bulkLoad(cluster, leader, args.rooms, prefix, timeoutS));
    say(`sweep: loaded in ${load.seconds} s (${load.roomsPerSecond} rooms/s)`);
    const roomsAtLoad = (await cluster.status(leader))?.rooms ?? 0;
    if (Date.now() > dueAtMs - 5_000) say('sweep: WARNING the load overran the estimate: part of the backlog was due while loading (pass a lower --rate-guess)');

    // Steady CreateRoom load spread over all nodes, from now until the backlog is gone.
    const clients = clientsFor(cluster, cluster.grpcTargets(), BENCH.channelsPerTarget);
    let stop = false;
    let steadyStarted = 0;
    const steadyPrefix = `${prefix}-steady`;
    const steady = drive({
      concurrencyMax: 256,
      durationMs: Math.max(0, dueAtMs - Date.now()) + BENCH.sweepDrainMsMax,
      ratePerSecond: BENCH.sweepSteadyRatePerSecond,
      stop: () => stop,
      op: async (worker, seq) => {
        steadyStarted++;
        await (clients[worker % clients.length] as RoomClient).createRoom({ name: `${steadyPrefix}-${seq}`, metadata, emptyTimeout: BENCH.longTimeoutS }, BENCH.callDeadlineMs);
      },
    });
    const steadyStartMs = Date.now();
    const rel = (wallMs: number): number => wallMs - steadyStartMs;
    // The backlog is drained when no node holds more rooms than the steady load has created (the
    // steady rooms never expire; the slack is the steady creates still in flight, a handful).
    const baseRooms = roomsAtLoad - args.rooms;
    let firstDropMs: number | null = null;
    let drainedMs: number | null = null;
    const drainEndMs = dueAtMs + BENCH.sweepDrainMsMax;
    const timeline: { tMs: number; rooms: (number | null)[] }[] = [];
    while (Date.now() < drainEndMs) {
      await sleep(250);
      const rooms = await Promise.all(cluster.nodes.map(async (n) => (await cluster.status(n.id))?.rooms ?? null));
      timeline.push({ tMs: rel(Date.now()), rooms });
      const leaderRooms = rooms[cluster.nodes.findIndex((n) => n.id === leader)] ?? null;
      if (firstDropMs === null && leaderRooms !== null && leaderRooms < roomsAtLoad) firstDropMs = Date.now();
      if (rooms.every((x) => x !== null && x <= baseRooms + steadyStarted)) {
        drainedMs = Date.now();
        break;
      }
    }
    await sleep(3_000);
    stop = true;
    const r = await steady;
    closeAll(clients);
    const dueRel = rel(dueAtMs);
    const before = stats(r, 2_000, dueRel);
    const during = drainedMs === null ? null : stats(r, dueRel, rel(drainedMs));
    const drainS = drainedMs === null ? null : +((drainedMs - dueAtMs) / 1000).toFixed(1);
    // p99 per 10 s window, to tell the sweep's effect from the after-load snapshots and other load.
    const windows: { fromS: number; p50Ms: number; p99Ms: number; maxMs: number; count: number }[] = [];
    for (let t = 0; t < r.elapsedMs; t += 10_000) {
      const w = stats(r, t, Math.min(r.elapsedMs, t + 10_000));
      windows.push({ fromS: Math.round((t - dueRel) / 1000), p50Ms: w.p50Ms, p99Ms: w.p99Ms, maxMs: w.maxMs, count: w.count });
    }
    const lastBefore = stats(r, Math.max(2_000, dueRel - 30_000), dueRel);
    say(`sweep: p99 per 10 s window (s from due): ${windows.map((w) => `${w.fromS}:${w.p99Ms}`).join(' ')}`);
    say(`sweep: CreateRoom in the 30 s before due: p50 ${lastBefore.p50Ms} p99 ${lastBefore.p99Ms} max ${lastBefore.maxMs} ms`);
    say(`sweep: backlog of ${args.rooms} due at t=${Math.round(dueRel / 1000)} s; first deletions seen ${firstDropMs === null ? 'never' : `${((firstDropMs - dueAtMs) / 1000).toFixed(1)} s after due`}; drained on every node ${drainS === null ? 'NOT within the limit' : `${drainS} s after due`}`);
    say(`sweep: CreateRoom at ${BENCH.sweepSteadyRatePerSecond}/s before: p50 ${before.p50Ms} p99 ${before.p99Ms} max ${before.maxMs} ms; during: p50 ${during?.p50Ms} p99 ${during?.p99Ms} max ${during?.maxMs} ms; errors ${r.errors} ${JSON.stringify(r.errorsByCode)}`);
    save('sweep', env, {
      rooms: args.rooms,
      load,
      steadyRatePerSecond: BENCH.sweepSteadyRatePerSecond,
      drainSeconds: drainS,
      firstDeletionAfterDueSeconds: firstDropMs === null ? null : +((firstDropMs - dueAtMs) / 1000).toFixed(1),
      createBefore: before,
      createLast30sBefore: lastBefore,
      createDuring: during,
      p99RatioVsLast30sBefore: during === null || lastBefore.p99Ms === 0 ? null : +(during.p99Ms / lastBefore.p99Ms).toFixed(2),
      windows,
      p99Ratio: during === null || before.p99Ms === 0 ? null : +(during.p99Ms / before.p99Ms).toFixed(2),
      errors: r.errors,
      errorsByCode: r.errorsByCode,
      timeline,
    });
  } finally {
    await cluster.stop();
  }
}

// ---------------------------------------------------------------- CPU profile of the leader

const PROFILE_OPS = ['write', 'read-linearizable', 'read-local'] as const;
type ProfileOp = (typeof PROFILE_OPS)[number];

/**
 * profile runs one op spread over the nodes with `--cpu-prof` on each and summarizes one node's
 * profile: the leader's for writes and linearizable reads, a follower's for LOCAL reads.
 */
async function profile(args: { durationS: number; concurrency: number; op: ProfileOp }): Promise<void> {
  const env = environment();
  const profileDir = join(resultsDir, 'profiles');
  mkdirSync(profileDir, { recursive: true });
  const startedAtMs = Date.now();
  const cluster = await BenchCluster.start({ size: 3, serveArgs: [], nodeArgs: [...benchNodeArgs(), '--cpu-prof', '--cpu-prof-dir', profileDir] });
  let leader = '';
  let profiled: string;
  const pids = new Map<string, number>();
  try {
    leader = await cluster.waitForLeader();
    for (const n of cluster.nodes) pids.set(n.id, n.process?.pid ?? 0);
    profiled = args.op === 'read-local' ? (cluster.nodes.find((n) => n.id !== leader)?.id ?? leader) : leader;
    const system = registrySystem(cluster);
    const prefix = `prof-${Date.now().toString(36)}`;
    let r: DriveResult;
    if (args.op === 'write') {
      r = await system.write(args.concurrency, args.durationS * 1000, prefix);
    } else {
      await system.preload(BENCH.readRooms, prefix);
      r = await system.read(args.op === 'read-local' ? 'local' : 'linearizable', args.concurrency, args.durationS * 1000, prefix, BENCH.readRooms);
    }
    await system.close();
    const s = stats(r);
    say(`profile: ${args.op} c=${args.concurrency} under --cpu-prof: ${s.opsPerSecond} ops/s p99 ${s.p99Ms} ms`);
  } finally {
    await cluster.stop({ graceful: true });
  }
  const pid = pids.get(profiled) ?? 0;
  const file = readdirSync(profileDir).find((f) => f.includes(`.${pid}.`) && f.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error(`no profile of ${profiled} (pid ${pid}) in ${profileDir}`);
  const summary = summarizeProfile(JSON.parse(readFileSync(join(profileDir, file), 'utf8')), 25);
  const role = profiled === leader ? 'the leader' : 'a follower';
  say(`profile of ${role} ${profiled}: ${join(profileDir, file)}`);
  for (const line of summary.lines) say(`  ${line}`);
  const name = args.op === 'write' ? 'profile' : `profile-${args.op}`;
  save(name, env, { op: args.op, node: profiled, leader, file: join('bench', 'results', 'profiles', file), concurrency: args.concurrency, durationS: args.durationS, startedAt: new Date(startedAtMs).toISOString(), ...summary });
}

function profileOp(text: string | undefined): ProfileOp {
  const op = PROFILE_OPS.find((o) => o === text);
  if (op === undefined) throw new Error(`--op must be one of ${PROFILE_OPS.join(', ')}; got ${text ?? 'nothing'}`);
  return op;
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const [scenario, ...rest] = process.argv.slice(2);
  const { values } = parseArgs({
    args: rest,
    options: {
      reps: { type: 'string' },
      'duration-s': { type: 'string' },
      etcd: { type: 'string', default: 'auto' },
      ops: { type: 'string', default: 'write,read' },
      rooms: { type: 'string', default: '1000000' },
      'rate-guess': { type: 'string', default: String(BENCH.bulkRatePerSecondGuess) },
      concurrency: { type: 'string', default: '64' },
      op: { type: 'string', default: 'write' },
      'snapshot-interval-entries': { type: 'string' },
    },
  });
  const num = (v: string | undefined, d: number): number => {
    const x = v === undefined ? d : Number(v);
    if (!Number.isFinite(x) || x <= 0) throw new Error(`bad number ${v}`);
    return x;
  };
  switch (scenario) {
    case 'throughput':
      return throughput({ reps: num(values.reps, 1), durationS: num(values['duration-s'], 5), etcd: values.etcd, ops: values.ops.split(',') });
    case 'failover':
      return failover({ reps: num(values.reps, 5) });
    case 'million':
      return million({ rooms: num(values.rooms, 1_000_000), snapshotIntervalEntries: values['snapshot-interval-entries'] === undefined ? null : num(values['snapshot-interval-entries'], 0) });
    case 'sweep':
      return sweep({ rooms: num(values.rooms, 1_000_000), ratePerSecondGuess: num(values['rate-guess'], BENCH.bulkRatePerSecondGuess) });
    case 'profile':
      return profile({ durationS: num(values['duration-s'], 15), concurrency: num(values.concurrency, 64), op: profileOp(values.op) });
    default:
      throw new Error(`usage: scenarios.js throughput|failover|million|sweep|profile [flags]; got ${scenario ?? 'nothing'}`);
  }
}

try {
  await main();
} catch (e) {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
} finally {
  killAllLive();
  // Nothing may keep a finished or failed run alive (an open client, a timer).
  process.exit();
}
