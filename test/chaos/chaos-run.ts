/**
 * runChaos is one chaos run: a real cluster from the built CLI (fault injection on), clients on
 * every node through both public APIs, the nemesis on a seeded schedule for `seconds`, then
 * heal everything, wait for convergence, read every room everywhere and check (final-checks.ts).
 * Whatever happens, every process it started is killed before it returns; on a failure (or when
 * asked) the cluster dir is kept with the history, the fault log and the nodes' logs in it.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SeededRng } from '../../src/lib/rng.js';
import { ProcessCluster } from '../harness/process-cluster.js';
import { ChaosHistory } from './chaos-history.js';
import {
  checkAcknowledgedWrites,
  checkRoomLinearizability,
  recordFinalReads,
  waitForConvergence,
} from './final-checks.js';
import { LeaderObserver } from './leader-observer.js';
import {
  type FaultKind,
  MEMBERSHIP_KINDS,
  NEMESIS_TIMING_DEFAULTS,
  Nemesis,
  type NemesisTiming,
  SCHEDULES,
} from './nemesis.js';
import { type RoomApi, grpcRoomApi, twirpClientTimeoutSeconds, twirpRoomApi } from './room-apis.js';
import { WORKLOAD_DEFAULTS, Workload, type WorkloadOptions } from './workload.js';

export interface ChaosRunOptions {
  readonly nodes: number;
  readonly seed: number;
  readonly seconds: number;
  /** schedule names the fault kinds to draw from (nemesis.ts SCHEDULES). */
  readonly schedule: string;
  readonly timing?: NemesisTiming;
  /** everyKind: run past `seconds` until each kind of the schedule was injected once (the CI run asserts each). */
  readonly everyKind?: boolean;
  readonly workload?: Partial<Omit<WorkloadOptions, 'seed'>>;
  /** serveArgs: extra flags for every node (the teeth test runs --fsync never). */
  readonly serveArgs?: readonly string[];
  /** keep: keep the run's folder even when it passes. */
  readonly keep?: boolean;
  readonly log?: (line: string) => void;
}

export interface ChaosReport {
  readonly title: string;
  readonly passed: boolean;
  readonly problems: readonly string[];
  readonly ops: Readonly<Record<'ok' | 'fail' | 'info', number>>;
  readonly faults: Readonly<Record<FaultKind, number>>;
  readonly faultErrors: number;
  readonly leaderChanges: number;
  readonly summary: string;
  readonly keptDir: string | null;
  readonly wallMs: number;
}

/** snapshotIntervalEntries: small, so restarted nodes catch up through InstallSnapshot too. */
const snapshotIntervalEntries = 1_000;
/** convergenceTimeoutMs: after the heal, the cluster must agree within this. */
const convergenceTimeoutMs = 30_000;
/** checkBudgetMs: the linearizability search gives up ("timeout", a failed run) after this. */
const checkBudgetMs = 60_000;
/**
 * serverDeadlineMs + hangSlackMs: a Twirp call (the server's default 5 s deadline applies) that
 * takes longer than this, while its node was not SIGSTOPped, broke "fail fast, never hang".
 */
const serverDeadlineMs = 5_000;
const hangSlackMs = 2_000;

export async function runChaos(options: ChaosRunOptions): Promise<ChaosReport> {
  const startMs = Date.now();
  const log = options.log ?? (() => undefined);
  const kinds = SCHEDULES[options.schedule];
  if (kinds === undefined)
    throw new Error(`unknown schedule ${options.schedule}; one of ${Object.keys(SCHEDULES).join(', ')}`);
  const title = `chaos: ${options.nodes} nodes, schedule ${options.schedule}, CHAOS_SEED=${options.seed}, ${options.seconds} s`;
  const changesMembers = kinds.some((k) => MEMBERSHIP_KINDS.includes(k));
  const cluster = await ProcessCluster.create(
    options.nodes,
    [
      '--enable-fault-injection',
      '--snapshot-interval-entries',
      String(snapshotIntervalEntries),
      ...(options.serveArgs ?? []),
    ],
    changesMembers ? { spares: 2, adminKey: true } : {},
  );
  const history = new ChaosHistory();
  const nemesis = new Nemesis(cluster, new SeededRng(options.seed), kinds, options.timing ?? NEMESIS_TIMING_DEFAULTS);
  const observer = new LeaderObserver(cluster);
  const problems: string[] = [];
  let keptDir: string | null;
  let lines: string[] = [];
  try {
    cluster.startAll();
    await cluster.waitForLeader();
    log(`${title}: cluster up in ${cluster.dir}`);
    await runFaultyPhase(cluster, history, nemesis, observer, options);
    lines = await checkAfterHeal(cluster, history, nemesis, observer, problems);
  } catch (e) {
    problems.push(`the run itself failed: ${(e as Error).stack ?? String(e)}`, ...exitProblems(cluster));
  } finally {
    nemesis.stop();
    await observer.stop();
    await nemesis.healAll().catch(() => undefined);
    const keep = problems.length > 0 || options.keep === true;
    if (keep) saveRun(cluster.dir, history, nemesis, problems);
    keptDir = await cluster.stop(keep);
  }
  const report = buildReport(title, history, nemesis, observer, problems, lines, keptDir, Date.now() - startMs);
  log(report.summary);
  return report;
}

async function runFaultyPhase(
  cluster: ProcessCluster,
  history: ChaosHistory,
  nemesis: Nemesis,
  observer: LeaderObserver,
  options: ChaosRunOptions,
): Promise<void> {
  const apis: RoomApi[] = cluster.nodes.flatMap((n) => [grpcRoomApi(cluster, n.id), twirpRoomApi(cluster, n.id)]);
  const workload = new Workload(history, apis, { ...WORKLOAD_DEFAULTS, ...options.workload, seed: options.seed });
  observer.start();
  workload.start();
  const faults = nemesis.run(options.everyKind ?? false);
  try {
    await new Promise((r) => setTimeout(r, options.seconds * 1_000));
  } finally {
    // Nothing may outlive the run: the nemesis would restart nodes, the clients keep calling.
    nemesis.stop();
    await faults.finally(() => workload.stop());
  }
  await nemesis.healAll();
  history.closeOpen();
}

/** exitProblems names the nodes that exited on their own, each with the last error it logged. */
function exitProblems(cluster: ProcessCluster): string[] {
  return cluster.unexpectedExits.map((x) => {
    const lines = existsSync(cluster.node(x.id).logFile)
      ? readFileSync(cluster.node(x.id).logFile, 'utf8').split('\n')
      : [];
    const lastError = lines.filter((l) => l.includes('"level":"error"') || l.includes('"level":"fatal"')).pop() ?? '';
    return `${x.id} exited on its own (code ${x.code}, signal ${x.signal}): see ${x.id}.log ${lastError.slice(0, 400)}`;
  });
}

/** checkAfterHeal runs the final checks and returns the summary lines about them. */
async function checkAfterHeal(
  cluster: ProcessCluster,
  history: ChaosHistory,
  nemesis: Nemesis,
  observer: LeaderObserver,
  problems: string[],
): Promise<string[]> {
  await cluster.waitForLeader(convergenceTimeoutMs);
  // The members at the end converge; a node removed by the schedule is gone.
  const members = cluster.nodes.filter((n) => nemesis.members().includes(n.id));
  const convergence = await waitForConvergence(cluster, convergenceTimeoutMs, members);
  await observer.stop();
  problems.push(...observer.violations);
  if (!convergence.converged)
    problems.push(`nodes did not converge within ${convergenceTimeoutMs} ms: ${convergence.details}`);
  const anyState = [...convergence.states.values()][0];
  await recordFinalReads(cluster, history, members);
  const checkStartMs = Date.now();
  const lin = checkRoomLinearizability(history, checkBudgetMs);
  const checkMs = Date.now() - checkStartMs;
  if (lin.verdict === 'illegal') problems.push(`history is not linearizable:\n${lin.details}`);
  if (lin.verdict === 'timeout')
    problems.push(`linearizability check ran out of its ${checkBudgetMs} ms budget (undecided)`);
  const acked = checkAcknowledgedWrites(history.ops, anyState?.rooms ?? new Map());
  problems.push(...acked.violations.map((v) => `acknowledged write lost: ${v}`));
  const hangs = findHangs(history, nemesis);
  problems.push(...hangs.map((h) => `call past its deadline: ${h}`));
  problems.push(...exitProblems(cluster));
  if (history.dropped > 0) problems.push(`history full: ${history.dropped} operations not recorded`);
  return [
    convergence.converged
      ? `converged: applied index ${anyState?.appliedIndex ?? '?'} on all ${members.length} members, ${anyState?.rooms.size ?? 0} rooms, digest ${anyState?.digest.slice(0, 12) ?? '?'}`
      : `NOT converged: ${convergence.details}`,
    `linearizable per room: ${lin.verdict} (${lin.checkedOps} ops checked in ${checkMs} ms)`,
    `acknowledged writes: ${acked.ackedWrites} over ${acked.rooms} rooms, ${acked.violations.length} not reflected`,
    `calls past the deadline (Twirp, node not paused): ${hangs.length}`,
  ];
}

/** findHangs lists Twirp calls slower than the server deadline allows, on a node that was not paused meanwhile. */
function findHangs(history: ChaosHistory, nemesis: Nemesis): string[] {
  const paused = nemesis.pausedIntervals();
  const limitMs = serverDeadlineMs + hangSlackMs;
  const out: string[] = [];
  for (const op of history.ops) {
    if (!op.client.endsWith('/twirp')) continue;
    const node = op.client.split('/')[0];
    const endMs = op.returnMs ?? Number.POSITIVE_INFINITY;
    if (endMs - op.callMs <= limitMs) continue;
    if (paused.some((p) => p.node === node && p.startMs < endMs && p.endMs > op.callMs)) continue;
    const tookMs = Number.isFinite(endMs)
      ? `${Math.round(endMs - op.callMs)} ms`
      : `more than ${twirpClientTimeoutSeconds} s`;
    out.push(`op ${op.id} ${op.client} ${op.kind}(${op.room}) took ${tookMs}: ${op.error || op.type}`);
  }
  return out;
}

function saveRun(dir: string, history: ChaosHistory, nemesis: Nemesis, problems: readonly string[]): void {
  history.write(join(dir, 'history.jsonl'));
  writeFileSync(join(dir, 'faults.json'), `${JSON.stringify(nemesis.events, null, 2)}\n`);
  writeFileSync(join(dir, 'problems.txt'), `${problems.join('\n\n')}\n`);
}

function buildReport(
  title: string,
  history: ChaosHistory,
  nemesis: Nemesis,
  observer: LeaderObserver,
  problems: readonly string[],
  checkLines: readonly string[],
  keptDir: string | null,
  wallMs: number,
): ChaosReport {
  const ops = history.counts();
  const faults = nemesis.counts();
  const faultErrors = nemesis.events.filter((e) => e.error !== '').length;
  const retried = history.ops.filter((op) => op.attempts > 1);
  const notFound = history.ops.filter((op) => op.type === 'fail' && op.observation !== null).length;
  const total = ops.ok + ops.fail + ops.info;
  const passed = problems.length === 0;
  const faultTotal = Object.values(faults).reduce((a, b) => a + b, 0);
  const summary = [
    `${title}: ${passed ? 'PASS' : 'FAIL'} (${(wallMs / 1000).toFixed(1)} s wall)`,
    `  operations ${total}: ok ${ops.ok}, fail ${ops.fail} (${notFound} not found, ${ops.fail - notFound} refused), info ${ops.info}`,
    `  faults ${faultTotal}: ${Object.entries(faults)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}${faultErrors > 0 ? ` (${faultErrors} could not be injected)` : ''}`,
    `  writes retried with their request id: ${retried.length} (${retried.filter((op) => op.type === 'ok').length} then acknowledged)`,
    `  leader changes ${observer.leaderChanges()}`,
    ...checkLines.map((l) => `  ${l}`),
    ...(passed ? [] : [`  problems:\n    ${problems.join('\n').split('\n').slice(0, 40).join('\n    ')}`]),
    ...(keptDir === null ? [] : [`  kept history and node logs in ${keptDir}`]),
  ].join('\n');
  return {
    title,
    passed,
    problems,
    ops,
    faults,
    faultErrors,
    leaderChanges: observer.leaderChanges(),
    summary,
    keptDir,
    wallMs,
  };
}
