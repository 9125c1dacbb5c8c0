// The failover scenario: kill -9 of the leader under load, the longest write gap and the time back to 90% throughput.
import type { RoomClient } from '../../src/client/room-client.js';
import { drive, longestGapMs, median, perBucket, stats, sleep } from '../driver.js';
import { BENCH, environment, save, say, clientsFor, closeAll, metadata, startCluster } from './common.js';

// ---------------------------------------------------------------- failover

// eslint-disable-next-line max-lines-per-function -- TODO(#19): break into steps
export async function failover(args: { reps: number }): Promise<void> {
  const env = environment();
  const cluster = await startCluster();
  const clients = clientsFor(cluster, cluster.grpcTargets(), BENCH.channelsPerTarget);
  // Each worker sticks to a client; when its node fails it backs off and moves to the next one,
  // as a client with the node list would.
  const choice = Array.from({ length: BENCH.failoverConcurrency }, (_, w) => w);
  const runs: {
    killed: string;
    newLeader: string;
    gapMs: number;
    backTo90PctMs: number;
    baselineOpsPerSecond: number;
    errors: number;
    errorsByCode: Record<string, number>;
  }[] = [];
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
      runs.push({
        killed: leader,
        newLeader,
        gapMs: Math.round(gapMs),
        backTo90PctMs: Math.round(backMs),
        baselineOpsPerSecond: baseline,
        errors: r.errors,
        errorsByCode: r.errorsByCode,
      });
      say(
        `failover ${rep + 1}/${args.reps}: killed ${leader}, new leader ${newLeader}, write gap ${Math.round(gapMs)} ms, back to 90% of ${baseline} ops/s after ${Math.round(backMs)} ms, errors ${r.errors} ${JSON.stringify(r.errorsByCode)}`,
      );
      // Bring the killed node back and let it catch up before the next round.
      cluster.start(leader);
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
    say(
      `failover median write gap ${summary.medianGapMs} ms (max ${summary.maxGapMs}), median back-to-90% ${summary.medianBackTo90PctMs} ms over ${runs.length} kills`,
    );
    save('failover', env, { concurrency: BENCH.failoverConcurrency, runs, ...summary });
  } finally {
    closeAll(clients);
    await cluster.stop();
  }
}
