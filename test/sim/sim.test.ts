/**
 * Goal: show that the Raft core keeps its safety properties, and a client history stays
 * linearizable, under any schedule of crashes, partitions, lost, duplicated and reordered
 * messages, slow disks and skewed clocks; and that a healed cluster converges.
 *
 * Method (TigerBeetle's VOPR, STYLE rule 19): each seed draws a cluster (3 or 5 members, each
 * the production RaftNode of src/node with its RaftCore, bootstrapped with config entries; in
 * two thirds of the seeds the nemesis adds, promotes, removes and replaces members online), a
 * state machine (a key-value map, or RoomRegistry with room clients and expiry in about a third
 * of the seeds), a fault mix and a length (faults.ts); the simulator (simulator.ts) runs it in
 * discrete steps with the clock, network and disk swapped for seeded twins (scheduler.ts,
 * network.ts, disk.ts: slow and stalled writes, power cuts that lose or tear the write in
 * flight), checks Election Safety, Log Matching, Leader Completeness and State Machine Safety as
 * nodes persist and apply (checkers/safety.ts), then heals everything, waits for convergence,
 * and checks the final state and the history (checkers/convergence.ts,
 * checkers/linearizability.ts; rooms against test/chaos/room-model.ts).
 *
 * Room seeds also run 2 or 3 media nodes (media-nodes.ts, issue 16): they heartbeat their leases
 * through the cluster and go silent for a while or for good, as the seed decides; clients report
 * occupancy as a media node's share or with no node, and create some rooms on a media node; the
 * simulated sweeper expires leases past due before rooms. Their checks (checkers/leases.ts): no
 * lease expires before its last heartbeat's ttl ran out; an expiry leaves no share or hosted
 * room of the node behind; the room model checks participant counts too (a lease expiry is a
 * pseudo-operation dropping the node's shares). Every media node stops for good within a ttl of
 * the end of the faulty phase, so the healed run goes on until every lease has expired and been
 * swept: then none may be left (leases and shares are in the digest, compared at both
 * convergences), and every room's counts must be its share without a node plus its media nodes'
 * shares, on every replica.
 *
 * Run: `npx vitest run test/sim` runs seeds 1..200 in chunks of 10, plus regression-seeds.ts.
 * `SIM_SEEDS=2000` runs seeds 1..2000 (`SIM_SEEDS_FROM=1001 SIM_SEEDS=1000` runs 1001..2000).
 * `SIM_SEED=123` replays one seed and prints its whole trace on failure. A failure reads
 * `SIM_SEED=<seed> failed: <checker>: <details>`, followed by the last trace lines.
 */
import type * as RegistryLimits from '../../src/registry/registry-limits.js';
import { describe, expect, test, vi } from 'vitest';
import { REGRESSION_SEEDS } from './regression-seeds.js';
import { SeedFailure, type SimResult, checkSeed, runSimulation } from './simulator.js';

/**
 * The simulator shrinks RoomRegistry's dedup table to 256 ids, as faults.ts shrinks the core's
 * bounds: its eviction then happens in every room run, and a restart does not preallocate the
 * production table (100 000 ids), which hundreds of restarts per run cannot afford. Every
 * replica runs with the same value, as production requires. (vi.mock is hoisted: the value
 * must be a literal here.)
 */
vi.mock('../../src/registry/registry-limits.js', async (importOriginal) => {
  const real = await importOriginal<typeof RegistryLimits>();
  return { ...real, REGISTRY_LIMITS: Object.freeze({ ...real.REGISTRY_LIMITS, dedupEntriesMax: 256 }) };
});

/** SEEDS_DEFAULT: 200 seeds take a few seconds; CI and local runs use it. */
const SEEDS_DEFAULT = 200;
/** SEEDS_PER_TEST: one vitest case per chunk, so progress shows and a chunk stays well under its timeout. */
const SEEDS_PER_TEST = 10;
/**
 * CHUNK_TIMEOUT_MS: a chunk takes a few seconds of CPU; the bound only catches a hang, so it
 * is generous enough for a machine shared with much other work.
 */
const CHUNK_TIMEOUT_MS = 600_000;

const singleSeed = process.env['SIM_SEED'];
const seedCount = Number(process.env['SIM_SEEDS'] ?? SEEDS_DEFAULT);
/** SIM_SEEDS_FROM: the first seed (default 1), to split a long run across processes. */
const seedFrom = Number(process.env['SIM_SEEDS_FROM'] ?? 1);
/**
 * REPLAY_SEED runs RoomRegistry through power cuts (one tearing a write), early applies, room
 * expiry and media-node heartbeats and lease expiry; the first seed that does them all since
 * media nodes joined the room seeds (search with runSimulation over seeds 1..).
 */
const REPLAY_SEED = 12;

if (singleSeed !== undefined) {
  test(
    `SIM_SEED=${singleSeed}`,
    async () => {
      const seed = Number(singleSeed);
      let result: SimResult;
      try {
        result = await checkSeed(seed);
      } catch (e) {
        // The whole trace goes to stdout; the error keeps only its tail.
        if (e instanceof SeedFailure) process.stdout.write(`${e.fullTrace.join('\n')}\n`);
        throw e;
      }
      expect(result.ok).toBe(true);
    },
    CHUNK_TIMEOUT_MS,
  );
} else {
  describe.skipIf(REGRESSION_SEEDS.length === 0)('regression seeds', () => {
    for (const r of REGRESSION_SEEDS) {
      test(
        `seed ${r.seed}: ${r.bug}`,
        async () => {
          expect((await checkSeed(r.seed)).ok).toBe(true);
        },
        CHUNK_TIMEOUT_MS,
      );
    }
  });

  test(
    'a seed replays exactly, and drives the real node through power cuts, early applies, room and lease expiry',
    async () => {
      const a = await runSimulation(REPLAY_SEED, { trace: true });
      const b = await runSimulation(REPLAY_SEED, { trace: true });
      expect(a.failure).toBeNull();
      expect(b.trace).toEqual(a.trace);
      expect(a.options.machine).toBe('rooms');
      const s = a.stats;
      expect(
        s === null
          ? null
          : {
              early: s.earlyApplied > 0,
              power: s.powerLosses > 0,
              torn: s.tornWrites > 0,
              expired: s.roomsExpired > 0,
              heartbeats: s.heartbeats > 0,
              leasesExpired: s.leasesExpired > 0,
            },
      ).toEqual({
        early: true,
        power: true,
        torn: true,
        expired: true,
        heartbeats: true,
        leasesExpired: true,
      });
    },
    CHUNK_TIMEOUT_MS,
  );

  const lastSeed = seedFrom + seedCount - 1;
  describe(`seeds ${seedFrom}..${lastSeed}`, () => {
    for (let first = seedFrom; first <= lastSeed; first += SEEDS_PER_TEST) {
      const last = Math.min(lastSeed, first + SEEDS_PER_TEST - 1);
      test(`seeds ${first}..${last}`, () => runChunk(first, last), CHUNK_TIMEOUT_MS);
    }
  });
}

/**
 * runChunk runs every seed of the chunk, prints one line of totals (so a run shows how much
 * it exercised), then fails with the first failure and the list of all failing seeds.
 */
async function runChunk(first: number, last: number): Promise<void> {
  const failures: Error[] = [];
  const failedSeeds: number[] = [];
  const totals = {
    elections: 0,
    crashes: 0,
    powerLosses: 0,
    tornWrites: 0,
    partitions: 0,
    membershipChanges: 0,
    snapshotsInstalled: 0,
    earlyApplied: 0,
    roomRuns: 0,
    roomsExpired: 0,
    heartbeats: 0,
    leasesExpired: 0,
    quotaRefusals: 0,
    versionSetRuns: 0,
    writesOk: 0,
    readsOk: 0,
    linTimeouts: 0,
  };
  for (let seed = first; seed <= last; seed++) {
    try {
      const r = await checkSeed(seed);
      const s = r.stats;
      if (s === null) continue;
      if (r.options.machine === 'rooms') totals.roomRuns++;
      totals.elections += s.leaderElections;
      totals.crashes += s.crashes;
      totals.powerLosses += s.powerLosses;
      totals.tornWrites += s.tornWrites;
      totals.earlyApplied += s.earlyApplied;
      totals.roomsExpired += s.roomsExpired;
      totals.heartbeats += s.heartbeats;
      totals.leasesExpired += s.leasesExpired;
      totals.quotaRefusals += s.quotaRefusals;
      if (s.commandVersionInUse >= 3) totals.versionSetRuns++;
      totals.partitions += s.partitions;
      totals.membershipChanges += s.membershipChanges;
      totals.snapshotsInstalled += s.snapshotsInstalled;
      totals.writesOk += s.writesOk;
      totals.readsOk += s.readsOk;
      if (s.linearizability === 'timeout') totals.linTimeouts++;
    } catch (e) {
      failures.push(e instanceof Error ? e : new Error(String(e)));
      failedSeeds.push(seed);
    }
  }
  const failed = failedSeeds.length === 0 ? '' : ` FAILED=${failedSeeds.join(',')}`;
  console.log(
    `seeds ${first}..${last}: ${Object.entries(totals)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}${failed}`,
  );
  const firstFailure = failures[0];
  if (firstFailure !== undefined) {
    firstFailure.message = `${failures.length} seed(s) failed: ${failedSeeds.join(', ')}\n${firstFailure.message}`;
    throw firstFailure;
  }
}
