/**
 * The benchmark scenarios of issue 7 (and 14, 15, 16), one subcommand each (the Makefile's bench-* targets):
 *
 *   node dist/bench/scenarios.js throughput      [--etcd auto|off|require] [--reps 3] [--duration-s 5] [--spread-only]
 *   node dist/bench/scenarios.js failover        [--reps 5]
 *   node dist/bench/scenarios.js million         [--rooms 1000000]
 *   node dist/bench/scenarios.js sweep           [--rooms 1000000]
 *   node dist/bench/scenarios.js profile         [--duration-s 15] [--op write] [--clients spread|leader|session]
 *   node dist/bench/scenarios.js learner-reads   [--duration-s 3] [--reps 1]
 *   node dist/bench/scenarios.js rolling-restart
 *   node dist/bench/scenarios.js media-heartbeats [--reps 2] [--duration-s 10]
 *
 * Every scenario runs 3 nodes (learner-reads adds a fourth, as a learner; media-heartbeats adds a
 * child process simulating 1 000 media nodes) on 127.0.0.1 (free ports, temp dirs, --fsync
 * always), prints one line per figure and writes bench/results/<scenario>.json with the
 * environment (date, git rev, cores, memory, load average before and after: other work on the
 * machine skews the figures).
 * Every process it starts is killed at the end, also on failure, and every loop is bounded.
 */
import { parseArgs } from 'node:util';
import { killAllLive } from '../test/harness/process-cluster.js';
import { BENCH } from './scenarios/common.js';
import { throughput } from './scenarios/throughput.js';
import { failover } from './scenarios/failover.js';
import { million } from './scenarios/million.js';
import { sweep } from './scenarios/sweep.js';
import { profile, profileClients, profileOp } from './scenarios/profile.js';
import { learnerReads } from './scenarios/learner-reads.js';
import { rollingRestart } from './scenarios/rolling-restart.js';
import { mediaHeartbeats } from './scenarios/media-heartbeats.js';

// No server outlives the benchmark, also when it is interrupted.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAllLive();
    process.exit(130);
  });
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
      clients: { type: 'string', default: 'spread' },
      'spread-only': { type: 'boolean', default: false },
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
      return throughput({
        reps: num(values.reps, 1),
        durationS: num(values['duration-s'], 5),
        etcd: values.etcd,
        ops: values.ops.split(','),
        spreadOnly: values['spread-only'],
      });
    case 'failover':
      return failover({ reps: num(values.reps, 5) });
    case 'million':
      return million({
        rooms: num(values.rooms, 1_000_000),
        snapshotIntervalEntries:
          values['snapshot-interval-entries'] === undefined ? null : num(values['snapshot-interval-entries'], 0),
      });
    case 'sweep':
      return sweep({
        rooms: num(values.rooms, 1_000_000),
        ratePerSecondGuess: num(values['rate-guess'], BENCH.bulkRatePerSecondGuess),
      });
    case 'profile':
      return profile({
        durationS: num(values['duration-s'], 15),
        concurrency: num(values.concurrency, 64),
        op: profileOp(values.op),
        clients: profileClients(values.clients),
      });
    case 'learner-reads':
      return learnerReads({ durationS: num(values['duration-s'], 3), reps: num(values.reps, 1) });
    case 'rolling-restart':
      return rollingRestart();
    case 'media-heartbeats':
      return mediaHeartbeats({ reps: num(values.reps, 2), durationS: num(values['duration-s'], 10) });
    default:
      throw new Error(
        `usage: scenarios.js throughput|failover|million|sweep|profile|learner-reads|rolling-restart|media-heartbeats [flags]; got ${scenario ?? 'nothing'}`,
      );
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
