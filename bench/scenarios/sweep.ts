// The sweep scenario: a 1 M-room expiry backlog drained under a steady CreateRoom load.
import type { RoomClient } from '../../src/client/room-client.js';
import type { ProcessCluster } from '../../test/harness/process-cluster.js';
import { type DriveResult, drive, stats, sleep } from '../driver.js';
import { BENCH, environment, save, say, clientsFor, closeAll, metadata, startCluster } from './common.js';
import { bulkLoad, withProgress } from './stall-and-load.js';

// ---------------------------------------------------------------- sweep of a 1 M backlog

export async function sweep(args: { rooms: number; ratePerSecondGuess: number }): Promise<void> {
  const env = environment();
  const cluster = await startCluster();
  try {
    const leader = await cluster.waitForLeader();
    const backlog = await loadBacklog(cluster, leader, args);
    const drained = await steadyLoadUntilDrained(cluster, leader, backlog, args.rooms);
    report(env, args.rooms, backlog, drained);
  } finally {
    await cluster.stop();
  }
}

interface Backlog {
  readonly prefix: string;
  readonly dueAtMs: number;
  readonly roomsAtLoad: number;
  readonly load: Awaited<ReturnType<typeof bulkLoad>>;
}

/**
 * loadBacklog loads the rooms so that every one falls due at one moment, after the load and a baseline of steady
 * load: the timeout of each room is what remains until then (so all are overdue together).
 */
async function loadBacklog(
  cluster: ProcessCluster,
  leader: string,
  args: { rooms: number; ratePerSecondGuess: number },
): Promise<Backlog> {
  const prefix = `s-${Date.now().toString(36)}`;
  const loadEstimateMs = (args.rooms / args.ratePerSecondGuess) * 1000 * 1.3 + 10_000;
  const dueAtMs = Date.now() + loadEstimateMs + BENCH.sweepBaselineMs + 5_000;
  const timeoutS = (): number => Math.max(1, Math.ceil((dueAtMs - Date.now()) / 1000));
  say(
    `sweep: loading ${args.rooms} rooms due at ${new Date(dueAtMs).toISOString()} (estimate ${Math.round(loadEstimateMs / 1000)} s of load)`,
  );
  const load = await withProgress(cluster, leader, 15_000, bulkLoad(cluster, leader, args.rooms, prefix, timeoutS));
  say(`sweep: loaded in ${load.seconds} s (${load.roomsPerSecond} rooms/s)`);
  const roomsAtLoad = (await cluster.status(leader))?.rooms ?? 0;
  if (Date.now() > dueAtMs - 5_000)
    say(
      'sweep: WARNING the load overran the estimate: part of the backlog was due while loading (pass a lower --rate-guess)',
    );
  return { prefix, dueAtMs, roomsAtLoad, load };
}

interface Drained {
  readonly r: DriveResult;
  /** steadyStartMs: wall time the steady load began (its results are relative to it). */
  readonly steadyStartMs: number;
  readonly firstDropMs: number | null;
  readonly drainedMs: number | null;
  readonly timeline: { tMs: number; rooms: (number | null)[] }[];
}

/** steadyLoadUntilDrained runs a steady CreateRoom load spread over all nodes from now until the backlog is gone. */
async function steadyLoadUntilDrained(
  cluster: ProcessCluster,
  leader: string,
  backlog: Backlog,
  rooms: number,
): Promise<Drained> {
  const clients = clientsFor(cluster, cluster.grpcTargets(), BENCH.channelsPerTarget);
  let stop = false;
  let steadyStarted = 0;
  const steady = drive({
    concurrencyMax: 256,
    durationMs: Math.max(0, backlog.dueAtMs - Date.now()) + BENCH.sweepDrainMsMax,
    ratePerSecond: BENCH.sweepSteadyRatePerSecond,
    stop: () => stop,
    op: async (worker, seq) => {
      steadyStarted++;
      await (clients[worker % clients.length] as RoomClient).createRoom(
        { name: `${backlog.prefix}-steady-${seq}`, metadata, emptyTimeout: BENCH.longTimeoutS },
        BENCH.callDeadlineMs,
      );
    },
  });
  const steadyStartMs = Date.now();
  // The backlog is drained when no node holds more rooms than the steady load has created (the
  // steady rooms never expire; the slack is the steady creates still in flight, a handful).
  const baseRooms = backlog.roomsAtLoad - rooms;
  let firstDropMs: number | null = null;
  let drainedMs: number | null = null;
  const timeline: { tMs: number; rooms: (number | null)[] }[] = [];
  while (Date.now() < backlog.dueAtMs + BENCH.sweepDrainMsMax) {
    await sleep(250);
    const counts = await Promise.all(cluster.nodes.map(async (n) => (await cluster.status(n.id))?.rooms ?? null));
    timeline.push({ tMs: Date.now() - steadyStartMs, rooms: counts });
    const leaderRooms = counts[cluster.nodes.findIndex((n) => n.id === leader)] ?? null;
    if (firstDropMs === null && leaderRooms !== null && leaderRooms < backlog.roomsAtLoad) firstDropMs = Date.now();
    if (counts.every((x) => x !== null && x <= baseRooms + steadyStarted)) {
      drainedMs = Date.now();
      break;
    }
  }
  await sleep(3_000);
  stop = true;
  const r = await steady;
  closeAll(clients);
  return { r, steadyStartMs, firstDropMs, drainedMs, timeline };
}

/** report prints and saves the sweep's figures: CreateRoom latency before and during the drain, per 10 s window. */
function report(env: ReturnType<typeof environment>, rooms: number, backlog: Backlog, drained: Drained): void {
  const { r, firstDropMs, drainedMs } = drained;
  const { dueAtMs } = backlog;
  const dueRel = dueAtMs - drained.steadyStartMs;
  const before = stats(r, 2_000, dueRel);
  const during = drainedMs === null ? null : stats(r, dueRel, drainedMs - drained.steadyStartMs);
  const drainS = drainedMs === null ? null : +((drainedMs - dueAtMs) / 1000).toFixed(1);
  const windows = windowsOf(r, dueRel);
  const lastBefore = stats(r, Math.max(2_000, dueRel - 30_000), dueRel);
  say(`sweep: p99 per 10 s window (s from due): ${windows.map((w) => `${w.fromS}:${w.p99Ms}`).join(' ')}`);
  say(
    `sweep: CreateRoom in the 30 s before due: p50 ${lastBefore.p50Ms} p99 ${lastBefore.p99Ms} max ${lastBefore.maxMs} ms`,
  );
  say(
    `sweep: backlog of ${rooms} due at t=${Math.round(dueRel / 1000)} s; first deletions seen ${firstDropMs === null ? 'never' : `${((firstDropMs - dueAtMs) / 1000).toFixed(1)} s after due`}; drained on every node ${drainS === null ? 'NOT within the limit' : `${drainS} s after due`}`,
  );
  say(
    `sweep: CreateRoom at ${BENCH.sweepSteadyRatePerSecond}/s before: p50 ${before.p50Ms} p99 ${before.p99Ms} max ${before.maxMs} ms; during: p50 ${during?.p50Ms} p99 ${during?.p99Ms} max ${during?.maxMs} ms; errors ${r.errors} ${JSON.stringify(r.errorsByCode)}`,
  );
  save('sweep', env, {
    rooms,
    load: backlog.load,
    steadyRatePerSecond: BENCH.sweepSteadyRatePerSecond,
    drainSeconds: drainS,
    firstDeletionAfterDueSeconds: firstDropMs === null ? null : +((firstDropMs - dueAtMs) / 1000).toFixed(1),
    createBefore: before,
    createLast30sBefore: lastBefore,
    createDuring: during,
    p99RatioVsLast30sBefore:
      during === null || lastBefore.p99Ms === 0 ? null : +(during.p99Ms / lastBefore.p99Ms).toFixed(2),
    windows,
    p99Ratio: during === null || before.p99Ms === 0 ? null : +(during.p99Ms / before.p99Ms).toFixed(2),
    errors: r.errors,
    errorsByCode: r.errorsByCode,
    timeline: drained.timeline,
  });
}

/** windowsOf: p99 per 10 s window, to tell the sweep's effect from the after-load snapshots and other load. */
function windowsOf(
  r: DriveResult,
  dueRel: number,
): { fromS: number; p50Ms: number; p99Ms: number; maxMs: number; count: number }[] {
  const windows: { fromS: number; p50Ms: number; p99Ms: number; maxMs: number; count: number }[] = [];
  for (let t = 0; t < r.elapsedMs; t += 10_000) {
    const w = stats(r, t, Math.min(r.elapsedMs, t + 10_000));
    windows.push({
      fromS: Math.round((t - dueRel) / 1000),
      p50Ms: w.p50Ms,
      p99Ms: w.p99Ms,
      maxMs: w.maxMs,
      count: w.count,
    });
  }
  return windows;
}
