/**
 * Goal: show that the Raft core keeps its safety properties, and a client history stays
 * linearizable, under any schedule of crashes, partitions, lost, duplicated and reordered
 * messages, slow disks and skewed clocks; and that a healed cluster converges.
 *
 * Method (TigerBeetle's VOPR, STYLE rule 19): each seed draws a cluster (3 or 5 nodes of the
 * real RaftCore), a fault mix and a length (faults.ts); the simulator (simulator.ts) runs it in
 * discrete steps with the clock, network and disk swapped for seeded twins, checks Election
 * Safety, Log Matching, Leader Completeness and State Machine Safety after every step
 * (checkers/safety.ts), then heals everything, waits for convergence, and checks the final
 * state and the history (checkers/convergence.ts, checkers/linearizability.ts).
 *
 * Run: `npx vitest run test/sim` runs seeds 1..200 in chunks of 50, plus regression-seeds.ts.
 * `SIM_SEEDS=2000` runs seeds 1..2000. `SIM_SEED=123` replays one seed and prints its whole
 * trace on failure. A failure reads `SIM_SEED=<seed> failed: <checker>: <details>`, followed by
 * the last trace lines.
 */
import { describe, expect, test } from 'vitest';
import { REGRESSION_SEEDS } from './regression-seeds.js';
import { SeedFailure, type SimResult, checkSeed } from './simulator.js';

/** SEEDS_DEFAULT: 200 seeds take a few seconds; CI and local runs use it. */
const SEEDS_DEFAULT = 200;
/** SEEDS_PER_TEST: one vitest case per chunk, so progress shows and a chunk stays well under its timeout. */
const SEEDS_PER_TEST = 50;

const singleSeed = process.env['SIM_SEED'];
const seedCount = Number(process.env['SIM_SEEDS'] ?? SEEDS_DEFAULT);

if (singleSeed !== undefined) {
  test(`SIM_SEED=${singleSeed}`, () => {
    const seed = Number(singleSeed);
    let result: SimResult;
    try {
      result = checkSeed(seed);
    } catch (e) {
      // The whole trace goes to stdout; the error keeps only its tail.
      if (e instanceof SeedFailure) process.stdout.write(`${e.fullTrace.join('\n')}\n`);
      throw e;
    }
    expect(result.ok).toBe(true);
  });
} else {
  describe.skipIf(REGRESSION_SEEDS.length === 0)('regression seeds', () => {
    for (const r of REGRESSION_SEEDS) {
      test(`seed ${r.seed}: ${r.bug}`, () => {
        expect(checkSeed(r.seed).ok).toBe(true);
      });
    }
  });

  describe(`seeds 1..${seedCount}`, () => {
    for (let first = 1; first <= seedCount; first += SEEDS_PER_TEST) {
      const last = Math.min(seedCount, first + SEEDS_PER_TEST - 1);
      test(`seeds ${first}..${last}`, () => runChunk(first, last));
    }
  });
}

/**
 * runChunk runs every seed of the chunk, prints one line of totals (so a run shows how much
 * it exercised), then fails with the first failure and the list of all failing seeds.
 */
function runChunk(first: number, last: number): void {
  const failures: Error[] = [];
  const failedSeeds: number[] = [];
  const totals = { elections: 0, crashes: 0, partitions: 0, snapshotsInstalled: 0, writesOk: 0, readsOk: 0, linTimeouts: 0 };
  for (let seed = first; seed <= last; seed++) {
    try {
      const s = checkSeed(seed).stats;
      if (s === null) continue;
      totals.elections += s.leaderElections;
      totals.crashes += s.crashes;
      totals.partitions += s.partitions;
      totals.snapshotsInstalled += s.snapshotsInstalled;
      totals.writesOk += s.writesOk;
      totals.readsOk += s.readsOk;
      if (s.linearizability === 'timeout') totals.linTimeouts++;
    } catch (e) {
      failures.push(e instanceof Error ? e : new Error(String(e)));
      failedSeeds.push(seed);
    }
  }
  console.log(`seeds ${first}..${last}: ${Object.entries(totals).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  const firstFailure = failures[0];
  if (firstFailure !== undefined) {
    firstFailure.message = `${failures.length} seed(s) failed: ${failedSeeds.join(', ')}\n${firstFailure.message}`;
    throw firstFailure;
  }
}
