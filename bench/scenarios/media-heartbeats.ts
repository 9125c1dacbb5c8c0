/**
 * The media-heartbeats scenario (issue 16): what 1 000 media nodes heartbeating every 3 s cost the
 * write path and the servers' CPU. Each heartbeat is one Raft entry (MediaNodeService.Heartbeat
 * proposes a command), so the question is how much of the leader's budget 333 entries/s take.
 *
 * Method: a 3-node cluster; phases interleaved A/B/A/B (`reps` pairs), `durationS` each:
 *   A: CreateRoom at 64 in flight alone (the throughput scenario's clients, 100-byte metadata);
 *   B: the same load while the heartbeaters beat (they start one period earlier, so every media
 *      node has registered before the window opens, and stop after it).
 * After each B the scenario waits until the sweeper has expired every lease, so an A phase carries
 * neither heartbeats nor lease expiries. Then, once: "quiet" (no load at all, the cluster's own
 * Raft heartbeats) and "idle" (the heartbeaters alone), whose difference is the idle cost.
 * Interleaving is what makes A and B comparable on a shared machine: contention from other work
 * hits both alike. The heartbeaters run in a child process (media-heartbeaters.ts says why), whose
 * CPU is reported next to the load generator's, so a saturated client is visible.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { type ProcessCluster, waitUntil } from '../../test/harness/process-cluster.js';
import { type DriveResult, median, sleep, stats } from '../driver.js';
import {
  BENCH,
  benchToken,
  cpuSeconds,
  environment,
  registrySystem,
  save,
  say,
  startCluster,
  type SystemUnderTest,
} from './common.js';
import type { FromHeartbeaters, HeartbeatWindow, HeartbeatersConfig, ToHeartbeaters } from './media-heartbeaters.js';
import { mib } from './stall-and-load.js';

/** MEDIA: the shape of the scenario (STYLE rule 7: each bound named, with why). */
const MEDIA = Object.freeze({
  /** mediaNodes / heartbeatPeriodMs / leaseTtlS: issue 16's fleet, beating every ttl/3 as the API advises. */
  mediaNodes: 1_000,
  heartbeatPeriodMs: 3_000,
  leaseTtlS: 10,
  /** heartbeatDeadlineMs: a beat answered later than its period is as good as lost. */
  heartbeatDeadlineMs: 3_000,
  /** writeConcurrency: the throughput scenario's CreateRoom level with the leader-aware comparison (c=64). */
  writeConcurrency: BENCH.leaderAimedConcurrency,
  /** rampMs: heartbeats before a window opens, one period: every media node has registered (its first beat). */
  rampMs: 3_000,
  /** warmUpMs: CreateRoom load before the first phase (connections, JIT), not measured. */
  warmUpMs: 2_000,
  /** expiryWaitMs: the longest wait for the sweeper to expire every lease after a B phase (ttl 10 s + its pace). */
  expiryWaitMs: 60_000,
  /** childReplyMs: the longest the heartbeater process may take to answer (stop waits for beats in flight). */
  childReplyMs: 30_000,
});

/** walSegmentName: the leader's WAL files (src/storage/wal.ts), whose growth is the log's cost on disk. */
const walSegmentName = /^wal-\d{16}\.log$/;

type PhaseKind = 'A' | 'B' | 'quiet' | 'idle';

/** PhaseFigures: one measured window. CPU is the process CPU time delta (/proc/<pid>/stat), in seconds and % of one core. */
interface PhaseFigures {
  phase: PhaseKind;
  rep: number;
  leader: string;
  leaderChanged: boolean;
  spanS: number;
  writes: {
    count: number;
    opsPerSecond: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    errors: number;
    errorsByCode: Record<string, number>;
  } | null;
  heartbeats: {
    ok: number;
    perSecond: number;
    failed: number;
    skipped: number;
    errorsByCode: Record<string, number>;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
  } | null;
  serverCpuS: Record<string, number>;
  serverCpuPct: Record<string, number>;
  serverCpuPctTotal: number;
  /** cpuUsPerWrite: all three servers' CPU (and the leader's) over the phase's writes; in B it includes the beats. */
  cpuUsPerWrite: { total: number; leader: number } | null;
  driverCpuPct: number;
  heartbeaterCpuPct: number;
  leaderRssMiB: number;
  leaderWalEntriesPerSecond: number;
  leaderWalBytesPerSecond: number;
  leasesExpired: number;
}

/** Sample: the counters a phase takes deltas of. */
interface Sample {
  atMs: number;
  cpuS: Record<string, number>;
  driverCpuUs: number;
  heartbeaterCpuS: number;
  walEntries: number;
  walBytes: number;
  leasesExpired: number;
}

interface Ctx {
  cluster: ProcessCluster;
  writer: SystemUnderTest;
  beats: HeartbeaterProcess;
  durationMs: number;
  stamp: string;
}

export async function mediaHeartbeats(args: { reps: number; durationS: number }): Promise<void> {
  const env = environment();
  const cluster = await startCluster();
  const writer = registrySystem(cluster);
  const beats = new HeartbeaterProcess();
  try {
    const ctx: Ctx = { cluster, writer, beats, durationMs: args.durationS * 1000, stamp: Date.now().toString(36) };
    const config = heartbeatersConfig(cluster);
    say(`heartbeaters: process ${beats.pid}, ${MEDIA.mediaNodes} media nodes every ${MEDIA.heartbeatPeriodMs} ms`);
    await writer.write(MEDIA.writeConcurrency, MEDIA.warmUpMs, `warm-${ctx.stamp}`);
    const phases: PhaseFigures[] = [];
    let expiredWanted = 0;
    for (let rep = 0; rep < args.reps; rep++) {
      phases.push(await measure(ctx, 'A', rep, () => writes(ctx, `a${rep}`), false));
      await beats.start(config);
      await sleep(MEDIA.rampMs);
      phases.push(await measure(ctx, 'B', rep, () => writes(ctx, `b${rep}`), true));
      await beats.stop();
      expiredWanted += MEDIA.mediaNodes;
      await leasesExpired(cluster, expiredWanted);
    }
    phases.push(await measure(ctx, 'quiet', 0, () => sleep(ctx.durationMs).then(() => null), false));
    await beats.start(config);
    await sleep(MEDIA.rampMs);
    phases.push(await measure(ctx, 'idle', 0, () => sleep(ctx.durationMs).then(() => null), true));
    await beats.stop();
    const derived = derive(phases);
    report(phases, derived);
    save('media-heartbeats', env, { ...MEDIA, durationS: args.durationS, repsRequested: args.reps, phases, derived });
    if (cluster.unexpectedExits.length > 0)
      throw new Error(`unexpected exits: ${JSON.stringify(cluster.unexpectedExits)}`);
  } finally {
    beats.kill();
    await writer.close();
    await cluster.stop();
  }
}

function heartbeatersConfig(cluster: ProcessCluster): HeartbeatersConfig {
  return {
    targets: cluster.nodes.map((n) => ({ grpc: n.grpc, region: n.region })),
    token: benchToken(cluster),
    mediaNodes: MEDIA.mediaNodes,
    periodMs: MEDIA.heartbeatPeriodMs,
    ttlS: MEDIA.leaseTtlS,
    channelsPerTarget: BENCH.channelsPerTarget,
    deadlineMs: MEDIA.heartbeatDeadlineMs,
  };
}

function writes(ctx: Ctx, tag: string): Promise<DriveResult> {
  return ctx.writer.write(MEDIA.writeConcurrency, ctx.durationMs, `mh-${tag}-${ctx.stamp}`);
}

/** leasesExpired waits until the replicated count of expired leases reaches `wanted` (every lease of the B phases). */
async function leasesExpired(cluster: ProcessCluster, wanted: number): Promise<void> {
  const t0 = performance.now();
  await waitUntil(
    `the sweeper expired ${wanted} leases`,
    async () => (await counter(cluster, await cluster.waitForLeader(), 'media_node_leases_expired_total')) >= wanted,
    MEDIA.expiryWaitMs,
  );
  say(`  every lease expired ${Math.round(performance.now() - t0)} ms after the beats stopped`);
}

/** counter reads one series of node `id`'s /metrics (0 when absent). */
async function counter(cluster: ProcessCluster, id: string, series: string): Promise<number> {
  const v = await cluster.metric(id, `room_registry_${series}`);
  return Number.isFinite(v) ? v : 0;
}

/** walBytes: the size of node `id`'s WAL segments (a snapshot's compaction may remove some; 64 MiB segments make that rare here). */
function walBytes(cluster: ProcessCluster, id: string): number {
  const dir = cluster.node(id).dataDir;
  let bytes = 0;
  for (const rel of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (!walSegmentName.test(basename(rel))) continue;
    try {
      bytes += statSync(join(dir, rel)).size;
    } catch {
      // Removed between the listing and the stat (compacted): it no longer counts.
    }
  }
  return bytes;
}

async function sample(ctx: Ctx, leader: string): Promise<Sample> {
  const cpuS: Record<string, number> = {};
  for (const n of ctx.cluster.nodes) cpuS[n.id] = cpuSeconds(n.process?.pid ?? 0);
  const driver = process.cpuUsage();
  return {
    atMs: performance.now(),
    cpuS,
    driverCpuUs: driver.user + driver.system,
    heartbeaterCpuS: cpuSeconds(ctx.beats.pid),
    walEntries: await counter(ctx.cluster, leader, 'wal_entries_total'),
    walBytes: walBytes(ctx.cluster, leader),
    leasesExpired: await counter(ctx.cluster, leader, 'media_node_leases_expired_total'),
  };
}

/** measure runs one phase's `work` between two samples and turns the deltas into its figures. */
async function measure(
  ctx: Ctx,
  phase: PhaseKind,
  rep: number,
  work: () => Promise<DriveResult | null>,
  heartbeating: boolean,
): Promise<PhaseFigures> {
  const leader = await ctx.cluster.waitForLeader();
  if (heartbeating) await ctx.beats.window(); // the ramp's beats are not this window's
  const before = await sample(ctx, leader);
  const r = await work();
  const hb = heartbeating ? await ctx.beats.window() : null;
  const after = await sample(ctx, leader);
  const leaderAfter = await ctx.cluster.waitForLeader();
  const f = figures(phase, rep, leader, before, after, r, hb);
  f.leaderChanged = leaderAfter !== leader;
  f.leaderRssMiB = mib(ctx.cluster.rssBytes(leader));
  say(line(f));
  return f;
}

function figures(
  phase: PhaseKind,
  rep: number,
  leader: string,
  before: Sample,
  after: Sample,
  r: DriveResult | null,
  hb: HeartbeatWindow | null,
): PhaseFigures {
  const spanS = (after.atMs - before.atMs) / 1000;
  const serverCpuS: Record<string, number> = {};
  const serverCpuPct: Record<string, number> = {};
  for (const [id, s] of Object.entries(after.cpuS)) {
    serverCpuS[id] = +(s - (before.cpuS[id] ?? 0)).toFixed(2);
    serverCpuPct[id] = Math.round((100 * (serverCpuS[id] ?? 0)) / spanS);
  }
  const totalCpuS = Object.values(serverCpuS).reduce((a, b) => a + b, 0);
  const w = r === null ? null : stats(r);
  return {
    phase,
    rep,
    leader,
    leaderChanged: false,
    spanS: +spanS.toFixed(2),
    writes: w === null || r === null ? null : { ...pick(w), errors: r.errors, errorsByCode: r.errorsByCode },
    heartbeats: hb === null ? null : heartbeatFigures(hb),
    serverCpuS,
    serverCpuPct,
    serverCpuPctTotal: Math.round((100 * totalCpuS) / spanS),
    cpuUsPerWrite:
      w === null || w.count === 0
        ? null
        : {
            total: Math.round((1e6 * totalCpuS) / w.count),
            leader: Math.round((1e6 * (serverCpuS[leader] ?? 0)) / w.count),
          },
    driverCpuPct: Math.round((after.driverCpuUs - before.driverCpuUs) / 1e4 / spanS),
    heartbeaterCpuPct: Math.round((100 * (after.heartbeaterCpuS - before.heartbeaterCpuS)) / spanS),
    leaderRssMiB: 0,
    leaderWalEntriesPerSecond: Math.round((after.walEntries - before.walEntries) / spanS),
    leaderWalBytesPerSecond: Math.round((after.walBytes - before.walBytes) / spanS),
    leasesExpired: after.leasesExpired - before.leasesExpired,
  };
}

function pick(w: ReturnType<typeof stats>): Omit<NonNullable<PhaseFigures['writes']>, 'errors' | 'errorsByCode'> {
  return { count: w.count, opsPerSecond: w.opsPerSecond, p50Ms: w.p50Ms, p99Ms: w.p99Ms, maxMs: w.maxMs };
}

function heartbeatFigures(hb: HeartbeatWindow): NonNullable<PhaseFigures['heartbeats']> {
  return {
    ok: hb.ok,
    perSecond: Math.round(hb.ok / (hb.spanMs / 1000)),
    failed: hb.failed,
    skipped: hb.skipped,
    errorsByCode: hb.errorsByCode,
    p50Ms: hb.p50Ms,
    p99Ms: hb.p99Ms,
    maxMs: hb.maxMs,
  };
}

function line(f: PhaseFigures): string {
  const w = f.writes;
  const h = f.heartbeats;
  const cpu = Object.entries(f.serverCpuPct)
    .map(([id, p]) => `${id}${id === f.leader ? '*' : ''} ${p}%`)
    .join(' ');
  return (
    `${f.phase}${f.phase === 'A' || f.phase === 'B' ? f.rep : ''} (${f.spanS} s, leader ${f.leader}${f.leaderChanged ? ', CHANGED' : ''}):` +
    (w === null ? '' : ` writes ${w.opsPerSecond}/s p50 ${w.p50Ms} p99 ${w.p99Ms} ms errors ${w.errors};`) +
    (h === null
      ? ''
      : ` beats ${h.perSecond}/s failed ${h.failed} skipped ${h.skipped} p50 ${h.p50Ms} p99 ${h.p99Ms} ms;`) +
    ` cpu ${cpu} (total ${f.serverCpuPctTotal}%), driver ${f.driverCpuPct}%, heartbeaters ${f.heartbeaterCpuPct}%;` +
    (f.cpuUsPerWrite === null ? '' : ` ${f.cpuUsPerWrite.total} µs/write (leader ${f.cpuUsPerWrite.leader});`) +
    ` leader rss ${f.leaderRssMiB} MiB, wal ${f.leaderWalEntriesPerSecond} entries/s ${f.leaderWalBytesPerSecond} B/s; leases expired ${f.leasesExpired}`
  );
}

/**
 * Derived: what a heartbeat costs, two ways. Under load (each A/B pair): B's server CPU less its
 * writes at A's CPU per write, over B's heartbeats. Idle: idle's CPU less quiet's (same span),
 * over idle's heartbeats. Also B's write throughput and p99 over A's, per pair and in the median.
 */
interface Derived {
  pairs: Array<{
    rep: number;
    throughputBOverA: number;
    p99BOverA: number;
    heartbeatUsUnderLoad: { total: number; leader: number };
  }>;
  median: {
    throughputBOverA: number;
    p99BOverA: number;
    heartbeatUsUnderLoadTotal: number;
    heartbeatUsUnderLoadLeader: number;
  };
  idle: { heartbeatUsTotal: number; heartbeatUsLeader: number; cpuPctAdded: Record<string, number> } | null;
}

function derive(phases: readonly PhaseFigures[]): Derived {
  const pairs: Derived['pairs'] = [];
  for (const a of phases.filter((p) => p.phase === 'A')) {
    const b = phases.find((p) => p.phase === 'B' && p.rep === a.rep);
    if (b?.writes == null || a.writes === null || b.heartbeats === null || a.cpuUsPerWrite === null) continue;
    const beats = Math.max(1, b.heartbeats.perSecond * b.spanS);
    const rest = (cpuS: number, usPerWrite: number): number =>
      Math.round((1e6 * cpuS - usPerWrite * (b.writes?.count ?? 0)) / beats);
    pairs.push({
      rep: a.rep,
      throughputBOverA: +(b.writes.opsPerSecond / Math.max(1, a.writes.opsPerSecond)).toFixed(3),
      p99BOverA: +(b.writes.p99Ms / Math.max(0.01, a.writes.p99Ms)).toFixed(2),
      heartbeatUsUnderLoad: {
        total: rest(sum(b.serverCpuS), a.cpuUsPerWrite.total),
        leader: rest(b.serverCpuS[b.leader] ?? 0, a.cpuUsPerWrite.leader),
      },
    });
  }
  return {
    pairs,
    median: {
      throughputBOverA: median(pairs.map((p) => p.throughputBOverA)),
      p99BOverA: median(pairs.map((p) => p.p99BOverA)),
      heartbeatUsUnderLoadTotal: median(pairs.map((p) => p.heartbeatUsUnderLoad.total)),
      heartbeatUsUnderLoadLeader: median(pairs.map((p) => p.heartbeatUsUnderLoad.leader)),
    },
    idle: idleCost(phases),
  };
}

function idleCost(phases: readonly PhaseFigures[]): Derived['idle'] {
  const quiet = phases.find((p) => p.phase === 'quiet');
  const idle = phases.find((p) => p.phase === 'idle');
  if (quiet === undefined || idle?.heartbeats == null) return null;
  const beats = Math.max(1, idle.heartbeats.ok);
  const added = (id: string): number =>
    (idle.serverCpuS[id] ?? 0) - ((quiet.serverCpuS[id] ?? 0) * idle.spanS) / quiet.spanS;
  const cpuPctAdded: Record<string, number> = {};
  for (const id of Object.keys(idle.serverCpuS)) cpuPctAdded[id] = Math.round((100 * added(id)) / idle.spanS);
  const total = Object.keys(idle.serverCpuS).reduce((s, id) => s + added(id), 0);
  return {
    heartbeatUsTotal: Math.round((1e6 * total) / beats),
    heartbeatUsLeader: Math.round((1e6 * added(idle.leader)) / beats),
    cpuPctAdded,
  };
}

function sum(xs: Record<string, number>): number {
  return Object.values(xs).reduce((a, b) => a + b, 0);
}

function report(phases: readonly PhaseFigures[], d: Derived): void {
  say('summary:');
  for (const p of d.pairs)
    say(
      `  pair ${p.rep}: writes B/A ${p.throughputBOverA}, p99 B/A ${p.p99BOverA}; a heartbeat under load costs ${p.heartbeatUsUnderLoad.total} µs of server CPU (leader ${p.heartbeatUsUnderLoad.leader} µs)`,
    );
  say(
    `  median: writes B/A ${d.median.throughputBOverA}, p99 B/A ${d.median.p99BOverA}; ${d.median.heartbeatUsUnderLoadTotal} µs per heartbeat (leader ${d.median.heartbeatUsUnderLoadLeader} µs)`,
  );
  if (d.idle !== null)
    say(
      `  idle: a heartbeat costs ${d.idle.heartbeatUsTotal} µs of server CPU (leader ${d.idle.heartbeatUsLeader} µs); CPU added per node ${JSON.stringify(d.idle.cpuPctAdded)} (% of a core)`,
    );
  const failed = phases.reduce((s, p) => s + (p.heartbeats?.failed ?? 0) + (p.writes?.errors ?? 0), 0);
  if (failed > 0) say(`  WARNING: ${failed} calls failed (see the phases)`);
  if (phases.some((p) => p.leaderChanged))
    say('  WARNING: the leader changed during a phase; its leader figures mix two nodes');
}

// ---------------------------------------------------------------- the heartbeater child process

type Reply<T extends FromHeartbeaters['type']> = Extract<FromHeartbeaters, { type: T }>;

/** HeartbeaterProcess: the scenario's side of media-heartbeaters.js, one request at a time. */
class HeartbeaterProcess {
  private readonly child: ChildProcess;
  private waiting: { type: string; resolve: (m: FromHeartbeaters) => void; reject: (e: Error) => void } | null = null;
  private exited = false;

  constructor() {
    this.child = fork(join(import.meta.dirname, 'media-heartbeaters.js'), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (m: FromHeartbeaters) => {
      const w = this.waiting;
      if (w === null) return;
      this.waiting = null;
      if (m.type === 'failed') w.reject(new Error(`heartbeaters failed: ${m.error}`));
      else if (m.type !== w.type) w.reject(new Error(`heartbeaters answered ${m.type}, expected ${w.type}`));
      else w.resolve(m);
    });
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      this.waiting?.reject(new Error(`heartbeaters exited (code ${code}, signal ${signal})`));
      this.waiting = null;
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  async start(config: HeartbeatersConfig): Promise<void> {
    await this.request({ type: 'start', config }, 'started');
  }

  async window(): Promise<HeartbeatWindow> {
    return (await this.request({ type: 'window' }, 'window')).window;
  }

  async stop(): Promise<void> {
    await this.request({ type: 'stop' }, 'stopped');
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }

  private request<T extends FromHeartbeaters['type']>(m: ToHeartbeaters, type: T): Promise<Reply<T>> {
    if (this.exited) return Promise.reject(new Error('heartbeaters are gone'));
    if (this.waiting !== null) return Promise.reject(new Error('one heartbeater request at a time'));
    return new Promise<Reply<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        reject(new Error(`heartbeaters did not answer ${m.type} within ${MEDIA.childReplyMs} ms`));
      }, MEDIA.childReplyMs);
      this.waiting = {
        type,
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply as Reply<T>);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.child.send(m);
    });
  }
}
