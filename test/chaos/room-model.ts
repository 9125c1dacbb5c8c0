/**
 * ROOM_MODEL models one room as a register for the linearizability checker
 * (test/sim/checkers/linearizability.ts): the state is the room's metadata and occupancy, or
 * null when the room does not exist. Create is create-if-absent (on an existing room it changes
 * nothing and returns the room as it is), update and delete need the room, get reads it. Every
 * create and update writes metadata unique to that operation, so a read pins down which write
 * it saw. The history is partitioned by room, so each room is checked on its own.
 *
 * Occupancy (issue 16; the simulator's operations, the chaos suite has none): a report without
 * a media node sets the room's unattributed share, a media node's report sets that node's
 * share (only reports that were applied enter the history: one refused for a lapsed lease
 * changes nothing), and `dropShares` is a lease expiry, which drops the node's share from every
 * room at once. The room's participant count is the unattributed share plus the nodes' shares;
 * an observation that carries `participants` must see exactly that. Observations without it
 * (all of the chaos suite's) check the metadata alone, as before.
 *
 * toRoomOperations turns a chaos history into checker operations: `ok` operations and
 * NOT_FOUND failures (which observed the room absent) keep their output; `info` operations get
 * the UNKNOWN output and no return, so the checker may place them anywhere after their call,
 * or nowhere; other failures (and reads of unknown outcome, which constrain nothing) are left out.
 */
import { type Model, type Operation, UNKNOWN, type Unknown, isUnknown } from '../sim/checkers/linearizability.js';
import type { ChaosOp, RoomObservation, RoomOpKind } from './chaos-history.js';

/**
 * RoomModelOp: the chaos suite's operations, plus the simulator's occupancy reports without a
 * node (`occupancy`), with one (`share`), and lease expiries (`dropShares`, a pseudo-operation).
 */
export type RoomModelOp = RoomOpKind | 'occupancy' | 'share' | 'dropShares';

export interface RoomInput {
  readonly op: RoomModelOp;
  readonly room: string;
  readonly metadata: string;
  /** nodeId: the media node of a `share` or `dropShares`. */
  readonly nodeId?: string;
  /** participants: what an `occupancy` or `share` report sets. */
  readonly participants?: number;
}

/** RoomModelObservation is a RoomObservation that may also carry the room's participant count. */
export interface RoomModelObservation extends RoomObservation {
  readonly participants?: number;
}

/** RoomValue is an existing room: its metadata, its unattributed share and its nodes' shares (sorted by node). */
export interface RoomValue {
  readonly metadata: string;
  readonly unattributed: number;
  readonly shares: readonly (readonly [string, number])[];
}

export type RoomState = RoomValue | null;

export const ROOM_MODEL: Model<RoomState, RoomInput, RoomModelObservation> = {
  partition(history) {
    const byRoom = new Map<string, Operation<RoomInput, RoomModelObservation>[]>();
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
      case 'update': {
        const next = state === null ? null : { ...state, metadata: input.metadata };
        if (out === null) return next;
        return out.found === (state !== null) && counts(next, out) ? next : undefined;
      }
      case 'delete':
        if (out === null) return null;
        return out.found === (state !== null) ? null : undefined;
      case 'get':
        if (out === null) return state;
        return sees(state, out) ? state : undefined;
      case 'occupancy':
      case 'share': {
        const next = state === null ? null : withReport(state, input);
        if (out === null) return next;
        return sees(next, out) ? next : undefined;
      }
      case 'dropShares':
        return state === null ? null : withShare(state, input.nodeId ?? '', 0);
    }
  },
  equal: (a, b) => hashState(a) === hashState(b),
  hash: hashState,
  describeOperation(input, output) {
    const what =
      input.op === 'create' || input.op === 'update'
        ? `${input.op}(${input.room}, ${JSON.stringify(input.metadata)})`
        : input.op === 'occupancy' || input.op === 'share' || input.op === 'dropShares'
          ? `${input.op}(${input.room}, ${input.nodeId ?? ''}=${input.participants ?? 0})`
          : `${input.op}(${input.room})`;
    if (isUnknown(output)) return `${what} -> ?`;
    if (!output.found) return `${what} -> not found`;
    const n = output.participants === undefined ? '' : ` participants=${output.participants}`;
    if (output.metadata === undefined) return `${what} -> ok${n}`;
    return `${what} -> found ${JSON.stringify(output.metadata)}${output.created === undefined ? '' : ` created=${output.created}`}${n}`;
  },
};

/** stepCreate: an absent room is created with our metadata; an existing one is returned unchanged. */
function stepCreate(state: RoomState, metadata: string, out: RoomModelObservation | null): RoomState | undefined {
  const next = state ?? { metadata, unattributed: 0, shares: [] };
  if (out === null) return next;
  if (!out.found || out.metadata !== next.metadata || !counts(next, out)) return undefined;
  if (out.created !== undefined && out.created !== (state === null)) return undefined;
  return next;
}

function sees(state: RoomState, out: RoomModelObservation): boolean {
  if (!out.found) return state === null;
  return state !== null && out.metadata === state.metadata && counts(state, out);
}

/** counts: the observation's participant count, when it carries one, is the room's. */
function counts(state: RoomState, out: RoomModelObservation): boolean {
  return out.participants === undefined || (state !== null && out.participants === participantsOf(state));
}

function participantsOf(room: RoomValue): number {
  let n = room.unattributed;
  for (const [, p] of room.shares) n += p;
  return n;
}

function withReport(room: RoomValue, input: RoomInput): RoomValue {
  const n = input.participants ?? 0;
  return input.op === 'occupancy' ? { ...room, unattributed: n } : withShare(room, input.nodeId ?? '', n);
}

/** withShare sets a node's share; 0 removes it (a node reporting 0 and a node with no share count the same). */
function withShare(room: RoomValue, nodeId: string, n: number): RoomValue {
  const shares = room.shares.filter(([id]) => id !== nodeId);
  if (n > 0) shares.push([nodeId, n]);
  shares.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { ...room, shares };
}

function hashState(s: RoomState): string {
  if (s === null) return '\u0000null';
  if (s.unattributed === 0 && s.shares.length === 0) return s.metadata;
  return `${s.metadata}\u0000${s.unattributed}\u0000${s.shares.map(([id, n]) => `${id}=${n}`).join(',')}`;
}

/** toRoomOperations adapts a chaos history for the checker (see the file comment). */
export function toRoomOperations(ops: readonly ChaosOp[]): Operation<RoomInput, RoomModelObservation>[] {
  const out: Operation<RoomInput, RoomModelObservation>[] = [];
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
