// The throughput scenario: writes and reads at several concurrencies, side by side with etcd when it is installed.
import { type DriveResult, median, stats } from '../driver.js';
import { ETCD_INSTALL_HINT, EtcdCluster, etcdBinary, etcdVersion } from '../etcd-cluster.js';
import {
  BENCH,
  cpuSeconds,
  environment,
  save,
  say,
  type SystemUnderTest,
  registrySystem,
  etcdSystem,
  startCluster,
  twirpWrites,
} from './common.js';

// ---------------------------------------------------------------- throughput (+ etcd)

/** measured runs `work` and says how much CPU the servers and this client process used, in % of one core. */
async function measured(
  system: Pick<SystemUnderTest, 'pids'>,
  work: () => Promise<DriveResult>,
): Promise<{ r: DriveResult; serverCpuPct: number[]; clientCpuPct: number }> {
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

/**
 * CLIENT_SATURATED_PCT: the load generator is one Node process, one core at most; at or above
 * this share of a core it, not the servers, sets the pace, and a run says so (issue 18).
 */
const CLIENT_SATURATED_PCT = 90;

interface ThroughputRow {
  system: string;
  op: string;
  concurrency: number;
  reps: {
    opsPerSecond: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    errors: number;
    serverCpuPct: number[];
    clientCpuPct: number;
    /** serverCpuUsPerOp / clientCpuUsPerOp: CPU time per completed call, all servers together / the load generator. */
    serverCpuUsPerOp: number;
    clientCpuUsPerOp: number;
    clientSaturated: boolean;
  }[];
  median: { opsPerSecond: number; p50Ms: number; p99Ms: number };
}

function row(system: string, op: string, concurrency: number): ThroughputRow {
  return { system, op, concurrency, reps: [], median: { opsPerSecond: 0, p50Ms: 0, p99Ms: 0 } };
}

interface ThroughputArgs {
  reps: number;
  durationS: number;
  etcd: string;
  ops: string[];
  /** spreadOnly: only the unary clients spread over the nodes, which any build serves (an A/B with BENCH_SERVER_DIST). */
  spreadOnly: boolean;
}

type Measured = Awaited<ReturnType<typeof measured>>;
type Rows = Map<string, ThroughputRow>;

export async function throughput(args: ThroughputArgs): Promise<void> {
  const env = environment();
  const binary = args.etcd === 'off' ? null : etcdBinary();
  if (binary === null && args.etcd === 'require') {
    say(ETCD_INSTALL_HINT);
    process.exitCode = 2;
    return;
  }
  if (binary === null && args.etcd === 'auto') say(`${ETCD_INSTALL_HINT} (running without the comparison)`);
  const cluster = await startCluster();
  let etcd: EtcdCluster | null = null;
  const systems: SystemUnderTest[] = [];
  /** aimed: ClusterRoomClient systems (writes to the leader), unary and over Session streams, at one concurrency. */
  const aimed: SystemUnderTest[] = [];
  /** twirp: CreateRoom over Twirp/JSON spread over the nodes, at the aimed concurrency (its CPU per call beside gRPC's). */
  let twirp: ReturnType<typeof twirpWrites> | null = null;
  try {
    systems.push(registrySystem(cluster));
    if (!args.spreadOnly) {
      aimed.push(registrySystem(cluster, 'leader'), registrySystem(cluster, 'session'));
      twirp = twirpWrites(cluster);
    }
    const etcdInfo = binary === null ? null : etcdVersion(binary);
    if (binary !== null) {
      etcd = await EtcdCluster.start(binary);
      systems.push(etcdSystem(etcd));
    }
    const rows: Rows = new Map();
    const readPrefix = `read-${Date.now().toString(36)}`;
    if (args.ops.includes('read')) for (const s of systems) await s.preload(BENCH.readRooms, readPrefix);
    // Repetitions interleave the systems, so contention from other work on the machine hits both alike.
    for (let rep = 0; rep < args.reps; rep++) {
      if (args.ops.includes('write'))
        await writeRep(rows, systems, twirp === null ? aimed : [...aimed, twirp], rep, args.durationS * 1000);
      if (args.ops.includes('read')) {
        // Reads through the session client too (it reads the rooms preloaded through the cluster's
        // other system), and through a room cache, which lives only through the reads: its watch
        // would otherwise follow every write row.
        const cache = args.spreadOnly ? null : registrySystem(cluster, 'cache');
        try {
          const readers = [
            ...systems,
            ...aimed.filter((s) => s.name === 'room-registry@session'),
            ...(cache === null ? [] : [cache]),
          ];
          await readRep(rows, readers, readPrefix, args.durationS * 1000);
        } finally {
          await cache?.close();
        }
      }
    }
    for (const r of rows.values()) {
      const med = (xs: number[]): number => +median(xs).toFixed(2);
      r.median = {
        opsPerSecond: med(r.reps.map((x) => x.opsPerSecond)),
        p50Ms: med(r.reps.map((x) => x.p50Ms)),
        p99Ms: med(r.reps.map((x) => x.p99Ms)),
      };
    }
    report(env, args, rows, etcd === null ? {} : ratiosToEtcd(rows), etcdInfo);
  } finally {
    for (const s of systems) await s.close();
    for (const s of aimed) await s.close();
    await twirp?.close();
    await etcd?.stop();
    await cluster.stop();
  }
}

/** writeRep: one repetition of the writes, each system at each concurrency, then the leader-aware client. */
async function writeRep(
  rows: Rows,
  systems: readonly SystemUnderTest[],
  aimed: readonly Pick<SystemUnderTest, 'name' | 'pids' | 'write'>[],
  rep: number,
  durationMs: number,
): Promise<void> {
  for (const c of BENCH.writeConcurrencies) {
    for (const s of systems) {
      const m = await measured(s, () => s.write(c, durationMs, `w-${rep}-${c}-${Date.now().toString(36)}`));
      record(rows, s.name, 'write', c, m);
    }
  }
  const c = BENCH.leaderAimedConcurrency;
  for (const s of aimed) {
    const m = await measured(s, () => s.write(c, durationMs, `wl-${rep}-${Date.now().toString(36)}`));
    record(rows, s.name, 'write', c, m);
  }
}

/** readRep: one repetition of the reads, linearizable and local, of each system. */
async function readRep(
  rows: Rows,
  systems: readonly SystemUnderTest[],
  readPrefix: string,
  durationMs: number,
): Promise<void> {
  const c = BENCH.readConcurrency;
  for (const s of systems) {
    const lin = await measured(s, () => s.read('linearizable', c, durationMs, readPrefix, BENCH.readRooms));
    record(rows, s.name, 'read-linearizable', c, lin);
    // etcd's nearest counterpart of LOCAL is a serializable (member-local) get.
    const local = await measured(s, () => s.read('local', c, durationMs, readPrefix, BENCH.readRooms));
    record(rows, s.name, s.name === 'etcd' ? 'read-serializable' : 'read-local', c, local);
  }
}

/** record adds one measured run to its row (system, op, concurrency) and prints it. */
function record(rows: Rows, system: string, op: string, concurrency: number, m: Measured): void {
  const r = m.r;
  const key = `${system}/${op}/${concurrency}`;
  const entry = rows.get(key) ?? row(system, op, concurrency);
  rows.set(key, entry);
  const s = stats(r);
  const ops = Math.max(1, s.opsPerSecond * (r.elapsedMs / 1000));
  const usPerOp = (pct: number): number => Math.round(((pct / 100) * r.elapsedMs * 1000) / ops);
  const clientSaturated = m.clientCpuPct >= CLIENT_SATURATED_PCT;
  entry.reps.push({
    opsPerSecond: s.opsPerSecond,
    p50Ms: s.p50Ms,
    p99Ms: s.p99Ms,
    maxMs: s.maxMs,
    errors: r.errors,
    serverCpuPct: m.serverCpuPct,
    clientCpuPct: m.clientCpuPct,
    serverCpuUsPerOp: usPerOp(m.serverCpuPct.reduce((a, b) => a + b, 0)),
    clientCpuUsPerOp: usPerOp(m.clientCpuPct),
    clientSaturated,
  });
  const last = entry.reps[entry.reps.length - 1];
  say(
    `${system} ${op} c=${concurrency}: ${s.opsPerSecond} ops/s p50 ${s.p50Ms} ms p99 ${s.p99Ms} ms max ${s.maxMs} ms errors ${r.errors}${r.errors > 0 ? ` ${JSON.stringify(r.errorsByCode)}` : ''}` +
      `  cpu: servers ${m.serverCpuPct.join('/')}% (${last?.serverCpuUsPerOp} µs/op), client ${m.clientCpuPct}% (${last?.clientCpuUsPerOp} µs/op)` +
      (clientSaturated ? `  CLIENT SATURATED: this figure is the load generator's limit, not the servers'` : ''),
  );
}

/** ratiosToEtcd: our medians over etcd's, for each figure both systems have. */
function ratiosToEtcd(rows: Rows): Record<string, number> {
  const ratios: Record<string, number> = {};
  const get = (system: string, op: string, c: number): ThroughputRow | undefined => rows.get(`${system}/${op}/${c}`);
  /** put adds ours/theirs for throughput under `key`, and for p99 under `p99Key` when given. */
  const put = (key: string, p99Key: string | null, ours?: ThroughputRow, theirs?: ThroughputRow): void => {
    if (ours === undefined || theirs === undefined) return;
    ratios[key] = +(ours.median.opsPerSecond / theirs.median.opsPerSecond).toFixed(2);
    if (p99Key !== null) ratios[p99Key] = +(ours.median.p99Ms / theirs.median.p99Ms).toFixed(2);
  };
  for (const c of BENCH.writeConcurrencies) {
    const [ours, theirs] = [get('room-registry', 'write', c), get('etcd', 'write', c)];
    put(`write c=${c} throughput ours/etcd`, `write c=${c} p99 ours/etcd`, ours, theirs);
  }
  for (const [system, label] of [
    ['room-registry@leader', 'leader-aware client'],
    ['room-registry@session', 'leader-aware client over sessions'],
  ] as const) {
    const aimed = `write c=${BENCH.leaderAimedConcurrency} ${label},`;
    const etcdRow = get('etcd', 'write', BENCH.leaderAimedConcurrency);
    put(
      `${aimed} throughput ours/etcd`,
      `${aimed} p99 ours/etcd`,
      get(system, 'write', BENCH.leaderAimedConcurrency),
      etcdRow,
    );
  }
  const c = BENCH.readConcurrency;
  const local = get('room-registry', 'read-local', c);
  const etcdLin = get('etcd', 'read-linearizable', c);
  put('linearizable read ours/etcd linearizable', null, get('room-registry', 'read-linearizable', c), etcdLin);
  put('LOCAL read ours/etcd linearizable', null, local, etcdLin);
  put('LOCAL read ours/etcd serializable', null, local, get('etcd', 'read-serializable', c));
  const session = 'room-registry@session';
  put('session linearizable read ours/etcd linearizable', null, get(session, 'read-linearizable', c), etcdLin);
  put(
    'session LOCAL read ours/etcd serializable',
    null,
    get(session, 'read-local', c),
    get('etcd', 'read-serializable', c),
  );
  return ratios;
}

function report(
  env: ReturnType<typeof environment>,
  args: ThroughputArgs,
  rows: Rows,
  ratios: Record<string, number>,
  etcdInfo: string | null,
): void {
  say('medians:');
  for (const r of rows.values()) {
    const saturated = r.reps.filter((x) => x.clientSaturated).length;
    say(
      `  ${r.system} ${r.op} c=${r.concurrency}: ${r.median.opsPerSecond} ops/s p50 ${r.median.p50Ms} ms p99 ${r.median.p99Ms} ms (${r.reps.length} reps)` +
        `, server CPU ${median(r.reps.map((x) => x.serverCpuUsPerOp))} µs/op, client ${median(r.reps.map((x) => x.clientCpuUsPerOp))} µs/op` +
        (saturated > 0
          ? `; client saturated in ${saturated} of ${r.reps.length} reps: a client figure, not the servers'`
          : ''),
    );
  }
  for (const [k, v] of Object.entries(ratios)) say(`  ratio ${k}: ${v}`);
  const cpuPerOp = (key: string): number => median(rows.get(key)?.reps.map((x) => x.serverCpuUsPerOp) ?? [Number.NaN]);
  const c = BENCH.leaderAimedConcurrency;
  const twirpOverGrpc = cpuPerOp(`room-registry@twirp/write/${c}`) / cpuPerOp(`room-registry/write/${c}`);
  if (Number.isFinite(twirpOverGrpc))
    say(`  server CPU per CreateRoom, Twirp/JSON over unary gRPC (both spread, c=${c}): ${twirpOverGrpc.toFixed(2)}`);
  const compare = etcdInfo === null ? '' : '-compare';
  save(args.ops.length === 1 ? `throughput-${args.ops[0] ?? ''}${compare}` : `throughput${compare}`, env, {
    durationS: args.durationS,
    repsRequested: args.reps,
    etcd: etcdInfo,
    rows: [...rows.values()],
    ratios,
  });
}
