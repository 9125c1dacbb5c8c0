/**
 * Workload runs the chaos clients: each one drives one node through one API (gRPC or Twirp),
 * one operation at a time, and records every operation in the shared history. Rooms come in
 * epochs (a fresh set of names every `epochMs`), like Jepsen's independent keys: each room's
 * history stays short enough for the linearizability checker while the run lasts as long as
 * asked. Choices come from a seeded generator per client; timing, of course, does not replay.
 */
import { SeededRng } from '../../src/lib/rng.js';
import type { ChaosHistory, ChaosOp, RoomObservation, RoomOpKind } from './chaos-history.js';
import { type ClassifiedError, type RoomApi, classifyError } from './room-apis.js';

export interface WorkloadOptions {
  readonly seed: number;
  /** roomsPerEpoch: how many rooms the clients share at a time; fewer means more contention. */
  readonly roomsPerEpoch: number;
  readonly epochMs: number;
  /** thinkMsMax: a client waits up to this long between operations. */
  readonly thinkMsMax: number;
  /** backoffAfterErrorMs: after an error other than NOT_FOUND a client waits this long, so a dead node's refusals do not flood the history. */
  readonly backoffAfterErrorMs: number;
  /**
   * retriesAfterInfoMax: a gRPC write of unknown outcome is sent again with the same request
   * id up to this many times, and stays one operation in the history, from its first call to
   * its last reply. Applied twice (a dedup bug, DESIGN §3a.8), it would show as a state no
   * single application explains.
   */
  readonly retriesAfterInfoMax: number;
}

export const WORKLOAD_DEFAULTS: Omit<WorkloadOptions, 'seed'> = Object.freeze({
  roomsPerEpoch: 8,
  epochMs: 6_000,
  thinkMsMax: 20,
  backoffAfterErrorMs: 150,
  retriesAfterInfoMax: 2,
});

/** OP_WEIGHTS: the mix, in percent. Reads dominate; deletes are rarer, so rooms mostly exist. */
const OP_WEIGHTS: ReadonlyArray<readonly [RoomOpKind, number]> = [
  ['get', 35],
  ['create', 25],
  ['update', 25],
  ['delete', 15],
];

export class Workload {
  private stopping = false;
  private loops: Promise<void>[] = [];
  private readonly startMs = performance.now();

  constructor(
    private readonly history: ChaosHistory,
    private readonly apis: readonly RoomApi[],
    private readonly options: WorkloadOptions,
  ) {}

  start(): void {
    this.loops = this.apis.map((api, i) => this.runClient(api, i, new SeededRng(this.options.seed * 1_000 + i)));
  }

  /** stop lets every client finish its current operation (each has a deadline) and waits for them. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
    for (const api of this.apis) api.close();
  }

  private async runClient(api: RoomApi, clientId: number, rng: SeededRng): Promise<void> {
    for (let seq = 0; !this.stopping; seq++) {
      const kind = pickKind(rng);
      const epoch = Math.floor((performance.now() - this.startMs) / this.options.epochMs);
      const room = `room-e${epoch}-k${rng.nextInt(this.options.roomsPerEpoch)}`;
      const metadata = kind === 'create' || kind === 'update' ? `${api.name}#${seq}` : '';
      const op = this.history.invoke(clientId, api.name, kind, room, metadata);
      if (op === null) return;
      const retries = api.retriesSameRequest && kind !== 'get' ? this.options.retriesAfterInfoMax : 0;
      const c = await this.attempt(api, op, retries);
      const waitMs =
        rng.nextInt(this.options.thinkMsMax + 1) + (c !== null && !c.notFound ? this.options.backoffAfterErrorMs : 0);
      await new Promise((r) => setTimeout(r, waitMs));
    }
  }

  /** attempt runs one operation, retrying an unknown outcome with the same request id; returns the error it ended with. */
  private async attempt(api: RoomApi, op: ChaosOp, retries: number): Promise<ClassifiedError | null> {
    const requestId = `${api.name}#${op.id}`;
    for (let tries = 0; ; tries++) {
      try {
        this.history.complete(op, 'ok', await call(api, op.kind, op.room, op.metadata, requestId));
        return null;
      } catch (e) {
        const c = classifyError(e);
        // A definite failure after an unknown attempt proves nothing about that attempt.
        const type = tries > 0 && c.type === 'fail' && !c.notFound ? 'info' : c.type;
        if (type !== 'info' || tries >= retries || this.stopping) {
          const observation = c.notFound ? { found: false } : null;
          this.history.complete(op, type, observation, tries > 0 ? `${c.message} (after ${tries} retries)` : c.message);
          return c;
        }
        await new Promise((r) => setTimeout(r, this.options.backoffAfterErrorMs));
        op.attempts++;
      }
    }
  }
}

function call(
  api: RoomApi,
  kind: RoomOpKind,
  room: string,
  metadata: string,
  requestId: string,
): Promise<RoomObservation> {
  switch (kind) {
    case 'create':
      return api.create(room, metadata, requestId);
    case 'update':
      return api.update(room, metadata, requestId);
    case 'delete':
      return api.delete(room, requestId);
    case 'get':
      return api.get(room);
  }
}

function pickKind(rng: SeededRng): RoomOpKind {
  let x = rng.nextInt(100);
  for (const [kind, weight] of OP_WEIGHTS) {
    if (x < weight) return kind;
    x -= weight;
  }
  return 'get';
}
