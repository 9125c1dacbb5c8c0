// The 1 M-room scenario: memory per node, snapshot time and stalls, restart to serving.
import { RoomClient } from '../../src/client/room-client.js';
import { Consistency } from '../../src/gen/roomregistry/v1/rooms.js';
import type { ProcessCluster } from '../../test/harness/process-cluster.js';
import { drive, stats, sleep } from '../driver.js';
import {
  BENCH,
  environment,
  save,
  say,
  benchToken,
  clientsFor,
  closeAll,
  metadata,
  heapOf,
  benchNodeArgs,
  startCluster,
} from './common.js';
import { bulkLoad, withProgress, StallProbe, mib } from './stall-and-load.js';

export async function million(args: { rooms: number; snapshotIntervalEntries: number | null }): Promise<void> {
  const env = environment();
  // By default the measured snapshot comes after the load, so its stalls are not mixed with the
  // load's (and the log of the whole load stays in memory until then: the worst case for memory).
  // With --snapshot-interval-entries the node's own cadence applies and the tail runs until the
  // next snapshot after the load.
  const interval = args.snapshotIntervalEntries ?? args.rooms + BENCH.snapshotTailEntries;
  const nodeArgs = benchNodeArgs();
  const cluster = await startCluster({ serveArgs: ['--snapshot-interval-entries', String(interval)] });
  try {
    const leader = await cluster.waitForLeader();
    const prefix = `m-${Date.now().toString(36)}`;
    const loaded = await loadMillion(cluster, leader, args.rooms, prefix);
    const snapshotted = await measureSnapshot(cluster, leader, prefix);
    const restarted = await measureRestarts(cluster, leader, `${prefix}-${args.rooms - 1}`);
    save('million', env, {
      nodeArgs,
      leader,
      rooms: args.rooms,
      metadataBytes: BENCH.metadataBytes,
      snapshotIntervalEntries: interval,
      load: loaded.load,
      rssLoadedMiB: loaded.memory.rssMiB,
      rssAfterSnapshotMiB: snapshotted.memory.rssMiB,
      rssAfterRestartMiB: restarted.memory.rssMiB,
      heapLoaded: loaded.memory.heap,
      heapAfterSnapshot: snapshotted.memory.heap,
      heapAfterRestart: restarted.memory.heap,
      snapshot: snapshotted.snapshot,
      restartFollower: restarted.restartFollower,
      restartAll: restarted.restartAll,
    });
  } finally {
    await cluster.stop(nodeArgs.length > 0);
    if (nodeArgs.length > 0) say(`million: node logs kept in ${cluster.dir}`);
  }
}

type Memory = { rssMiB: Record<string, number>; heap: Awaited<ReturnType<typeof heapOf>> };

/** memoryOf: each node's VmRSS and V8 heap now, printed with `when`. */
async function memoryOf(cluster: ProcessCluster, when: string): Promise<Memory> {
  const rssMiB = Object.fromEntries(cluster.nodes.map((n) => [n.id, mib(cluster.rssBytes(n.id))]));
  const heap = await heapOf(cluster);
  say(`million: VmRSS ${when}: ${JSON.stringify(rssMiB)} MiB; heap ${JSON.stringify(heap)}`);
  return { rssMiB, heap };
}

/** loadMillion bulk-loads `rooms` rooms at the leader, waits until every node has applied them and measures memory. */
async function loadMillion(
  cluster: ProcessCluster,
  leader: string,
  rooms: number,
  prefix: string,
): Promise<{ load: Awaited<ReturnType<typeof bulkLoad>>; memory: Memory }> {
  say(
    `million: loading ${rooms} rooms with ${BENCH.metadataBytes}-byte metadata at ${leader} (concurrency ${BENCH.bulkConcurrency}, ${BENCH.bulkChannels} channels)`,
  );
  const load = await withProgress(
    cluster,
    leader,
    15_000,
    bulkLoad(cluster, leader, rooms, prefix, () => BENCH.longTimeoutS),
  );
  say(
    `million: loaded in ${load.seconds} s (${load.roomsPerSecond} rooms/s, ${load.errors} retried: ${JSON.stringify(load.errorsByCode)})`,
  );
  const commit = (await cluster.status(leader))?.commitIndex ?? 0;
  for (const n of cluster.nodes) await cluster.waitForApplied(n.id, commit, 120_000);
  if (global.gc !== undefined) global.gc();
  await sleep(2_000);
  const memory = await memoryOf(
    cluster,
    `right after loading ${rooms} rooms (log entries since the last snapshot still in memory)`,
  );
  return { load, memory };
}

type SnapshotsDone = Map<string, { atMs: number; durationMs: number }>;

/**
 * measureSnapshot writes create+delete pairs (the room count stays) until every node has taken a snapshot,
 * while the probe measures each node's responsiveness.
 */
async function measureSnapshot(cluster: ProcessCluster, leader: string, prefix: string) {
  const before = new Map<string, { count: number; sum: number }>();
  for (const n of cluster.nodes) {
    const m = await cluster.metrics(n.id);
    before.set(n.id, {
      count: m.get('room_registry_snapshots_total') ?? 0,
      sum: m.get('room_registry_snapshot_duration_seconds_sum') ?? 0,
    });
  }
  const probe = new StallProbe(cluster, `${prefix}-1`);
  const clients = clientsFor(cluster, [cluster.node(leader).grpc], BENCH.channelsPerTarget);
  let stopTrigger = false;
  const trigger = drive({
    concurrencyMax: 16,
    durationMs: BENCH.snapshotWaitMsMax,
    stop: () => stopTrigger,
    op: async (worker, seq) => {
      const client = clients[worker % clients.length] as RoomClient;
      const name = `${prefix}-tail-${seq}`;
      await client.createRoom({ name, metadata, emptyTimeout: BENCH.longTimeoutS }, BENCH.callDeadlineMs);
      await client.deleteRoom({ room: name }, BENCH.callDeadlineMs);
    },
  });
  const { doneAt, lagMaxS } = await waitForSnapshots(cluster, probe, before);
  stopTrigger = true;
  await sleep(1_000);
  await probe.stop();
  const triggerResult = await trigger;
  closeAll(clients);
  const snapshot = snapshotRows(cluster, probe, doneAt, lagMaxS);
  say(`million: trigger load ${stats(triggerResult).opsPerSecond} pairs/s, errors ${triggerResult.errors}`);
  await sleep(2_000);
  return { snapshot, memory: await memoryOf(cluster, 'after the snapshot (log compacted)') };
}

/** waitForSnapshots polls /metrics until every node's snapshot count has grown past `before`, or the limit. */
async function waitForSnapshots(
  cluster: ProcessCluster,
  probe: StallProbe,
  before: ReadonlyMap<string, { count: number; sum: number }>,
): Promise<{ doneAt: SnapshotsDone; lagMaxS: Map<string, number> }> {
  const lagMaxS = new Map<string, number>();
  const doneAt: SnapshotsDone = new Map();
  const waitEndMs = Date.now() + BENCH.snapshotWaitMsMax;
  while (doneAt.size < cluster.nodes.length && Date.now() < waitEndMs) {
    await sleep(200);
    for (const n of cluster.nodes) {
      const m = await cluster.metrics(n.id);
      lagMaxS.set(n.id, Math.max(lagMaxS.get(n.id) ?? 0, m.get('nodejs_eventloop_lag_max_seconds') ?? 0));
      const b = before.get(n.id);
      const count = m.get('room_registry_snapshots_total') ?? 0;
      if (b !== undefined && !doneAt.has(n.id) && count > b.count) {
        const durationMs = ((m.get('room_registry_snapshot_duration_seconds_sum') ?? 0) - b.sum) * 1000;
        doneAt.set(n.id, { atMs: probe.nowMs(), durationMs });
        say(
          `million: ${n.id} snapshot done, ${Math.round(durationMs)} ms, ${mib(m.get('room_registry_snapshot_last_bytes') ?? 0)} MiB`,
        );
      }
    }
  }
  return { doneAt, lagMaxS };
}

/** snapshotRows: per node, the snapshot's duration and the probe's figures during it and before it. */
function snapshotRows(
  cluster: ProcessCluster,
  probe: StallProbe,
  doneAt: SnapshotsDone,
  lagMaxS: ReadonlyMap<string, number>,
) {
  const rows = cluster.nodes.map((n) => {
    const d = doneAt.get(n.id);
    // The snapshot ran in [done - duration, done]; the done time is known to within one poll (200 ms) plus a scrape.
    const during = d === undefined ? null : probe.result(n.id, d.atMs - d.durationMs - 400, d.atMs + 100);
    const outside = d === undefined ? null : probe.result(n.id, 0, Math.max(0, d.atMs - d.durationMs - 400));
    return {
      node: n.id,
      durationMs: d === undefined ? null : Math.round(d.durationMs),
      probeDuring: during,
      probeBefore: outside,
      eventLoopLagMaxMs: Math.round((lagMaxS.get(n.id) ?? 0) * 1000),
    };
  });
  for (const s of rows) {
    say(
      `million: ${s.node} snapshot ${s.durationMs} ms; probe during: max ${s.probeDuring?.maxMs} ms p99 ${s.probeDuring?.p99Ms} ms; before: max ${s.probeBefore?.maxMs} p99 ${s.probeBefore?.p99Ms}; server event-loop lag max over the window ${s.eventLoopLagMaxMs} ms`,
    );
  }
  return rows;
}

/** measureRestarts: restart to serving, a follower after kill -9, then the whole cluster after kill -9. */
async function measureRestarts(cluster: ProcessCluster, leader: string, newestRoom: string) {
  const follower = cluster.nodes.find((n) => n.id !== leader)?.id ?? 'n2';
  const restartFollower = await timeRestart(cluster, [follower], newestRoom);
  say(
    `million: follower ${follower} kill -9 → serving LOCAL reads of the newest room and caught up: ${restartFollower.servingMs} ms`,
  );
  const all = cluster.nodes.map((n) => n.id);
  const restartAll = await timeRestart(cluster, all, newestRoom);
  say(
    `million: whole cluster kill -9 → leader elected and a linearizable read + a write answered: ${restartAll.servingMs} ms`,
  );
  const memory = await memoryOf(cluster, 'after the restart (restored from the snapshot)');
  return { restartFollower, restartAll, memory };
}

/** timeRestart kill -9s `ids`, starts them again and times until they serve (see the callers' lines). */
async function timeRestart(
  cluster: ProcessCluster,
  ids: string[],
  newestRoom: string,
): Promise<{ nodes: string[]; servingMs: number }> {
  const alive = cluster.nodes.find((n) => !ids.includes(n.id) && n.process !== null);
  const commit = alive === undefined ? 0 : ((await cluster.status(alive.id))?.commitIndex ?? 0);
  for (const id of ids) await cluster.kill(id, 'SIGKILL');
  const startMs = performance.now();
  for (const id of ids) cluster.start(id);
  const endMs = Date.now() + BENCH.restartWaitMsMax;
  const token = benchToken(cluster);
  for (const id of ids) {
    const client = new RoomClient(cluster.node(id).grpc, { token }, { 'grpc.use_local_subchannel_pool': 1 });
    try {
      for (;;) {
        if (Date.now() > endMs) throw new Error(`${id} not serving after ${BENCH.restartWaitMsMax} ms`);
        try {
          const consistency =
            alive === undefined ? Consistency.CONSISTENCY_LINEARIZABLE : Consistency.CONSISTENCY_LOCAL;
          const res = await client.getRoom({ name: newestRoom, consistency }, 1_000);
          const s = await cluster.status(id);
          if (res.room !== undefined && s !== null && s.appliedIndex >= commit) {
            if (alive === undefined)
              await client.createRoom(
                { name: `restart-${Date.now().toString(36)}`, emptyTimeout: BENCH.longTimeoutS },
                2_000,
              );
            break;
          }
        } catch {
          // not up yet (connection refused, no leader yet, or still replaying)
        }
        await sleep(20);
      }
    } finally {
      client.close();
    }
  }
  return { nodes: ids, servingMs: Math.round(performance.now() - startMs) };
}
