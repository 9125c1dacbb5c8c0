// The learner-reads scenario (issue 14 item 5): GetRoom latency on a regional learner, LOCAL and linearizable, against a follower voter.
import { loadavg } from 'node:os';
import { Consistency } from '../../src/gen/roomregistry/v1/rooms.js';
import { type ProcessCluster, waitUntil } from '../../test/harness/process-cluster.js';
import { drive, median, stats } from '../driver.js';
import { BENCH, clientsFor, closeAll, environment, metadata, save, say, startCluster } from './common.js';

/** LEARNER: the shape of the scenario (STYLE rule 7: each bound named, with why). */
const LEARNER = Object.freeze({
  /** learnerId: the one spare of the cluster; its region (ap-south) has no voter. */
  learnerId: 'n4',
  /** rooms: preloaded for reads to hit (random picks); enough to miss caches, quick to load on a shared machine. */
  rooms: 5_000,
  /** concurrencies: one caller, a busy region, and the read level of the throughput scenario. */
  concurrencies: [1, 16, BENCH.readConcurrency] as const,
  /** joinWaitMs: the longest wait for the spare to answer, be added and catch up. */
  joinWaitMs: 60_000,
  /** catchUpWaitMs: the longest wait for the learner and the follower to apply the preload. */
  catchUpWaitMs: 60_000,
});

type ReadMode = 'local' | 'linearizable';

interface LearnerRow {
  target: 'learner' | 'follower';
  node: string;
  mode: ReadMode;
  concurrency: number;
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  errorsByCode: Record<string, number>;
  /** loadAvg1m: the machine's 1-minute load average when the cell started (it is shared). */
  loadAvg1m: number;
}

export async function learnerReads(args: { durationS: number; reps: number }): Promise<void> {
  const env = environment();
  const cluster = await startCluster({ launch: { spares: 1, adminKey: true } });
  try {
    await addLearner(cluster);
    const prefix = `lr-${Date.now().toString(36)}`;
    await preload(cluster, prefix);
    const leader = await cluster.waitForLeader();
    const follower = cluster.nodes.find((n) => !n.spare && n.id !== leader)?.id ?? '';
    const commitIndex = (await cluster.status(leader))?.commitIndex ?? 0;
    for (const id of [LEARNER.learnerId, follower])
      await cluster.waitForApplied(id, commitIndex, LEARNER.catchUpWaitMs);
    say(`learner ${LEARNER.learnerId} and follower ${follower} applied ${commitIndex}; leader ${leader}`);
    const rows = await measureAll(cluster, { follower, prefix, ...args });
    const medians = mediansOf(rows);
    for (const m of medians)
      say(
        `median ${m.target} ${m.mode} c=${m.concurrency}: ${m.opsPerSecond} reads/s, p50 ${m.p50Ms} ms, p99 ${m.p99Ms} ms`,
      );
    // A leader change during the run would make the "follower" figures a leader's: say so in the record.
    const leaderAtEnd = await cluster.waitForLeader();
    const { learnerId, rooms } = LEARNER;
    save('learner-reads', env, { leader, leaderAtEnd, learner: learnerId, follower, rooms, medians, rows });
    const failed = rows.filter((r) => r.errors > 0);
    if (failed.length > 0) throw new Error(`reads failed in ${failed.length} cells`);
  } finally {
    await cluster.stop();
  }
}

/** addLearner starts the spare with --join and adds it as a learner through the leader (admin key), then waits until it is one. */
async function addLearner(cluster: ProcessCluster): Promise<void> {
  const id = LEARNER.learnerId;
  const n = cluster.node(id);
  cluster.start(id);
  await waitUntil(`${id} answers /status`, async () => (await cluster.status(id)) !== null, LEARNER.joinWaitMs);
  const add = { id, region: n.region, grpc: n.grpc, peer: n.peer, http: n.http, learner: true };
  // The leader may change while the spare starts: ask whoever leads now, until one accepts.
  await waitUntil(
    `${id} is added`,
    async () => (await cluster.client(await cluster.waitForLeader()).addMember(add)).index > 0,
    LEARNER.joinWaitMs,
  );
  await waitUntil(
    `${id} is a learner`,
    async () => (await cluster.status(id))?.memberRole === 'learner',
    LEARNER.joinWaitMs,
  );
  say(`${id} (region ${n.region}) joined as a learner`);
}

/** preload writes the rooms the reads pick from, through the leader, and fails on any error. */
async function preload(cluster: ProcessCluster, prefix: string): Promise<void> {
  const leader = await cluster.waitForLeader();
  const clients = clientsFor(cluster, [cluster.node(leader).grpc], BENCH.channelsPerTarget);
  try {
    const r = await drive({
      concurrencyMax: 128,
      durationMs: BENCH.bulkLoadMsMax,
      operationsMax: LEARNER.rooms,
      op: async (worker, seq) => {
        await clients[worker % clients.length]?.createRoom(
          { name: `${prefix}-${seq}`, metadata, emptyTimeout: BENCH.longTimeoutS },
          BENCH.callDeadlineMs,
        );
      },
    });
    if (r.errors > 0) throw new Error(`preload failed ${r.errors} times: ${JSON.stringify(r.errorsByCode)}`);
    say(`preloaded ${LEARNER.rooms} rooms in ${Math.round(r.elapsedMs)} ms`);
  } finally {
    closeAll(clients);
  }
}

/**
 * measureAll runs every cell `reps` times; the learner's and the follower's cell of one mode and
 * concurrency run back to back, so that the two see about the same contention on a shared machine.
 */
async function measureAll(
  cluster: ProcessCluster,
  a: { follower: string; prefix: string; durationS: number; reps: number },
): Promise<LearnerRow[]> {
  const rows: LearnerRow[] = [];
  const targets = [
    ['learner', LEARNER.learnerId],
    ['follower', a.follower],
  ] as const;
  for (let rep = 0; rep < a.reps; rep++) {
    for (const mode of ['local', 'linearizable'] as const) {
      for (const concurrency of LEARNER.concurrencies) {
        for (const [target, node] of targets) {
          const row = await readCell(cluster, {
            target,
            node,
            mode,
            concurrency,
            prefix: a.prefix,
            durationS: a.durationS,
          });
          rows.push(row);
          say(
            `rep ${rep + 1} ${target} ${node} ${mode} c=${concurrency}: ${row.opsPerSecond} reads/s, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, max ${row.maxMs} ms, errors ${row.errors}, load ${row.loadAvg1m}`,
          );
        }
      }
    }
  }
  return rows;
}

/** mediansOf: per target, mode and concurrency, the median over the repetitions of each figure. */
function mediansOf(
  rows: readonly LearnerRow[],
): Pick<LearnerRow, 'target' | 'mode' | 'concurrency' | 'opsPerSecond' | 'p50Ms' | 'p99Ms'>[] {
  const cells = new Map<string, LearnerRow[]>();
  for (const r of rows) {
    const key = `${r.target}/${r.mode}/${r.concurrency}`;
    cells.set(key, [...(cells.get(key) ?? []), r]);
  }
  return [...cells.values()].map((rs) => {
    const { target, mode, concurrency } = rs[0] as LearnerRow;
    return {
      target,
      mode,
      concurrency,
      opsPerSecond: median(rs.map((r) => r.opsPerSecond)),
      p50Ms: median(rs.map((r) => r.p50Ms)),
      p99Ms: median(rs.map((r) => r.p99Ms)),
    };
  });
}

interface CellArgs {
  target: LearnerRow['target'];
  node: string;
  mode: ReadMode;
  concurrency: number;
  prefix: string;
  durationS: number;
}

/** readCell runs GetRoom of random preloaded rooms against one node at one concurrency for durationS (closed loop). */
async function readCell(cluster: ProcessCluster, a: CellArgs): Promise<LearnerRow> {
  const clients = clientsFor(cluster, [cluster.node(a.node).grpc], BENCH.channelsPerTarget);
  const consistency = a.mode === 'local' ? Consistency.CONSISTENCY_LOCAL : Consistency.CONSISTENCY_LINEARIZABLE;
  const loadAvg1m = +(loadavg()[0] ?? 0).toFixed(2);
  try {
    const r = await drive({
      concurrencyMax: a.concurrency,
      durationMs: a.durationS * 1000,
      op: async (worker) => {
        const res = await clients[worker % clients.length]?.getRoom(
          { name: `${a.prefix}-${Math.floor(Math.random() * LEARNER.rooms)}`, consistency },
          BENCH.callDeadlineMs,
        );
        if (res?.room === undefined) throw new Error('read found no room');
      },
    });
    // The first half second warms the connections up.
    const s = stats(r, Math.min(500, r.elapsedMs / 4), r.elapsedMs);
    const { target, node, mode, concurrency } = a;
    const { opsPerSecond, p50Ms, p99Ms, maxMs } = s;
    return {
      target,
      node,
      mode,
      concurrency,
      opsPerSecond,
      p50Ms,
      p99Ms,
      maxMs,
      errors: r.errors,
      errorsByCode: r.errorsByCode,
      loadAvg1m,
    };
  } finally {
    closeAll(clients);
  }
}
