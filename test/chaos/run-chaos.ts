/**
 * run-chaos is `make chaos`: several chaos runs one after another (3 and 5 nodes, several
 * schedules and seeds), a summary per run, exit status 1 if any run failed. It is run from the
 * build (node dist/test/chaos/run-chaos.js), not by vitest, so a long run has no test timeout.
 *
 * CHAOS_SEED=N runs every default plan with seeds N, N+1, ... instead of the fixed ones (a
 * failure prints its seed; one seed replays the same fault schedule and client choices, though
 * not the same timing). CHAOS_SECONDS=S sets the faulty phase of each run (default 40 s).
 * CHAOS_NODES=3|5 and CHAOS_SCHEDULE=mixed|crashes|partitions|power-loss|power-loss-majority|membership narrow the plan to one run.
 */
import { runChaos } from './chaos-run.js';
import { SCHEDULES } from './nemesis.js';

interface Plan {
  readonly nodes: number;
  readonly schedule: string;
  readonly seed: number;
}

/** DEFAULT_PLAN: five runs of CHAOS_SECONDS each, 4-5 minutes in all with the default 40 s. */
const DEFAULT_PLAN: readonly Plan[] = [
  { nodes: 3, schedule: 'mixed', seed: 1 },
  { nodes: 5, schedule: 'mixed', seed: 2 },
  { nodes: 3, schedule: 'partitions', seed: 3 },
  { nodes: 5, schedule: 'crashes', seed: 4 },
  { nodes: 3, schedule: 'membership', seed: 5 },
];
const chaosSecondsDefault = 40;

function envNumber(name: string): number | null {
  const v = process.env[name];
  if (v === undefined || v === '') return null;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${v}`);
  return n;
}

function plan(): Plan[] {
  const seed = envNumber('CHAOS_SEED');
  const nodes = envNumber('CHAOS_NODES');
  const schedule = process.env['CHAOS_SCHEDULE'];
  if (schedule !== undefined && schedule !== '' && SCHEDULES[schedule] === undefined)
    throw new Error(`CHAOS_SCHEDULE must be one of ${Object.keys(SCHEDULES).join(', ')}`);
  if (nodes !== null || (schedule !== undefined && schedule !== '')) {
    return [
      { nodes: nodes ?? 3, schedule: schedule !== undefined && schedule !== '' ? schedule : 'mixed', seed: seed ?? 1 },
    ];
  }
  return DEFAULT_PLAN.map((p, i) => ({ ...p, seed: seed === null ? p.seed : seed + i }));
}

async function main(): Promise<number> {
  const seconds = envNumber('CHAOS_SECONDS') ?? chaosSecondsDefault;
  const runs = plan();
  let failed = 0;
  const started = new Date();
  for (const p of runs) {
    const report = await runChaos({ ...p, seconds, log: (line) => console.log(line) });
    if (!report.passed) failed++;
    console.log('');
  }
  const wallS = ((Date.now() - started.getTime()) / 1000).toFixed(0);
  console.log(
    `chaos: ${runs.length - failed} of ${runs.length} runs passed in ${wallS} s (started ${started.toISOString()})`,
  );
  return failed === 0 ? 0 : 1;
}

// Ctrl-C: exit through process.exit, so the harness's exit hook kills every node it started.
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));
main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(2);
  },
);
