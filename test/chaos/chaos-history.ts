/**
 * ChaosHistory records what every chaos client did, Jepsen style: an operation is invoked,
 * then completes as `ok` (it happened, with this output), `fail` (it definitely did not change
 * anything: bad input, missing room, permission) or `info` (unknown: a timeout, UNAVAILABLE, a
 * dropped connection; it may have taken effect at any time after its invocation, or never).
 * Times are milliseconds of one monotonic clock (performance.now) shared by all clients,
 * which all run in this one process, so real-time order between clients is exact.
 */
import { writeFileSync } from 'node:fs';

export type RoomOpKind = 'create' | 'update' | 'delete' | 'get';
export type OpType = 'ok' | 'fail' | 'info';

/** RoomObservation is what a completed operation saw: whether the room existed, and its metadata. */
export interface RoomObservation {
  readonly found: boolean;
  readonly metadata?: string;
  /** created is CreateRoom's flag over gRPC; Twirp's CreateRoom does not say. */
  readonly created?: boolean;
}

export interface ChaosOp {
  readonly id: number;
  readonly clientId: number;
  /** client names the client ("n2/grpc"), for reading a failure. */
  readonly client: string;
  readonly kind: RoomOpKind;
  readonly room: string;
  /** metadata is what a create or update writes; unique per operation. */
  readonly metadata: string;
  readonly callMs: number;
  returnMs: number | null;
  type: OpType | null;
  /** observation: set for `ok`, and for `fail` with NOT_FOUND (the room was absent). */
  observation: RoomObservation | null;
  error: string;
  /** attempts: how many times it was sent (a gRPC write of unknown outcome is retried with its request id). */
  attempts: number;
}

/** historyOpsMax bounds one run's history; a run that would pass it stops recording (and says so). */
export const historyOpsMax = 400_000;

export class ChaosHistory {
  readonly ops: ChaosOp[] = [];
  private nextId = 0;
  /** dropped counts invocations refused because the history was full. */
  dropped = 0;

  /** invoke records the start of an operation; null when the history is full. */
  invoke(clientId: number, client: string, kind: RoomOpKind, room: string, metadata: string): ChaosOp | null {
    if (this.ops.length >= historyOpsMax) {
      this.dropped++;
      return null;
    }
    const op: ChaosOp = {
      id: this.nextId++,
      clientId,
      client,
      kind,
      room,
      metadata,
      callMs: performance.now(),
      returnMs: null,
      type: null,
      observation: null,
      error: '',
      attempts: 1,
    };
    this.ops.push(op);
    return op;
  }

  /** complete records the end of an operation exactly once. */
  complete(op: ChaosOp, type: OpType, observation: RoomObservation | null, error = ''): void {
    if (op.type !== null) throw new Error(`operation ${op.id} completed twice`);
    op.returnMs = performance.now();
    op.type = type;
    op.observation = observation;
    op.error = error;
  }

  /** closeOpen turns operations still in flight at the end into `info` with no return. */
  closeOpen(): void {
    for (const op of this.ops) {
      if (op.type === null) {
        op.type = 'info';
        op.error = 'still in flight when the run ended';
      }
    }
  }

  counts(): Record<OpType, number> {
    const c: Record<OpType, number> = { ok: 0, fail: 0, info: 0 };
    for (const op of this.ops) if (op.type !== null) c[op.type]++;
    return c;
  }

  /** write saves the history as JSON lines, one operation per line. */
  write(file: string): void {
    writeFileSync(file, `${this.ops.map((op) => JSON.stringify(op)).join('\n')}\n`);
  }
}
