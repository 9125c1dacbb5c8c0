/**
 * A stand-in media node (an SFU) as a real process, for the media-node tests (issue 16): it
 * heartbeats its lease and reports its share of some rooms' occupancy, every `intervalMs`, to
 * whichever registry node answers, until it is killed, as a crashed SFU stops. Each renewed
 * lease is printed as a line `lease <expiresAtMs>`, so a test knows the last expiry the cluster
 * promised. Run as `node dist/test/harness/media-node.js '<MediaNodeSpec JSON>'`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { RoomClient } from '../../src/client/room-client.js';
import { repoRoot } from './process-cluster.js';

export interface MediaNodeSpec {
  readonly grpc: readonly string[];
  readonly apiKey: string;
  readonly apiSecret: string;
  readonly nodeId: string;
  readonly region: string;
  readonly ttlSeconds: number;
  readonly intervalMs: number;
  readonly cpuLoad: number;
  /** shares: participants this node reports in each room. */
  readonly shares: Readonly<Record<string, number>>;
}

/** CALL_DEADLINE_MS: one heartbeat or report; a slow one is retried at the next node. */
const CALL_DEADLINE_MS = 2_000;

/** MediaNodeProcess runs one stand-in media node and tracks the last lease expiry it was given. */
export class MediaNodeProcess {
  /** lastLeaseExpiresAtMs: the expiry of the last renewal the cluster acknowledged (0 before the first). */
  lastLeaseExpiresAtMs = 0;
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;

  constructor(readonly spec: MediaNodeSpec) {
    const script = join(repoRoot, 'dist', 'test', 'harness', 'media-node.js');
    this.child = spawn(process.execPath, [script, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    process.once('exit', () => this.child.kill('SIGKILL'));
    const lines = createInterface({ input: this.child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      const [word, value] = line.split(' ');
      if (word === 'lease') this.lastLeaseExpiresAtMs = Number(value);
    });
  }

  /** kill ends it at once (SIGKILL), as a media node that crashes. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** run is the process's loop: heartbeat, then report every share, then wait for the next round. */
async function run(spec: MediaNodeSpec): Promise<void> {
  const clients = spec.grpc.map((a) => new RoomClient(a, { apiKey: spec.apiKey, apiSecret: spec.apiSecret }));
  let at = 0;
  // Any registry node takes the calls (a follower forwards); a failing one is skipped for the next.
  const withAnyNode = async <T>(call: (c: RoomClient) => Promise<T>): Promise<T | null> => {
    for (let tries = 0; tries < clients.length; tries++) {
      const c = clients[at % clients.length];
      if (c === undefined) return null;
      try {
        return await call(c);
      } catch {
        at++;
      }
    }
    return null;
  };
  for (;;) {
    const started = Date.now();
    const lease = await withAnyNode((c) =>
      c.heartbeat(
        {
          nodeId: spec.nodeId,
          region: spec.region,
          ttlSeconds: spec.ttlSeconds,
          stats: { numRooms: Object.keys(spec.shares).length, numClients: 0, cpuLoad: spec.cpuLoad },
        },
        CALL_DEADLINE_MS,
      ),
    );
    if (lease !== null) {
      process.stdout.write(`lease ${lease.leaseExpiresAtMs}\n`);
      for (const [room, n] of Object.entries(spec.shares))
        await withAnyNode((c) =>
          c.updateRoomOccupancy({ room, nodeId: spec.nodeId, numParticipants: n, numPublishers: 0 }, CALL_DEADLINE_MS),
        );
    }
    await new Promise((r) => setTimeout(r, Math.max(0, spec.intervalMs - (Date.now() - started))));
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  void run(JSON.parse(process.argv[2] ?? '{}') as MediaNodeSpec);
}
