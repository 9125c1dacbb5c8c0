// Bulk loading of rooms at the leader, and the probe that times event-loop stalls of every node.
import type { RoomClient } from '../../src/client/room-client.js';
import { Consistency } from '../../src/gen/roomregistry/v1/rooms.js';
import type { ProcessCluster } from '../../test/harness/process-cluster.js';
import { drive, sleep } from '../driver.js';
import { BENCH, say, clientsFor, closeAll, metadata } from './common.js';

// ---------------------------------------------------------------- bulk load

/** bulkLoad creates `count` rooms at the leader as fast as the cluster takes them; emptyTimeoutS(i) sets each room's timeout. */
export async function bulkLoad(
  cluster: ProcessCluster,
  leader: string,
  count: number,
  prefix: string,
  emptyTimeoutS: () => number,
): Promise<{ seconds: number; roomsPerSecond: number; errors: number; errorsByCode: Record<string, number> }> {
  const clients = clientsFor(cluster, [cluster.node(leader).grpc], BENCH.bulkChannels);
  try {
    const failed: number[] = [];
    const r = await drive({
      concurrencyMax: BENCH.bulkConcurrency,
      durationMs: BENCH.bulkLoadMsMax,
      operationsMax: count,
      op: async (worker, seq) => {
        try {
          await (clients[worker % clients.length] as RoomClient).createRoom(
            { name: `${prefix}-${seq}`, metadata, emptyTimeout: emptyTimeoutS() },
            30_000,
          );
        } catch (e) {
          failed.push(seq);
          throw e;
        }
      },
    });
    // Retry what failed (overload answers at once with RESOURCE_EXHAUSTED), so the count is exact.
    for (let attempt = 0; attempt < 5 && failed.length > 0; attempt++) {
      const again = failed.splice(0);
      await Promise.all(
        again.map(async (seq, i) => {
          try {
            await (clients[i % clients.length] as RoomClient).createRoom(
              { name: `${prefix}-${seq}`, metadata, emptyTimeout: emptyTimeoutS() },
              30_000,
            );
          } catch {
            failed.push(seq);
          }
        }),
      );
    }
    if (failed.length > 0)
      throw new Error(`bulk load: ${failed.length} creates still failing: ${JSON.stringify(r.errorsByCode)}`);
    return {
      seconds: +(r.elapsedMs / 1000).toFixed(1),
      roomsPerSecond: Math.round(count / (r.elapsedMs / 1000)),
      errors: r.errors,
      errorsByCode: r.errorsByCode,
    };
  } finally {
    closeAll(clients);
  }
}

/** progressEvery logs a line every `ms` while `work` runs (long loads should show they move). */
export async function withProgress<T>(cluster: ProcessCluster, id: string, ms: number, work: Promise<T>): Promise<T> {
  let done = false;
  const ticker = (async () => {
    const startMs = Date.now();
    while (!done) {
      await sleep(ms);
      if (done) break;
      const s = await cluster.status(id);
      say(
        `  … ${Math.round((Date.now() - startMs) / 1000)} s: ${id} rooms ${s?.rooms ?? '?'} applied ${s?.appliedIndex ?? '?'}`,
      );
    }
  })();
  try {
    return await work;
  } finally {
    done = true;
    await ticker;
  }
}

// ---------------------------------------------------------------- 1 M rooms

interface ProbeResult {
  node: string;
  count: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  maxAtMs: number;
}

/** Probe sends one LOCAL GetRoom to each node every probeIntervalMs and keeps the latencies: a stall of a node's event loop shows as a slow probe. */
export class StallProbe {
  private stopped = false;
  private readonly samples = new Map<string, { atMs: number; ms: number }[]>();
  private readonly errors = new Map<string, number>();
  private readonly loops: Promise<void>[] = [];
  readonly startMs = performance.now();

  constructor(cluster: ProcessCluster, room: string) {
    for (const n of cluster.nodes) {
      const client = clientsFor(cluster, [n.grpc], 1)[0] as RoomClient;
      this.samples.set(n.id, []);
      this.loops.push(
        (async () => {
          try {
            // Bounded even if stop() is never reached (a scenario that failed half-way).
            const endMs = performance.now() + BENCH.snapshotWaitMsMax + 60_000;
            while (!this.stopped && performance.now() < endMs) {
              const t0 = performance.now();
              try {
                await client.getRoom({ name: room, consistency: Consistency.CONSISTENCY_LOCAL }, BENCH.callDeadlineMs);
                this.samples.get(n.id)?.push({ atMs: t0 - this.startMs, ms: performance.now() - t0 });
              } catch {
                this.errors.set(n.id, (this.errors.get(n.id) ?? 0) + 1);
              }
              const restMs = BENCH.probeIntervalMs - (performance.now() - t0);
              if (restMs > 0) await sleep(restMs);
            }
          } finally {
            client.close();
          }
        })(),
      );
    }
  }

  nowMs(): number {
    return performance.now() - this.startMs;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }

  /** result over probes started in [fromMs, toMs). */
  result(node: string, fromMs: number, toMs: number): ProbeResult {
    const xs = (this.samples.get(node) ?? []).filter((s) => s.atMs >= fromMs && s.atMs < toMs);
    const sorted = Float64Array.from(xs.map((s) => s.ms)).sort();
    const worst = xs.reduce((w, s) => (s.ms > w.ms ? s : w), { atMs: 0, ms: 0 });
    const q = (p: number): number =>
      +(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0).toFixed(1);
    return {
      node,
      count: xs.length,
      errors: this.errors.get(node) ?? 0,
      p50Ms: q(0.5),
      p99Ms: q(0.99),
      maxMs: +worst.ms.toFixed(1),
      maxAtMs: Math.round(worst.atMs),
    };
  }
}

export const mib = (bytes: number): number => Math.round(bytes / 2 ** 20);
