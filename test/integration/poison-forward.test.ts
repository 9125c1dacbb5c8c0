/**
 * Goal: a peer that holds the cluster secret cannot crash the cluster with a poison command
 * (issue 12 item 4): a Forward call to the leader with an empty, undecodable, unknown, invalid
 * or oversized command gets INVALID_ARGUMENT for each, nothing reaches the log, and every node
 * keeps running and serving. Method: a real 3-node cluster; a raw client of the generated
 * PeerService with the cluster's secret posing as a follower sends one batch of such
 * commands to the leader; then writes through every node must succeed and apply everywhere.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/config/limits.js';
import { Command } from '../../src/gen/roomregistry/command/v1/command.js';
import { type ForwardResponse, PeerServiceClient } from '../../src/gen/roomregistry/peer/v1/peer.js';
import { PEER_METADATA } from '../../src/transport/peer-auth.js';
import { ProcessCluster, waitUntil } from '../harness/process-cluster.js';

let cluster: ProcessCluster | null = null;
afterAll(async () => {
  await cluster?.stop();
});

function create(name: string): Uint8Array {
  const value = {
    name,
    emptyTimeoutS: 0,
    departureTimeoutS: 0,
    maxParticipants: 0,
    nodeId: '',
    metadata: '',
    sid: 'RM_poisonpoison',
    turnPassword: 'pw',
  };
  return Command.encode({ requestId: '', apiKey: '', command: { $case: 'createRoom', value } }).finish();
}

/** oversized is a valid CreateRoom plus an unknown field that takes it past commandBytesMax. */
function oversized(): Uint8Array {
  const padding = LIMITS.commandBytesMax;
  const field = Uint8Array.of(0xfa, 0x3e, ...varint(padding)); // field 1007, length-delimited
  const room = create('too-big');
  const out = new Uint8Array(room.byteLength + field.byteLength + padding);
  out.set(room);
  out.set(field, room.byteLength);
  return out;
}

function varint(n: number): number[] {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return out;
}

const POISON: ReadonlyArray<readonly [string, Uint8Array]> = [
  ['empty', new Uint8Array(0)],
  ['undecodable', Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)],
  ['unknown kind', Uint8Array.of(0x9a, 0x06, 0x02, 0x0a, 0x00)],
  ['room without a name', create('')],
  ['oversized', oversized()],
];

function forward(c: ProcessCluster, to: string, as: string, commands: Uint8Array[]): Promise<ForwardResponse> {
  const client = new PeerServiceClient(c.node(to).peer, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': LIMITS.peerMessageBytesMax,
  });
  const metadata = new grpc.Metadata();
  metadata.set(PEER_METADATA.cluster, 'test');
  metadata.set(PEER_METADATA.nodeId, as);
  metadata.set(PEER_METADATA.secret, c.secret);
  return new Promise((resolve, reject) => {
    client.forward(
      { commands: commands.map((b) => Buffer.from(b)) },
      metadata,
      { deadline: Date.now() + 10_000 },
      (e, res) => {
        client.close();
        if (e !== null || res === undefined) reject(e ?? new Error('no response'));
        else resolve(res);
      },
    );
  });
}

describe('a poison Forward', () => {
  it('is refused command by command, and the cluster keeps serving', async () => {
    const c = await ProcessCluster.create(3);
    cluster = c;
    c.startAll();
    const leader = await c.waitForLeader();
    const follower = c.nodes.find((n) => n.id !== leader)?.id ?? '';
    expect((await c.client(leader).createRoom({ name: 'before' })).created).toBe(true);

    const res = await forward(
      c,
      leader,
      follower,
      POISON.map(([, b]) => b),
    );
    expect(res.results).toHaveLength(POISON.length);
    res.results.forEach((r, i) => {
      expect(r.outcome?.$case, POISON[i]?.[0]).toBe('error');
      expect(r.outcome?.$case === 'error' ? r.outcome.value.code : '', POISON[i]?.[0]).toBe('INVALID_ARGUMENT');
    });
    const last = res.results[POISON.length - 1]?.outcome;
    expect(last?.$case === 'error' ? last.value.message : '').toContain('commandBytesMax');

    // Every node still takes writes, and each applies all of them (a poison entry would have
    // been applied on the way, and stopped the node).
    for (const n of c.nodes) expect((await c.client(n.id).createRoom({ name: `after-${n.id}` })).created).toBe(true);
    const commit = (await c.status(leader))?.commitIndex ?? Infinity;
    await waitUntil('every node applied the writes', async () => {
      const statuses = await Promise.all(c.nodes.map((n) => c.status(n.id)));
      return statuses.every((s) => s !== null && s.appliedIndex >= commit);
    });
    const rooms = await c.client(follower).listRooms({ names: [] });
    expect(rooms.rooms.map((r) => r.name)).not.toContain('too-big');
    expect(rooms.rooms.map((r) => r.name).sort()).toEqual(['after-n1', 'after-n2', 'after-n3', 'before']);
    expect(c.unexpectedExits).toEqual([]);
    expect(await c.waitForLeader()).toBe(leader);
  });
});
