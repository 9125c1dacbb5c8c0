/**
 * The simulated media nodes of the media-heartbeats scenario (issue 16), run as a child process of
 * it (forked by media-heartbeats.ts, never started by hand): `mediaNodes` SFUs, each with its own
 * node id, the region of the registry node it talks to, and stats that change on every beat, each
 * heartbeating every `periodMs` with a lease of `ttlS`. The beats are spread evenly over the period
 * (beat j is due at j × periodMs / mediaNodes, for media node j mod mediaNodes) and over the
 * registry nodes (media node k talks to node k mod 3), an open loop through bench/driver.ts, so a
 * slow server makes beats late and shows as a lower rate, not as a slower schedule.
 *
 * Why a child process: the CreateRoom load generator is already the busiest client on the 2
 * cores; 333 beats/s in its event loop would add their cost to its latencies and hide which of
 * the two loads saturates the client. In a process of its own, the heartbeaters' CPU is read
 * from /proc like a server's, and a late beat does not delay a write's timing (or the reverse).
 *
 * Protocol (IPC): start → started, window → window (figures since the last window, then reset),
 * stop → stopped. The child exits when its parent goes away (the IPC channel closes), so it never
 * outlives the scenario, also when that one is killed.
 */
import { RoomClient } from '../../src/client/room-client.js';
import { type DriveResult, drive, quantile } from '../driver.js';

/** HeartbeatersConfig: what the scenario hands its heartbeaters. */
export interface HeartbeatersConfig {
  /** targets: the registry nodes' gRPC addresses and regions; media node k talks to targets[k mod length]. */
  readonly targets: ReadonlyArray<{ readonly grpc: string; readonly region: string }>;
  /** token: signed by the scenario with the roomCreate grant a heartbeat needs. */
  readonly token: string;
  readonly mediaNodes: number;
  readonly periodMs: number;
  readonly ttlS: number;
  /** channelsPerTarget: gRPC connections per registry node, shared by the media nodes talking to it. */
  readonly channelsPerTarget: number;
  /** deadlineMs: one heartbeat's deadline; a beat later than its period is as good as lost. */
  readonly deadlineMs: number;
}

/** HeartbeatWindow: the heartbeats that completed between two window requests. */
export interface HeartbeatWindow {
  readonly spanMs: number;
  readonly ok: number;
  readonly failed: number;
  /** skipped: beats not sent because the media node's previous beat was still in flight. */
  readonly skipped: number;
  readonly errorsByCode: Record<string, number>;
  /** p50Ms / p99Ms / maxMs: latency of the successful beats (from sending to the answer). */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export type ToHeartbeaters =
  | { readonly type: 'start'; readonly config: HeartbeatersConfig }
  | { readonly type: 'window' }
  | { readonly type: 'stop' };

export type FromHeartbeaters =
  | { readonly type: 'started' }
  | { readonly type: 'window'; readonly window: HeartbeatWindow }
  | { readonly type: 'stopped' }
  | { readonly type: 'failed'; readonly error: string };

/** runMsMax: one start's bound; the scenario stops the beats after seconds, this only ends a forgotten loop. */
const runMsMax = 30 * 60_000;

/** Window collects one window's figures. */
class Window {
  private startMs = performance.now();
  private ok = 0;
  private failed = 0;
  private skipped = 0;
  private errorsByCode: Record<string, number> = {};
  private latencyMs: number[] = [];

  success(latencyMs: number): void {
    this.ok++;
    this.latencyMs.push(latencyMs);
  }

  skip(): void {
    this.skipped++;
  }

  failure(e: unknown): void {
    this.failed++;
    const code = String((e as { code?: unknown }).code ?? (e as Error).name ?? 'error');
    this.errorsByCode[code] = (this.errorsByCode[code] ?? 0) + 1;
  }

  /** take returns the figures so far and starts a new window. */
  take(): HeartbeatWindow {
    const sorted = Float64Array.from(this.latencyMs).sort();
    const round2 = (x: number): number => Math.round(x * 100) / 100;
    const w: HeartbeatWindow = {
      spanMs: performance.now() - this.startMs,
      ok: this.ok,
      failed: this.failed,
      skipped: this.skipped,
      errorsByCode: this.errorsByCode,
      p50Ms: round2(quantile(sorted, 0.5)),
      p99Ms: round2(quantile(sorted, 0.99)),
      maxMs: round2(quantile(sorted, 1)),
    };
    this.startMs = performance.now();
    this.ok = 0;
    this.failed = 0;
    this.skipped = 0;
    this.errorsByCode = {};
    this.latencyMs = [];
    return w;
  }
}

/** mediaNodeId names media node k (sfu-0000 … sfu-0999). */
function mediaNodeId(k: number): string {
  return `sfu-${String(k).padStart(4, '0')}`;
}

/**
 * statsOf: media node k's load at its beat `round`: deterministic, different for every node and
 * every beat (so each heartbeat carries a change, as a busy SFU's would), within the API's bounds.
 */
function statsOf(k: number, round: number): { numRooms: number; numClients: number; cpuLoad: number } {
  const numRooms = (k * 7 + round * 3) % 50;
  return { numRooms, numClients: numRooms * 8 + ((k + round) % 8), cpuLoad: ((k * 37 + round * 11) % 100) / 100 };
}

/** Heartbeaters: the running beats of one child process. */
class Heartbeaters {
  private readonly window = new Window();
  private clients: RoomClient[] = [];
  private stopping = false;
  private running: Promise<void> | null = null;
  /** inFlight: media nodes whose beat awaits its answer; as a real SFU's timer, a node skips a beat rather than overlap two. */
  private readonly inFlight = new Set<number>();

  start(config: HeartbeatersConfig): void {
    if (this.running !== null) throw new Error('heartbeaters already running');
    if (this.clients.length === 0) {
      // Client i talks to targets[i mod n]: the same spread as the media nodes, so pick() stays on k's target.
      this.clients = Array.from(
        { length: config.targets.length * config.channelsPerTarget },
        (_, i) =>
          new RoomClient(
            config.targets[i % config.targets.length]?.grpc ?? '',
            { token: config.token },
            { 'grpc.use_local_subchannel_pool': 1 },
          ),
      );
    }
    this.stopping = false;
    this.window.take();
    this.running = this.beat(config).then(() => undefined);
  }

  /** beat runs the open loop until stop(): beat `seq` is media node seq mod mediaNodes, round seq div mediaNodes. */
  private beat(config: HeartbeatersConfig): Promise<DriveResult> {
    const n = config.targets.length;
    return drive({
      concurrencyMax: config.mediaNodes,
      durationMs: runMsMax,
      ratePerSecond: (1000 * config.mediaNodes) / config.periodMs,
      stop: () => this.stopping,
      op: async (_worker, seq) => {
        const k = seq % config.mediaNodes;
        if (this.inFlight.has(k)) {
          this.window.skip();
          return 'skipped';
        }
        this.inFlight.add(k);
        const client = this.clients[(k % n) + n * (Math.floor(k / n) % config.channelsPerTarget)] as RoomClient;
        const sentMs = performance.now();
        try {
          await client.heartbeat(
            {
              nodeId: mediaNodeId(k),
              region: config.targets[k % n]?.region ?? '',
              ttlSeconds: config.ttlS,
              stats: statsOf(k, Math.floor(seq / config.mediaNodes)),
            },
            config.deadlineMs,
          );
        } catch (e) {
          this.window.failure(e);
          throw e;
        } finally {
          this.inFlight.delete(k);
        }
        this.window.success(performance.now() - sentMs);
        return 'beat';
      },
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
    this.running = null;
  }

  take(): HeartbeatWindow {
    return this.window.take();
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}

function send(m: FromHeartbeaters): void {
  process.send?.(m);
}

/** serve answers the scenario's requests, one at a time, in order. */
function serve(): void {
  const hb = new Heartbeaters();
  let queue = Promise.resolve();
  const handle = async (m: ToHeartbeaters): Promise<void> => {
    switch (m.type) {
      case 'start':
        hb.start(m.config);
        return send({ type: 'started' });
      case 'window':
        return send({ type: 'window', window: hb.take() });
      case 'stop':
        await hb.stop();
        return send({ type: 'stopped' });
      default: {
        const never: never = m;
        throw new Error(`unknown request ${JSON.stringify(never)}`);
      }
    }
  };
  process.on('message', (m: ToHeartbeaters) => {
    queue = queue
      .then(() => handle(m))
      .catch((e: unknown) => send({ type: 'failed', error: (e as Error).stack ?? String(e) }));
  });
  // The scenario went away (it finished, failed or was killed): so do the media nodes.
  process.on('disconnect', () => {
    hb.close();
    process.exit(0);
  });
}

if (process.send === undefined) {
  process.stderr.write('media-heartbeaters.js is a child of the media-heartbeats scenario; run that instead\n');
  process.exitCode = 2;
} else {
  serve();
}
