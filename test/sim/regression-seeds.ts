/**
 * Seeds that once failed, each with the bug it found. They run on every `vitest run test/sim`,
 * whatever SIM_SEEDS says, so a fixed bug stays fixed. A seed replays only against the
 * simulator version that found it; when the simulator's draws change, the seed still runs
 * (as one more schedule) but may no longer reach the old failure: the comment keeps the story.
 */
export interface RegressionSeed {
  readonly seed: number;
  readonly bug: string;
}

export const REGRESSION_SEEDS: readonly RegressionSeed[] = [];
