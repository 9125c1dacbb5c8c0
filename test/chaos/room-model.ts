/**
 * ROOM_MODEL models one room as a register for the linearizability checker
 * (test/sim/checkers/linearizability.ts): the state is the room's metadata, or null when the
 * room does not exist. Create is create-if-absent (on an existing room it changes nothing and
 * returns the room as it is), update and delete need the room, get reads it. Every create and
 * update writes metadata unique to that operation, so a read pins down which write it saw.
 * The history is partitioned by room, so each room is checked on its own.
 *
 * toRoomOperations turns a chaos history into checker operations: `ok` operations and
 * NOT_FOUND failures (which observed the room absent) keep their output; `info` operations get
 * the UNKNOWN output and no return, so the checker may place them anywhere after their call,
 * or nowhere; other failures (and reads of unknown outcome, which constrain nothing) are left out.
 */
import { type Model, type Operation, UNKNOWN, type Unknown, isUnknown } from '../sim/checkers/linearizability.js';
import type { ChaosOp, RoomObservation, RoomOpKind } from './chaos-history.js';

export interface RoomInput {
  readonly op: RoomOpKind;
  readonly room: string;
  readonly metadata: string;
}

export type RoomState = string | null;

export const ROOM_MODEL: Model<RoomState, RoomInput, RoomObservation> = {
  partition(history) {
    const byRoom = new Map<string, Operation<RoomInput, RoomObservation>[]>();
    for (const op of history) {
      const list = byRoom.get(op.input.room);
      if (list === undefined) byRoom.set(op.input.room, [op]);
      else list.push(op);
    }
    return [...byRoom.keys()].sort().map((k) => byRoom.get(k) ?? []);
  },
  init: () => null,
  step(state, input, output) {
    const out = isUnknown(output) ? null : output;
    switch (input.op) {
      case 'create':
        return stepCreate(state, input.metadata, out);
      case 'update':
        if (out === null) return state === null ? null : input.metadata;
        return out.found === (state !== null) ? (out.found ? input.metadata : null) : undefined;
      case 'delete':
        if (out === null) return null;
        return out.found === (state !== null) ? null : undefined;
      case 'get':
        if (out === null) return state;
        return sees(state, out) ? state : undefined;
    }
  },
  equal: (a, b) => a === b,
  hash: (s) => (s === null ? '\u0000null' : s),
  describeOperation(input, output) {
    const what =
      input.op === 'create' || input.op === 'update'
        ? `${input.op}(${input.room}, ${JSON.stringify(input.metadata)})`
        : `${input.op}(${input.room})`;
    if (isUnknown(output)) return `${what} -> ?`;
    if (!output.found) return `${what} -> not found`;
    if (output.metadata === undefined) return `${what} -> ok`;
    return `${what} -> found ${JSON.stringify(output.metadata)}${output.created === undefined ? '' : ` created=${output.created}`}`;
  },
};

/** stepCreate: an absent room is created with our metadata; an existing one is returned unchanged. */
function stepCreate(state: RoomState, metadata: string, out: RoomObservation | null): RoomState | undefined {
  const next = state ?? metadata;
  if (out === null) return next;
  if (!out.found || out.metadata !== next) return undefined;
  if (out.created !== undefined && out.created !== (state === null)) return undefined;
  return next;
}

function sees(state: RoomState, out: RoomObservation): boolean {
  if (!out.found) return state === null;
  return state !== null && out.metadata === state;
}

/** toRoomOperations adapts a chaos history for the checker (see the file comment). */
export function toRoomOperations(ops: readonly ChaosOp[]): Operation<RoomInput, RoomObservation>[] {
  const out: Operation<RoomInput, RoomObservation>[] = [];
  for (const op of ops) {
    const input: RoomInput = { op: op.kind, room: op.room, metadata: op.metadata };
    if ((op.type === 'ok' || op.type === 'fail') && op.observation !== null && op.returnMs !== null) {
      out.push({ clientId: op.clientId, input, callTime: op.callMs, output: op.observation, returnTime: op.returnMs });
    } else if (op.type === 'info' && op.kind !== 'get') {
      out.push({
        clientId: op.clientId,
        input,
        callTime: op.callMs,
        output: UNKNOWN as Unknown,
        returnTime: Number.POSITIVE_INFINITY,
      });
    }
  }
  return out;
}
