/**
 * Goal: the media-node rules of issue 16 at the state-machine level, one case each: a room
 * spanning nodes is not ended by one node emptying (livekit/livekit#4316), a share needs a live
 * lease, an expired lease drops its node's shares and hosting, a renewal that lands between the
 * sweeper's read and its batch keeps the lease, a leader change extends leases (term 0 does
 * not), v1 occupancy reports keep their meaning beside shares, the bounds, snapshots (format 2
 * only when needed, copy-on-write of leases, the v1 fixture), quota and watch.
 * Method: encoded commands through `apply` with a driven clock and term, state read back.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SnapshotRecord } from '../../../src/gen/roomregistry/snapshot/v1/snapshot.js';
import { REGISTRY_LIMITS, RoomRegistry, SnapshotFormatError } from '../../../src/registry/index.js';
import { SHARE_OVERHEAD_BYTES } from '../../../src/registry/state-quota.js';
import { DiskSnapshotStore } from '../../../src/storage/snapshot-store.js';
import { Driver, cmd } from './commands.js';

async function* chunksOf(parts: readonly Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield p;
}

function drain(r: RoomRegistry, sliceBytes: number, between: () => void = () => {}): Uint8Array[] {
  const source = r.captureSnapshot();
  const parts: Uint8Array[] = [];
  for (let c = source.nextChunk(sliceBytes); c !== null; c = source.nextChunk(sliceBytes)) {
    parts.push(c);
    between();
  }
  return parts;
}

/** framesOf splits one snapshot chunk into its length-delimited frames (whole, length included). */
function framesOf(bytes: Uint8Array): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (let start = 0; start < bytes.byteLength;) {
    let [length, at] = [0, start];
    for (let shift = 0; ; shift += 7) {
      const b = bytes[at++] ?? 0;
      length += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
    }
    frames.push(bytes.subarray(start, at + length));
    start = at + length;
  }
  return frames;
}

/** recordOf decodes one whole frame. */
function recordOf(frame: Uint8Array): SnapshotRecord['record'] {
  let at = 0;
  while (((frame[at] ?? 0) & 0x80) !== 0) at++;
  return SnapshotRecord.decode(frame.subarray(at + 1)).record;
}

/** headerOf decodes the first record of a snapshot (its header). */
function headerOf(parts: readonly Uint8Array[]): SnapshotRecord['record'] {
  return recordOf(framesOf(parts[0] ?? new Uint8Array(0))[0] ?? new Uint8Array(1));
}

function failureOf(d: Driver, c: Parameters<Driver['apply']>[0]): unknown {
  const r = d.apply(c).result;
  return r?.$case === 'failure' ? r.value : r;
}

/** everything is what a reader sees of a registry at nowMs. */
function everything(r: RoomRegistry, nowMs: number): unknown {
  return {
    applied: r.appliedIndex(),
    rooms: r.listPage('', r.roomCount() + 1).rooms,
    live: r.liveMediaNodes(nowMs),
    dueNodes: r.dueMediaNodes(nowMs + 1e9, 1e9),
    dueRooms: r.dueRooms(nowMs + 1e9, 1e9),
    totals: r.totalsSoFar(),
  };
}

describe('occupancy shares', () => {
  it('livekit#4316: a room stays while one node still reports people, and its timer starts when that lease expires', () => {
    const d = new Driver(new RoomRegistry());
    d.apply(cmd.create('town-hall', { departureTimeoutS: 1 }));
    d.apply(cmd.heartbeat('A', { ttlS: 10 }));
    d.apply(cmd.heartbeat('B', { ttlS: 10 }));
    d.apply(cmd.share('town-hall', 'A', 3, 1));
    d.apply(cmd.share('town-hall', 'B', 2));
    expect(d.registry.getRoom('town-hall')).toMatchObject({ numParticipants: 5, numPublishers: 1, nodeId: 'A' });
    d.nowMs += 1_000;
    d.apply(cmd.heartbeat('B', { ttlS: 10 })); // B lives on
    d.apply(cmd.share('town-hall', 'B', 0)); // B's last participant left
    expect(d.registry.getRoom('town-hall')).toMatchObject({
      numParticipants: 3,
      occupancy: [{ nodeId: 'A', numParticipants: 3, numPublishers: 1 }],
    });
    expect(d.registry.dueRooms(d.nowMs + 1e9, 10)).toEqual([]);
    // A crashes: no more heartbeats. Its lease is due at its expiry and the sweeper's batch removes it.
    const expiresAtMs = d.registry.liveMediaNodes(d.nowMs).find((n) => n.nodeId === 'A')?.expiresAtMs ?? 0;
    expect(d.registry.dueMediaNodes(expiresAtMs - 1, 10)).toEqual([]);
    expect(d.registry.dueMediaNodes(expiresAtMs, 10)).toEqual(['A']);
    d.nowMs = expiresAtMs + 250;
    expect(d.apply(cmd.expireNodes('A')).result).toEqual({ $case: 'expiredMediaNodes', value: { mediaNodes: 1 } });
    expect(d.registry.getRoom('town-hall')).toMatchObject({ numParticipants: 0, numPublishers: 0, nodeId: '' });
    expect(d.registry.getRoom('town-hall')?.occupancy).toEqual([]);
    expect(d.registry.dueRooms(d.nowMs + 999, 10)).toEqual([]);
    expect(d.registry.dueRooms(d.nowMs + 1_000, 10)).toEqual(['town-hall']);
    expect(d.registry.totalsSoFar().mediaNodeLeasesExpired).toBe(1);
  });

  it('refuses a share without a live lease (none, or expired), and NOT_FOUND comes first', () => {
    const d = new Driver(new RoomRegistry());
    d.apply(cmd.create('a'));
    const noLease = {
      code: 'FAILED_PRECONDITION',
      message: 'media node X has no live lease; it must heartbeat first',
    };
    expect(failureOf(d, cmd.share('a', 'X', 1))).toEqual(noLease);
    expect(failureOf(d, cmd.share('nope', 'X', 1))).toMatchObject({ code: 'NOT_FOUND' });
    d.apply(cmd.heartbeat('X', { ttlS: 2 }));
    expect(d.apply(cmd.share('a', 'X', 1)).result?.$case).toBe('room');
    d.nowMs += 2_000; // expired (expiresAtMs <= t) though the sweeper has not removed it yet
    expect(failureOf(d, cmd.share('a', 'X', 4))).toEqual(noLease);
    expect(d.registry.getRoom('a')?.numParticipants).toBe(1);
    expect(d.apply(cmd.heartbeat('', {})).result).toMatchObject({ value: { code: 'INVALID_ARGUMENT' } });
  });
});

describe('v1 occupancy reports beside shares', () => {
  it('v1 reports set the unattributed part beside the shares, and a v1 node_id still replaces the host', () => {
    const d = new Driver(new RoomRegistry());
    d.apply(cmd.create('a', { departureTimeoutS: 5 }));
    d.apply(cmd.heartbeat('A'));
    d.apply(cmd.share('a', 'A', 3, 2));
    d.apply(cmd.occupancyV1('a', 2, 1, 'legacy-sfu'));
    expect(d.registry.getRoom('a')).toMatchObject({
      numParticipants: 5,
      numPublishers: 3,
      nodeId: 'legacy-sfu',
      occupancy: [{ nodeId: 'A', numParticipants: 3, numPublishers: 2 }],
    });
    d.apply(cmd.occupancyV1('a', 0, 0, ''));
    expect(d.registry.getRoom('a')).toMatchObject({ numParticipants: 3, numPublishers: 2, nodeId: 'legacy-sfu' });
    expect(d.registry.dueRooms(d.nowMs + 1e9, 10)).toEqual([]);
    d.nowMs += 1_000;
    d.apply(cmd.share('a', 'A', 0, 0)); // the sum falls to 0: the departure timer starts now
    expect(d.registry.getRoom('a')).toMatchObject({ numParticipants: 0, numPublishers: 0, occupancy: [] });
    expect(d.registry.dueRooms(d.nowMs + 4_999, 10)).toEqual([]);
    expect(d.registry.dueRooms(d.nowMs + 5_000, 10)).toEqual(['a']);
    // A share sets the host of a room without one, and keeps a host otherwise.
    d.apply(cmd.create('b'));
    d.apply(cmd.share('b', 'A', 1));
    d.apply(cmd.heartbeat('B'));
    d.apply(cmd.share('b', 'B', 1));
    expect(d.registry.getRoom('b')?.nodeId).toBe('A');
  });
});

describe('lease expiry', () => {
  it('clears the node_id of the rooms the node hosted, and only its own', () => {
    const d = new Driver(new RoomRegistry());
    d.apply(cmd.heartbeat('A', { ttlS: 5, region: 'eu' }));
    d.apply(cmd.heartbeat('B', { ttlS: 60, region: 'us' }));
    d.apply(cmd.create('placed', { nodeId: 'A' }));
    d.apply(cmd.create('reported'));
    d.apply(cmd.occupancyV1('reported', 2, 0, 'A'));
    d.apply(cmd.create('elsewhere', { nodeId: 'B' }));
    d.apply(cmd.share('elsewhere', 'A', 1));
    expect(d.registry.liveMediaNodes(d.nowMs).map((n) => [n.nodeId, n.region, n.roomsHosted])).toEqual([
      ['A', 'eu', 2],
      ['B', 'us', 1],
    ]);
    expect(d.registry.liveMediaNodes(d.nowMs, 'us').map((n) => n.nodeId)).toEqual(['B']);
    d.nowMs += 5_000;
    d.apply(cmd.expireNodes('A', 'B', 'never-heard-of'));
    expect(['placed', 'reported', 'elsewhere'].map((n) => d.registry.getRoom(n)?.nodeId)).toEqual(['', '', 'B']);
    // The v1 report's count is not A's share: it stays. A's share of 'elsewhere' is gone.
    expect(d.registry.getRoom('reported')?.numParticipants).toBe(2);
    expect(d.registry.getRoom('elsewhere')).toMatchObject({ numParticipants: 0, occupancy: [] });
    expect(d.registry.liveMediaNodes(d.nowMs).map((n) => n.nodeId)).toEqual(['B']);
    expect(d.registry.totalsSoFar().mediaNodeLeasesExpired).toBe(1);
  });

  it('keeps a lease renewed between the sweeper reading it due and its batch applying', () => {
    const d = new Driver(new RoomRegistry());
    d.apply(cmd.create('a'));
    d.apply(cmd.heartbeat('A', { ttlS: 3 }));
    d.apply(cmd.share('a', 'A', 4));
    d.nowMs += 3_000;
    const due = d.registry.dueMediaNodes(d.nowMs, 10);
    expect(due).toEqual(['A']);
    d.apply(cmd.heartbeat('A', { ttlS: 3 })); // lands before the batch
    expect(d.apply(cmd.expireNodes(...due)).result).toEqual({ $case: 'expiredMediaNodes', value: { mediaNodes: 0 } });
    expect(d.registry.getRoom('a')).toMatchObject({ numParticipants: 4, nodeId: 'A' });
    expect(d.registry.liveMediaNodes(d.nowMs)[0]?.expiresAtMs).toBe(d.nowMs + 3_000);
    expect(d.registry.totalsSoFar().mediaNodeLeasesExpired).toBe(0);
  });
});

describe('leader change', () => {
  /** script: leases A (10 s) and B (1 s) at t0 in term 1, an entry at t0+2 s, then one at t0+7 s. */
  function script(nextTerm: number): Driver {
    const d = new Driver(new RoomRegistry());
    const t0 = d.nowMs;
    d.term = nextTerm === 0 ? 0 : 1;
    d.apply(cmd.heartbeat('A', { ttlS: 10 }));
    d.apply(cmd.heartbeat('B', { ttlS: 1 }));
    d.nowMs = t0 + 2_000;
    d.apply(cmd.create('x')); // the old leader's last entry: B is already due, A is live
    d.nowMs = t0 + 7_000;
    d.term = nextTerm;
    d.apply(cmd.expireNodes('A', 'B')); // the next leader's first entry, 5 s later
    return d;
  }

  it('extends the leases live at the last entry by the gap before the new term runs its first command', () => {
    const d = script(2);
    const t0 = d.nowMs - 7_000;
    expect(d.registry.liveMediaNodes(d.nowMs).map((n) => [n.nodeId, n.expiresAtMs])).toEqual([['A', t0 + 15_000]]);
    expect(d.registry.totalsSoFar().mediaNodeLeasesExpired).toBe(1); // B was due before the gap: not extended
    d.nowMs = t0 + 9_000;
    d.apply(cmd.create('y')); // same term: nothing more
    expect(d.registry.liveMediaNodes(d.nowMs)[0]?.expiresAtMs).toBe(t0 + 15_000);
  });

  it('extends nothing for term 0 (callers that do not know the term)', () => {
    const d = script(0);
    expect(d.registry.liveMediaNodes(d.nowMs).map((n) => [n.nodeId, n.expiresAtMs])).toEqual([
      ['A', d.nowMs - 7_000 + 10_000],
    ]);
  });

  it('a restored replica extends exactly like the original (the last entry is in the snapshot)', async () => {
    const a = new Driver(new RoomRegistry());
    a.term = 3;
    a.apply(cmd.heartbeat('A', { ttlS: 10 }));
    const b = new Driver(new RoomRegistry());
    await b.registry.restore(chunksOf(drain(a.registry, 1 << 20)));
    [b.next, b.nowMs] = [a.next, a.nowMs];
    for (const d of [a, b]) {
      d.term = 4;
      d.nowMs += 4_000;
      d.apply(cmd.create('x'));
    }
    expect(b.registry.liveMediaNodes(b.nowMs)).toEqual(a.registry.liveMediaNodes(a.nowMs));
    expect(a.registry.liveMediaNodes(a.nowMs)[0]?.expiresAtMs).toBe(a.nowMs - 4_000 + 14_000);
  });
});

describe('bounds', () => {
  it('refuses a new media node past mediaNodesMax, while the ones it holds still renew', () => {
    const d = new Driver(new RoomRegistry());
    for (let i = 0; i < REGISTRY_LIMITS.mediaNodesMax; i++) d.apply(cmd.heartbeat(`n${i}`));
    expect(failureOf(d, cmd.heartbeat('one-too-many'))).toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
    d.nowMs += 1_000;
    expect(d.apply(cmd.heartbeat('n7')).result).toEqual({
      $case: 'lease',
      value: { nodeId: 'n7', expiresAtMs: d.nowMs + 10_000 },
    });
    expect(d.registry.liveMediaNodes(d.nowMs)).toHaveLength(REGISTRY_LIMITS.mediaNodesMax);
  });

  it('refuses a new share past roomSharesMax, while counted nodes still change or drop theirs', () => {
    const d = new Driver(new RoomRegistry());
    d.apply(cmd.create('big'));
    const max = REGISTRY_LIMITS.roomSharesMax;
    for (let i = 0; i <= max; i++) d.apply(cmd.heartbeat(`n${String(i).padStart(3, '0')}`));
    for (let i = 0; i < max; i++) d.apply(cmd.share('big', `n${String(i).padStart(3, '0')}`, 1));
    const last = `n${String(max).padStart(3, '0')}`;
    expect(failureOf(d, cmd.share('big', last, 1))).toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
    expect(d.apply(cmd.share('big', last, 0)).result?.$case).toBe('room'); // a share of 0 adds nothing
    expect(d.apply(cmd.share('big', 'n000', 5)).result?.$case).toBe('room');
    expect(d.apply(cmd.share('big', 'n001', 0)).result?.$case).toBe('room');
    expect(d.apply(cmd.share('big', last, 1)).result?.$case).toBe('room');
    expect(d.registry.getRoom('big')).toMatchObject({ numParticipants: max + 4 });
    expect(d.registry.getRoom('big')?.occupancy).toHaveLength(max);
  });
});

describe('snapshots with media nodes', () => {
  it('writes format 1 without leases or shares, 2 with them, and refuses lease records in format 1', async () => {
    const d = new Driver(new RoomRegistry());
    d.apply(cmd.create('a'));
    expect(headerOf(drain(d.registry, 1 << 20))).toMatchObject({ value: { formatVersion: 1 } });
    d.apply(cmd.heartbeat('A'));
    const withLease = drain(d.registry, 1 << 20);
    expect(headerOf(withLease)).toMatchObject({ value: { formatVersion: 2 } });
    d.nowMs += 10_000;
    d.apply(cmd.expireNodes('A'));
    expect(headerOf(drain(d.registry, 1 << 20))).toMatchObject({ value: { formatVersion: 1 } });
    d.apply(cmd.heartbeat('B', { ttlS: 300 }));
    d.apply(cmd.share('a', 'B', 2));
    const both = drain(d.registry, 1 << 20);
    expect(headerOf(both)).toMatchObject({
      value: { formatVersion: 2, mediaNodeLeasesExpiredTotal: 1, lastEntryTimeMs: d.nowMs },
    });
    const restored = new RoomRegistry();
    await restored.restore(chunksOf(both));
    expect(everything(restored, d.nowMs)).toEqual(everything(d.registry, d.nowMs));
    // Relabel the format-2 stream as format 1: its lease record is refused.
    const bytes = withLease[0] ?? new Uint8Array(0);
    const at = bytes.findIndex((b, i) => b === 0x08 && bytes[i + 1] === 2); // format_version: field 1, varint 2
    const relabelled = Uint8Array.from(bytes);
    relabelled[at + 1] = 1;
    expect(headerOf([relabelled])).toMatchObject({ value: { formatVersion: 1 } });
    await expect(new RoomRegistry().restore(chunksOf([relabelled]))).rejects.toBeInstanceOf(SnapshotFormatError);
  });

  it('refuses a snapshot whose footer counts leases it does not hold', async () => {
    const d = new Driver(new RoomRegistry());
    d.apply(cmd.heartbeat('A'));
    d.apply(cmd.heartbeat('B'));
    const frames = framesOf(drain(d.registry, 1 << 20)[0] ?? new Uint8Array(0));
    expect(frames.map((f) => recordOf(f)?.$case)).toEqual(['header', 'lease', 'lease', 'footer']);
    const oneLeaseLost = frames.filter((_, i) => i !== 1);
    await expect(new RoomRegistry().restore(chunksOf(oneLeaseLost))).rejects.toThrow(/2 leases, the stream had .* 1/);
    await new RoomRegistry().restore(chunksOf(frames)); // the whole stream restores
  });

  it('a capture keeps the leases and shares of capture time while heartbeats, shares and expiry go on', async () => {
    const d = new Driver(new RoomRegistry());
    for (let i = 0; i < 30; i++) d.apply(cmd.create(`r${i}`, { departureTimeoutS: 1 }));
    for (let i = 0; i < 8; i++) d.apply(cmd.heartbeat(`n${i}`, { ttlS: 1 + i, region: i % 2 === 0 ? 'eu' : 'us' }));
    for (let i = 0; i < 30; i++) d.apply(cmd.share(`r${i}`, `n${i % 8}`, 1 + (i % 3)));
    const atCapture = everything(d.registry, d.nowMs);
    const captureMs = d.nowMs;
    let step = 0;
    const parts = drain(d.registry, 64, () => {
      step++;
      d.nowMs += 400;
      d.apply(cmd.heartbeat(`n${step % 8}`, { ttlS: 2 }));
      d.apply(cmd.share(`r${step % 30}`, `n${step % 8}`, step % 4));
      d.apply(cmd.expireNodes(...d.registry.dueMediaNodes(d.nowMs, 3)));
      d.apply(cmd.expire(...d.registry.dueRooms(d.nowMs, 3)));
    });
    expect(d.registry.totalsSoFar().mediaNodeLeasesExpired).toBeGreaterThan(0);
    const restored = new RoomRegistry();
    await restored.restore(chunksOf(parts));
    expect(everything(restored, captureMs)).toEqual(atCapture);
  });
});

describe('the v1 snapshot fixture', () => {
  const temps: string[] = [];
  afterEach(async () => {
    await Promise.all(temps.splice(0).map((t) => rm(t, { recursive: true, force: true })));
  });

  it('the v1 snapshot fixture restores (all unattributed) and takes shares on top, written then as format 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'media-v1-'));
    temps.push(dir);
    await cp(join('test', 'fixtures', 'compat', 'v1', 'snapshot'), dir, { recursive: true });
    const store = new DiskSnapshotStore(dir, false);
    const [meta] = await store.list();
    if (meta === undefined) throw new Error('the fixture has no snapshot');
    const r = new RoomRegistry();
    await r.restore(store.open(meta));
    expect(r.getRoom('charlie')).toMatchObject({ numParticipants: 3, nodeId: 'media-1', occupancy: [] });
    expect(r.liveMediaNodes(0)).toEqual([]);
    const d = new Driver(r);
    d.next = r.appliedIndex() + 1;
    d.nowMs = 2_000_000_000_000;
    d.apply(cmd.heartbeat('A'));
    d.apply(cmd.share('charlie', 'A', 2));
    expect(r.getRoom('charlie')).toMatchObject({ numParticipants: 5, nodeId: 'media-1' });
    d.apply(cmd.occupancyV1('charlie', 0, 0, '')); // the v1 part leaves, A's share stays
    expect(r.getRoom('charlie')?.numParticipants).toBe(2);
    const parts = drain(r, 1 << 20);
    expect(headerOf(parts)).toMatchObject({ value: { formatVersion: 2 } });
    const again = new RoomRegistry();
    await again.restore(chunksOf(parts));
    expect(everything(again, d.nowMs)).toEqual(everything(r, d.nowMs));
  });
});

describe('quota and watch with media nodes', () => {
  it('counts shares in the state quota, and publishes share changes and lease expiry to watchers', () => {
    const d = new Driver(new RoomRegistry());
    d.apply(cmd.create('a'));
    d.apply(cmd.heartbeat('node-a', { ttlS: 1 }));
    const before = d.registry.quotaUsedBytes();
    d.apply(cmd.share('a', 'node-a', 2));
    // The share, and the room's new host (node_id was "").
    expect(d.registry.quotaUsedBytes() - before).toBe(SHARE_OVERHEAD_BYTES + 2 * 'node-a'.length);
    d.nowMs += 1_000;
    d.apply(cmd.expireNodes('node-a'));
    expect(d.registry.quotaUsedBytes()).toBe(before);
    const read = d.registry.watchChanges(2, 100);
    expect(
      read.ok && read.events.map((e) => [e.type, e.revision, e.room.numParticipants, e.room.nodeId, e.room.occupancy]),
    ).toEqual([
      ['updated', 3, 2, 'node-a', [{ nodeId: 'node-a', numParticipants: 2, numPublishers: 0 }]],
      ['updated', 4, 0, '', []],
    ]);
  });
});
