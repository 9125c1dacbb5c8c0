/**
 * Goal: the CI version of `make chaos` (issue 6): real 3- and 5-node clusters keep DESIGN §1's
 * promises while the nemesis kills, pauses and partitions them.
 * Method: runChaos (chaos-run.ts) with short faulty phases and quicker faults, fixed seeds;
 * each run checks linearizability per room, that every acknowledged write is reflected, that
 * all nodes converge to one applied index and one state, and that no Twirp call outlived the
 * server's deadline. A failing run keeps its history and the nodes' logs and prints the path.
 * About 60 s of wall time in all; `make chaos` runs the long version.
 */
import { describe, expect, it } from 'vitest';
import { runChaos } from './chaos-run.js';
import { NEMESIS_TIMING_DEFAULTS, SCHEDULES } from './nemesis.js';

/** ciTiming: shorter holds and calm periods, so all eight kinds fit into ~30 s; pauses stay above the election timeout. */
const ciTiming = {
  ...NEMESIS_TIMING_DEFAULTS,
  holdMsMin: 1_200,
  holdMsMax: 2_000,
  pauseMsMin: 2_200,
  quietMsMin: 500,
  quietMsMax: 900,
};
/** runTimeoutMs: the faulty phase, plus start-up, convergence and checks, with room to spare on a busy machine. */
const runTimeoutMs = 120_000;

describe('chaos (CI version)', () => {
  it(
    'a 3-node cluster under every fault kind stays linearizable, loses nothing and converges',
    { timeout: runTimeoutMs },
    async () => {
      const report = await runChaos({
        nodes: 3,
        seed: 11,
        seconds: 30,
        schedule: 'mixed',
        everyKind: true,
        timing: ciTiming,
        log: (l) => console.log(l),
      });
      expect(report.problems, report.summary).toEqual([]);
      for (const kind of SCHEDULES['mixed'] ?? [])
        expect(report.faults[kind], `${kind} was never injected`).toBeGreaterThan(0);
      expect(report.ops.ok).toBeGreaterThan(100);
    },
  );

  it(
    'a 5-node cluster under crashes and partitions stays linearizable, loses nothing and converges',
    { timeout: runTimeoutMs },
    async () => {
      const report = await runChaos({
        nodes: 5,
        seed: 12,
        seconds: 18,
        schedule: 'mixed',
        timing: ciTiming,
        log: (l) => console.log(l),
      });
      expect(report.problems, report.summary).toEqual([]);
      expect(report.ops.ok).toBeGreaterThan(100);
    },
  );

  it(
    'a 3-node cluster whose members are replaced, grown to five and shrunk to three under faults loses nothing',
    { timeout: runTimeoutMs },
    async () => {
      const report = await runChaos({
        nodes: 3,
        seed: 13,
        seconds: 30,
        schedule: 'membership',
        everyKind: true, // the bag grows to five and then shrinks back: both must run
        timing: ciTiming,
        log: (l) => console.log(l),
      });
      expect(report.problems, report.summary).toEqual([]);
      expect(report.faults['replace'], 'no member was replaced').toBeGreaterThan(0);
      expect(report.faults['grow-shrink'], 'the cluster did not grow and shrink').toBeGreaterThan(1);
      expect(report.ops.ok).toBeGreaterThan(100);
    },
  );
});
