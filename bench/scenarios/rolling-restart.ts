// The rolling-restart scenario (issue 15 item 5): steady writes and reads through ClusterRoomClient while every node restarts in turn.
import { loadavg } from 'node:os';
import { ClusterRoomClient } from '../../src/client/cluster-client.js';
import { type ProcessCluster, waitUntil } from '../../test/harness/process-cluster.js';
import { type DriveResult, type LatencyStats, drive, sleep, stats } from '../driver.js';
import { BENCH, benchToken, closeAll, environment, metadata, save, say, startCluster } from './common.js';

/** ROLL: the shape of the scenario (STYLE rule 7: each bound named, with why). */
const ROLL = Object.freeze({
  /** concurrency: steady callers, half writing, half reading; enough load to see a stall, little enough for 2 shared cores. */
  concurrency: 16,
  /** beforeMs: load before the roll, the baseline (its first second warms the connections up). */
  beforeMs: 6_000,
  /** warmUpMs: left out of the baseline. */
  warmUpMs: 1_000,
  /** afterMs: load after the last node caught up, to see the cluster settle. */
  afterMs: 3_000,
  /** restartWaitMs: the longest a restarted node may take to answer and catch up. */
  restartWaitMs: 30_000,
  /** loadMsMax: the load's bound; the roll of three nodes takes seconds, this only stops a hung run. */
  loadMsMax: 180_000,
});

interface RestartRecord {
  node: string;
  wasLeader: boolean;
  /** downMs: from SIGTERM until the node answered /status again; caughtUpMs: until it applied the leader's commit. */
  downMs: number;
  caughtUpMs: number;
}

export async function rollingRestart(): Promise<void> {
  const env = environment();
  const cluster = await startCluster();
  // As many connections as the other scenarios, each client with its home on one node, as callers in each region.
  const clients = Array.from(
    { length: BENCH.channelsPerTarget * cluster.nodes.length },
    (_, i) =>
      new ClusterRoomClient(
        cluster.nodes,
        { token: benchToken(cluster) },
        {
          home: cluster.nodes[i % cluster.nodes.length]?.id ?? '',
          channelOptions: { 'grpc.use_local_subchannel_pool': 1 },
        },
      ),
  );
  try {
    const marks = { rollStartMs: 0, rollEndMs: 0 };
    let done = false;
    const startMs = performance.now();
    const load = steadyLoad(clients, `roll-${Date.now().toString(36)}`, () => done);
    await sleep(ROLL.beforeMs);
    marks.rollStartMs = performance.now() - startMs;
    const restarts = await roll(cluster);
    marks.rollEndMs = performance.now() - startMs;
    await sleep(ROLL.afterMs);
    done = true;
    const r = await load;
    const figures = summarize(r, marks);
    report(figures, restarts);
    save('rolling-restart', env, { concurrency: ROLL.concurrency, restarts, ...marks, ...figures });
    if (r.errors > 0) throw new Error(`${r.errors} calls failed during the roll: ${JSON.stringify(r.errorsByCode)}`);
    if (cluster.unexpectedExits.length > 0)
      throw new Error(`unexpected exits: ${JSON.stringify(cluster.unexpectedExits)}`);
  } finally {
    closeAll(clients);
    await cluster.stop();
  }
}

/** steadyLoad: half the calls create a room, half read one acknowledged earlier (LINEARIZABLE, the default), until `stop`. */
function steadyLoad(clients: readonly ClusterRoomClient[], prefix: string, stop: () => boolean): Promise<DriveResult> {
  const acknowledged: string[] = [];
  return drive({
    concurrencyMax: ROLL.concurrency,
    durationMs: ROLL.loadMsMax,
    stop,
    op: async (worker, seq) => {
      const client = clients[worker % clients.length] as ClusterRoomClient;
      if (seq % 2 === 0 || acknowledged.length === 0) {
        const name = `${prefix}-${seq}`;
        await client.createRoom({ name, metadata, emptyTimeout: BENCH.longTimeoutS }, BENCH.callDeadlineMs);
        acknowledged.push(name);
        return 'write';
      }
      const name = acknowledged[Math.floor(Math.random() * acknowledged.length)] ?? '';
      const res = await client.getRoom({ name }, BENCH.callDeadlineMs);
      if (res.room?.name !== name) throw new Error(`read of acknowledged ${name} found ${res.room?.name ?? 'nothing'}`);
      return 'read';
    },
  });
}

/** roll restarts every node in turn, followers first and the leader last (SIGTERM hands its role over), each caught up before the next. */
async function roll(cluster: ProcessCluster): Promise<RestartRecord[]> {
  const leader = await cluster.waitForLeader();
  const order = [...cluster.nodes.filter((n) => n.id !== leader).map((n) => n.id), leader];
  const records: RestartRecord[] = [];
  for (const id of order) {
    const t0 = performance.now();
    await cluster.kill(id, 'SIGTERM');
    cluster.start(id);
    await waitUntil(`${id} answers /status`, async () => (await cluster.status(id)) !== null, ROLL.restartWaitMs);
    const downMs = Math.round(performance.now() - t0);
    const now = await cluster.waitForLeader();
    const target = (await cluster.status(now))?.commitIndex ?? Number.POSITIVE_INFINITY;
    await cluster.waitForApplied(id, target, ROLL.restartWaitMs);
    const record = { node: id, wasLeader: id === leader, downMs, caughtUpMs: Math.round(performance.now() - t0) };
    records.push(record);
    say(
      `restarted ${id}${record.wasLeader ? ' (the leader)' : ''}: answering after ${downMs} ms, caught up after ${record.caughtUpMs} ms; leader now ${now}`,
    );
  }
  return records;
}

/** only keeps the successes labelled `label` (writes or reads) of a run. */
function only(r: DriveResult, label: string): DriveResult {
  const keep = r.labels.map((l, i) => (l === label ? i : -1)).filter((i) => i >= 0);
  return {
    ...r,
    doneMs: keep.map((i) => r.doneMs[i] ?? 0),
    latencyMs: keep.map((i) => r.latencyMs[i] ?? 0),
    labels: keep.map(() => label),
  };
}

type PhaseFigures = Record<'all' | 'write' | 'read', LatencyStats>;

interface RollFigures {
  failedCalls: number;
  errorsByCode: Record<string, number>;
  before: PhaseFigures;
  during: PhaseFigures;
  after: PhaseFigures;
  loadAvgEnd: number[];
}

function summarize(r: DriveResult, marks: { rollStartMs: number; rollEndMs: number }): RollFigures {
  const phase = (from: number, to: number): PhaseFigures => ({
    all: stats(r, from, to),
    write: stats(only(r, 'write'), from, to),
    read: stats(only(r, 'read'), from, to),
  });
  return {
    failedCalls: r.errors,
    errorsByCode: r.errorsByCode,
    before: phase(ROLL.warmUpMs, marks.rollStartMs),
    during: phase(marks.rollStartMs, marks.rollEndMs),
    after: phase(marks.rollEndMs, r.elapsedMs),
    loadAvgEnd: loadavg().map((x) => +x.toFixed(2)),
  };
}

function report(f: RollFigures, restarts: readonly RestartRecord[]): void {
  for (const name of ['before', 'during', 'after'] as const) {
    for (const kind of ['all', 'write', 'read'] as const) {
      const s = f[name][kind];
      say(
        `${name} ${kind}: ${s.count} calls, ${s.opsPerSecond}/s, p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms, max ${s.maxMs} ms`,
      );
    }
  }
  const rollMs = restarts.reduce((sum, x) => sum + x.caughtUpMs, 0);
  say(
    `rolled ${restarts.length} nodes in ${rollMs} ms; failed calls ${f.failedCalls} ${JSON.stringify(f.errorsByCode)}`,
  );
}
