/**
 * Goal: the chaos checks must catch what they claim to catch, and pass what is legal, before
 * anyone trusts a PASS from a real cluster.
 * Method: small hand-written histories through ROOM_MODEL + the linearizability checker, and
 * through checkAcknowledgedWrites: stale reads, lost writes and double creates are refused;
 * operations of unknown outcome may take effect late or never.
 */
import { describe, expect, it } from 'vitest';
import { type Operation, UNKNOWN, checkLinearizable } from '../sim/checkers/linearizability.js';
import type { ChaosOp, OpType, RoomObservation, RoomOpKind } from './chaos-history.js';
import { checkAcknowledgedWrites } from './final-checks.js';
import { ROOM_MODEL, type RoomInput, type RoomModelObservation, toRoomOperations } from './room-model.js';

let nextId = 0;
function op(
  clientId: number,
  kind: RoomOpKind,
  callMs: number,
  returnMs: number | null,
  type: OpType,
  observation: RoomObservation | null,
  metadata = '',
  room = 'r',
): ChaosOp {
  return {
    id: nextId++,
    clientId,
    client: `c${clientId}`,
    kind,
    room,
    metadata,
    callMs,
    returnMs,
    type,
    observation,
    error: '',
    attempts: 1,
  };
}

const created = (m: string): RoomObservation => ({ found: true, metadata: m, created: true });
const found = (m?: string): RoomObservation => (m === undefined ? { found: true } : { found: true, metadata: m });
const absent: RoomObservation = { found: false };

function verdict(ops: ChaosOp[]): string {
  return checkLinearizable(ROOM_MODEL, toRoomOperations(ops)).verdict;
}

describe('ROOM_MODEL with the linearizability checker', () => {
  it('accepts a sequential create, update, read, delete, read', () => {
    const h = [
      op(1, 'create', 0, 1, 'ok', created('a'), 'a'),
      op(1, 'update', 2, 3, 'ok', found(), 'b'),
      op(2, 'get', 4, 5, 'ok', found('b')),
      op(2, 'delete', 6, 7, 'ok', found()),
      op(1, 'get', 8, 9, 'fail', absent),
    ];
    expect(verdict(h)).toBe('ok');
  });

  it('refuses a stale read after an acknowledged update', () => {
    const h = [
      op(1, 'create', 0, 1, 'ok', created('a'), 'a'),
      op(1, 'update', 2, 3, 'ok', found(), 'b'),
      op(2, 'get', 4, 5, 'ok', found('a')),
    ];
    expect(verdict(h)).toBe('illegal');
  });

  it('refuses two creates that both say they created the room', () => {
    const h = [op(1, 'create', 0, 2, 'ok', created('a'), 'a'), op(2, 'create', 1, 3, 'ok', created('b'), 'b')];
    expect(verdict(h)).toBe('illegal');
  });

  it('refuses a read that sees a room deleted by an acknowledged delete', () => {
    const h = [
      op(1, 'create', 0, 1, 'ok', created('a'), 'a'),
      op(1, 'delete', 2, 3, 'ok', found()),
      op(2, 'get', 4, 5, 'ok', found('a')),
    ];
    expect(verdict(h)).toBe('illegal');
  });

  it('lets an update of unknown outcome take effect long after it was called', () => {
    const h = [
      op(1, 'create', 0, 1, 'ok', created('a'), 'a'),
      op(1, 'update', 2, null, 'info', null, 'b'),
      op(2, 'get', 10, 11, 'ok', found('a')),
      op(2, 'get', 20, 21, 'ok', found('b')),
    ];
    expect(verdict(h)).toBe('ok');
  });

  it('lets an operation of unknown outcome never take effect, but not take effect before its call', () => {
    const never = [
      op(1, 'create', 0, 1, 'ok', created('a'), 'a'),
      op(1, 'delete', 2, null, 'info', null),
      op(2, 'get', 10, 11, 'ok', found('a')),
    ];
    expect(verdict(never)).toBe('ok');
    const early = [op(2, 'get', 0, 1, 'ok', found('x')), op(1, 'create', 5, null, 'info', null, 'x')];
    expect(verdict(early)).toBe('illegal');
  });

  it('treats NOT_FOUND of an update as an observation that the room was absent', () => {
    const h = [op(1, 'create', 0, 1, 'ok', created('a'), 'a'), op(2, 'update', 2, 3, 'fail', absent, 'b')];
    expect(verdict(h)).toBe('illegal');
  });

  it('catches a retried write applied twice (one operation from first call to last reply)', () => {
    const h = [
      op(1, 'create', 0, 1, 'ok', created('a'), 'a'),
      op(1, 'update', 2, 20, 'ok', found(), 'x'), // sent, timed out, retried with the same request id
      op(2, 'get', 3, 4, 'ok', found('x')),
      op(2, 'update', 5, 6, 'ok', found(), 'b'),
      op(2, 'get', 7, 8, 'ok', found('b')),
      op(3, 'get', 21, 22, 'ok', found('x')), // x again: only a second application explains it
    ];
    expect(verdict(h)).toBe('illegal');
  });

  it('checks each room on its own', () => {
    const h = [op(1, 'create', 0, 1, 'ok', created('a'), 'a', 'r1'), op(2, 'get', 2, 3, 'fail', absent, '', 'r2')];
    expect(verdict(h)).toBe('ok');
  });
});

describe('checkAcknowledgedWrites', () => {
  it('passes when the final state is the last acknowledged write', () => {
    const h = [op(1, 'create', 0, 1, 'ok', created('a'), 'a'), op(1, 'update', 2, 3, 'ok', found(), 'b')];
    expect(checkAcknowledgedWrites(h, new Map([['r', 'b']])).violations).toEqual([]);
  });

  it('reports a lost acknowledged update and a lost acknowledged delete', () => {
    const update = [op(1, 'create', 0, 1, 'ok', created('a'), 'a'), op(1, 'update', 2, 3, 'ok', found(), 'b')];
    expect(checkAcknowledgedWrites(update, new Map([['r', 'a']])).violations).toHaveLength(1);
    const del = [op(1, 'create', 0, 1, 'ok', created('a'), 'a'), op(1, 'delete', 2, 3, 'ok', found())];
    expect(checkAcknowledgedWrites(del, new Map([['r', 'a']])).violations).toHaveLength(1);
  });

  it('allows a concurrent or unknown write to be the last one', () => {
    const h = [
      op(1, 'create', 0, 1, 'ok', created('a'), 'a'),
      op(1, 'update', 2, 5, 'ok', found(), 'b'),
      op(2, 'update', 3, null, 'info', null, 'c'),
    ];
    expect(checkAcknowledgedWrites(h, new Map([['r', 'c']])).violations).toEqual([]);
    expect(checkAcknowledgedWrites(h, new Map([['r', 'b']])).violations).toEqual([]);
    expect(checkAcknowledgedWrites(h, new Map([['r', 'a']])).violations).toHaveLength(1);
  });

  it('lets a write whose client gave up early still be the last to apply (a paused node reads it later)', () => {
    // Found by chaos (CHAOS_SEED=4, 5 nodes, crashes): a delete sent to a node just before its
    // SIGSTOP timed out on the client, then applied after the SIGCONT, after a later create.
    const h = [op(1, 'delete', 0, 2, 'info', null), op(2, 'create', 5, 6, 'ok', created('a'), 'a')];
    expect(checkAcknowledgedWrites(h, new Map()).violations).toEqual([]);
    expect(verdict([...h, op(3, 'get', 10, 11, 'fail', absent)])).toBe('ok');
  });

  it('requires a room whose only acknowledged create created it to exist', () => {
    const h = [
      op(1, 'create', 0, 1, 'ok', created('a'), 'a'),
      op(2, 'create', 2, 3, 'ok', { found: true, metadata: 'a', created: false }, 'z'),
    ];
    expect(checkAcknowledgedWrites(h, new Map()).violations).toHaveLength(1);
  });
});

/** occ builds one operation of the simulator's occupancy history for room `r` (issue 16). */
function occ(
  clientId: number,
  input: Omit<RoomInput, 'room'>,
  callTime: number,
  returnTime: number,
  output: RoomModelObservation | null,
): Operation<RoomInput, RoomModelObservation> {
  return { clientId, input: { room: 'r', ...input }, callTime, output: output ?? UNKNOWN, returnTime };
}

describe('ROOM_MODEL occupancy: a room counts its unattributed share plus its media nodes shares', () => {
  const seen = (n: number): RoomModelObservation => ({ found: true, metadata: 'a', participants: n });
  const create = occ(1, { op: 'create', metadata: 'a' }, 0, 1, { ...seen(0), created: true });
  const share = (n: number, call: number, out: RoomModelObservation | null, nodeId = 'mn1') =>
    occ(1, { op: 'share', metadata: '', nodeId, participants: n }, call, call + 1, out);
  const report = (n: number, call: number, out: RoomModelObservation | null) =>
    occ(2, { op: 'occupancy', metadata: '', participants: n }, call, call + 1, out);
  const drop = (at: number, nodeId = 'mn1') =>
    occ(1000, { op: 'dropShares', metadata: '', nodeId }, at - 0.5, at + 0.5, { found: true });
  const get = (call: number, out: RoomModelObservation) => occ(3, { op: 'get', metadata: '' }, call, call + 1, out);

  it('sums the shares, and a lease expiry drops its node share only', () => {
    const h = [
      create,
      share(3, 2, seen(3)),
      report(2, 4, seen(5)),
      share(1, 6, seen(6), 'mn2'),
      drop(8),
      get(9, seen(3)),
    ];
    expect(checkLinearizable(ROOM_MODEL, h).verdict).toBe('ok');
  });

  it('refuses a read that still counts an expired node share, or a wrong sum', () => {
    expect(checkLinearizable(ROOM_MODEL, [create, share(3, 2, seen(3)), drop(4), get(5, seen(3))]).verdict).toBe(
      'illegal',
    );
    expect(checkLinearizable(ROOM_MODEL, [create, share(3, 2, seen(3)), report(2, 4, seen(2))]).verdict).toBe(
      'illegal',
    );
  });

  it('places a report of unknown outcome where the reads need it, and a concurrent expiry either side', () => {
    const h = [create, share(3, 2, null), get(5, seen(3)), report(1, 6, null), drop(7), get(9, seen(1))];
    expect(checkLinearizable(ROOM_MODEL, h).verdict).toBe('ok');
    const racing = [create, share(3, 2, null), drop(2.5), get(5, seen(3))];
    expect(checkLinearizable(ROOM_MODEL, racing).verdict).toBe('ok');
  });
});
