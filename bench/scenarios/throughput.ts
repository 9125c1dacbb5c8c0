// The throughput scenario: writes and reads at several concurrencies, side by side with etcd when it is installed.
import { readFileSync } from 'node:fs';
import { type DriveResult, median, stats } from '../driver.js';
import { ETCD_INSTALL_HINT, EtcdCluster, etcdBinary, etcdVersion } from '../etcd-cluster.js';
import {
  BENCH,
  environment,
  save,
  say,
  type SystemUnderTest,
  registrySystem,
  etcdSystem,
  startCluster,
} from './common.js';

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
async function measured(
  system: SystemUnderTest,
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
  }[];
  median: { opsPerSecond: number; p50Ms: number; p99Ms: number };
}

function row(system: string, op: string, concurrency: number): ThroughputRow {
  return { system, op, concurrency, reps: [], median: { opsPerSecond: 0, p50Ms: 0, p99Ms: 0 } };
}

// eslint-disable-next-line max-lines-per-function -- TODO(#19): break into steps
export async function throughput(args: {
  reps: number;
  durationS: number;
  etcd: string;
  ops: string[];
}): Promise<void> {
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
  const cluster = await startCluster();
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
    const record = (
      system: string,
      op: string,
      concurrency: number,
      m: { r: DriveResult; serverCpuPct: number[]; clientCpuPct: number },
    ): void => {
      const r = m.r;
      const key = `${system}/${op}/${concurrency}`;
      const entry = rows.get(key) ?? row(system, op, concurrency);
      rows.set(key, entry);
      const s = stats(r);
      entry.reps.push({
        opsPerSecond: s.opsPerSecond,
        p50Ms: s.p50Ms,
        p99Ms: s.p99Ms,
        maxMs: s.maxMs,
        errors: r.errors,
        serverCpuPct: m.serverCpuPct,
        clientCpuPct: m.clientCpuPct,
      });
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
          for (const s of systems)
            record(
              s.name,
              'write',
              c,
              await measured(s, () => s.write(c, durationMs, `w-${rep}-${c}-${Date.now().toString(36)}`)),
            );
        }
        const c = BENCH.leaderAimedConcurrency;
        record(
          aimed.name,
          'write',
          c,
          await measured(aimed, () => aimed.write(c, durationMs, `wl-${rep}-${Date.now().toString(36)}`)),
        );
      }
      if (args.ops.includes('read')) {
        for (const s of systems) {
          record(
            s.name,
            'read-linearizable',
            BENCH.readConcurrency,
            await measured(s, () =>
              s.read('linearizable', BENCH.readConcurrency, durationMs, readPrefix, BENCH.readRooms),
            ),
          );
          // etcd's nearest counterpart of LOCAL is a serializable (member-local) get.
          record(
            s.name,
            s.name === 'etcd' ? 'read-serializable' : 'read-local',
            BENCH.readConcurrency,
            await measured(s, () => s.read('local', BENCH.readConcurrency, durationMs, readPrefix, BENCH.readRooms)),
          );
        }
      }
    }
    for (const r of rows.values()) {
      r.median = {
        opsPerSecond: median(r.reps.map((x) => x.opsPerSecond)),
        p50Ms: median(r.reps.map((x) => x.p50Ms)),
        p99Ms: median(r.reps.map((x) => x.p99Ms)),
      };
    }
    const get = (system: string, op: string, c: number): ThroughputRow | undefined => rows.get(`${system}/${op}/${c}`);
    const ratios: Record<string, number> = {};
    if (etcd !== null) {
      for (const c of BENCH.writeConcurrencies) {
        const ours = get('room-registry', 'write', c);
        const theirs = get('etcd', 'write', c);
        if (ours !== undefined && theirs !== undefined) {
          ratios[`write c=${c} throughput ours/etcd`] = +(
            ours.median.opsPerSecond / theirs.median.opsPerSecond
          ).toFixed(2);
          ratios[`write c=${c} p99 ours/etcd`] = +(ours.median.p99Ms / theirs.median.p99Ms).toFixed(2);
        }
      }
      const aimedRow = get('room-registry@leader', 'write', BENCH.leaderAimedConcurrency);
      const etcdAtSame = get('etcd', 'write', BENCH.leaderAimedConcurrency);
      if (aimedRow !== undefined && etcdAtSame !== undefined) {
        ratios[`write c=${BENCH.leaderAimedConcurrency} leader-aware client, throughput ours/etcd`] = +(
          aimedRow.median.opsPerSecond / etcdAtSame.median.opsPerSecond
        ).toFixed(2);
        ratios[`write c=${BENCH.leaderAimedConcurrency} leader-aware client, p99 ours/etcd`] = +(
          aimedRow.median.p99Ms / etcdAtSame.median.p99Ms
        ).toFixed(2);
      }
      const lin = get('room-registry', 'read-linearizable', BENCH.readConcurrency);
      const local = get('room-registry', 'read-local', BENCH.readConcurrency);
      const etcdLin = get('etcd', 'read-linearizable', BENCH.readConcurrency);
      const etcdSer = get('etcd', 'read-serializable', BENCH.readConcurrency);
      if (lin !== undefined && etcdLin !== undefined)
        ratios['linearizable read ours/etcd linearizable'] = +(
          lin.median.opsPerSecond / etcdLin.median.opsPerSecond
        ).toFixed(2);
      if (local !== undefined && etcdLin !== undefined)
        ratios['LOCAL read ours/etcd linearizable'] = +(
          local.median.opsPerSecond / etcdLin.median.opsPerSecond
        ).toFixed(2);
      if (local !== undefined && etcdSer !== undefined)
        ratios['LOCAL read ours/etcd serializable'] = +(
          local.median.opsPerSecond / etcdSer.median.opsPerSecond
        ).toFixed(2);
    }
    say('medians:');
    for (const r of rows.values())
      say(
        `  ${r.system} ${r.op} c=${r.concurrency}: ${r.median.opsPerSecond} ops/s p50 ${r.median.p50Ms} ms p99 ${r.median.p99Ms} ms (${r.reps.length} reps)`,
      );
    for (const [k, v] of Object.entries(ratios)) say(`  ratio ${k}: ${v}`);
    save(
      args.ops.length === 1
        ? `throughput-${args.ops[0] ?? ''}${etcd === null ? '' : '-compare'}`
        : `throughput${etcd === null ? '' : '-compare'}`,
      env,
      {
        durationS: args.durationS,
        repsRequested: args.reps,
        etcd: etcdInfo,
        rows: [...rows.values()],
        ratios,
      },
    );
  } finally {
    for (const s of systems) await s.close();
    await atLeader?.close();
    await etcd?.stop();
    await cluster.stop();
  }
}
