// The failover scenario: kill -9 of the leader under load, the longest write gap and the time back to 90% throughput.
import type { RoomClient } from '../../src/client/room-client.js';
import type { ProcessCluster } from '../../test/harness/process-cluster.js';
import { type DriveResult, drive, longestGapMs, median, perBucket, stats, sleep } from '../driver.js';
import { BENCH, environment, save, say, clientsFor, closeAll, metadata, startCluster } from './common.js';

// ---------------------------------------------------------------- failover

/** FailoverRun: one kill of the leader under load, as measured. */
interface FailoverRun {
  killed: string;
  newLeader: string;
  gapMs: number;
  backTo90PctMs: number;
  baselineOpsPerSecond: number;
  errors: number;
  errorsByCode: Record<string, number>;
}

export async function failover(args: { reps: number }): Promise<void> {
  const env = environment();
  const cluster = await startCluster();
  const clients = clientsFor(cluster, cluster.grpcTargets(), BENCH.channelsPerTarget);
  const runs: FailoverRun[] = [];
  try {
    for (let rep = 0; rep < args.reps; rep++) {
      const run = await killLeaderUnderLoad(cluster, clients, `fo-${rep}-${Date.now().toString(36)}`);
      runs.push(run);
      say(
        `failover ${rep + 1}/${args.reps}: killed ${run.killed}, new leader ${run.newLeader}, write gap ${run.gapMs} ms, back to 90% of ${run.baselineOpsPerSecond} ops/s after ${run.backTo90PctMs} ms, errors ${run.errors} ${JSON.stringify(run.errorsByCode)}`,
      );
      // Bring the killed node back and let it catch up before the next round.
      cluster.start(run.killed);
      const s = await cluster.status(run.newLeader);
      await cluster.waitForApplied(run.killed, s?.commitIndex ?? 0, 60_000);
    }
    const summary = summarizeRuns(runs);
    say(
      `failover median write gap ${summary.medianGapMs} ms (max ${summary.maxGapMs}), median back-to-90% ${summary.medianBackTo90PctMs} ms over ${runs.length} kills`,
    );
    save('failover', env, { concurrency: BENCH.failoverConcurrency, runs, ...summary });
  } finally {
    closeAll(clients);
    await cluster.stop();
  }
}

/** killLeaderUnderLoad runs the steady write load, kills the leader (kill -9) part way and measures the gap. */
async function killLeaderUnderLoad(
  cluster: ProcessCluster,
  clients: readonly RoomClient[],
  prefix: string,
): Promise<FailoverRun> {
  const leader = await cluster.waitForLeader();
  // Each worker sticks to a client; when its node fails it backs off and moves to the next one,
  // as a client with the node list would.
  const choice = Array.from({ length: BENCH.failoverConcurrency }, (_, w) => w);
  const load = drive({
    concurrencyMax: BENCH.failoverConcurrency,
    durationMs: BENCH.failoverBeforeMs + BENCH.failoverAfterMs,
    errorBackoffMs: BENCH.failoverBackoffMs,
    op: async (worker, seq) => {
      const k = choice[worker] ?? worker;
      try {
        await (clients[k % clients.length] as RoomClient).createRoom(
          { name: `${prefix}-${seq}`, metadata, emptyTimeout: BENCH.longTimeoutS },
          BENCH.callDeadlineMs,
        );
      } catch (e) {
        choice[worker] = k + BENCH.channelsPerTarget; // the same channel slot on the next node
        throw e;
      }
    },
  });
  const loadStartMs = performance.now();
  await sleep(BENCH.failoverBeforeMs);
  const killAtMs = performance.now() - loadStartMs;
  await cluster.kill(leader, 'SIGKILL');
  const r = await load;
  const newLeader = await cluster.waitForLeader();
  const baseline = stats(r, 1_000, killAtMs).opsPerSecond; // the first second warms connections up
  const { gapMs } = longestGapMs(r, killAtMs - 1_000, r.elapsedMs);
  return {
    killed: leader,
    newLeader,
    gapMs: Math.round(gapMs),
    backTo90PctMs: Math.round(backTo90PctMs(r, killAtMs, baseline)),
    baselineOpsPerSecond: baseline,
    errors: r.errors,
    errorsByCode: r.errorsByCode,
  };
}

/** backTo90PctMs: from the kill until a recovery window first reaches 90% of the baseline; -1 when none did. */
function backTo90PctMs(r: DriveResult, killAtMs: number, baselineOpsPerSecond: number): number {
  const buckets = perBucket(r, 100);
  const windowBuckets = BENCH.recoveryWindowMs / 100;
  for (let b = Math.floor(killAtMs / 100); b + windowBuckets <= buckets.length; b++) {
    const sum = buckets.slice(b, b + windowBuckets).reduce((s, x) => s + x, 0);
    if (sum / (BENCH.recoveryWindowMs / 1000) >= 0.9 * baselineOpsPerSecond)
      return b * 100 + BENCH.recoveryWindowMs - killAtMs;
  }
  return -1;
}

function summarizeRuns(runs: readonly FailoverRun[]): {
  medianGapMs: number;
  medianBackTo90PctMs: number;
  notBackWithinWindow: number;
  maxGapMs: number;
} {
  // A run that never got back to 90% within the window (-1) counts as longer than any that did.
  const backs = runs.map((x) => (x.backTo90PctMs < 0 ? Infinity : x.backTo90PctMs));
  const backMedian = median(backs);
  return {
    medianGapMs: median(runs.map((x) => x.gapMs)),
    medianBackTo90PctMs: Number.isFinite(backMedian) ? backMedian : -1,
    notBackWithinWindow: backs.filter((x) => !Number.isFinite(x)).length,
    maxGapMs: Math.max(...runs.map((x) => x.gapMs)),
  };
}
