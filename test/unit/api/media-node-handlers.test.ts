/**
 * Goal: the API side of media nodes (issue 16) builds the right commands and reads the right
 * leases: Heartbeat checks its grant and fields, resolves ttl 0 to the default and proposes a
 * MediaNodeHeartbeat without a request id; ListMediaNodes reads live leases of a region at a
 * LOCAL or linearizable revision; CreateRoom without a node_id writes the placed node into its
 * command and keeps an explicit one; UpdateRoomOccupancy with a node_id proposes an
 * UpdateOccupancyShare, without one the old command, and a refusal of the leader (the version
 * gate's FAILED_PRECONDITION) reaches the caller as that code. Method: the handlers over a
 * stand-in node that records each proposal and answers with a scripted result, and fake lease
 * reads; no registry.
 */
import { describe, expect, it } from 'vitest';
import type { Grants } from '../../../src/api/auth.js';
import {
  MediaNodeHandlers,
  type MediaNodeReads,
  mediaNodesReplyBytes,
  toMediaNode,
} from '../../../src/api/media-node-handlers.js';
import { type CallContext, RoomHandlers, type RoomReads } from '../../../src/api/room-handlers.js';
import { API_LIMITS } from '../../../src/api/validate.js';
import { Command, CommandResult } from '../../../src/gen/roomregistry/command/v1/command.js';
import {
  Consistency,
  CreateRoomRequest,
  HeartbeatRequest,
  ListMediaNodesRequest,
  ListMediaNodesResponse,
  Room,
  UpdateRoomOccupancyRequest,
} from '../../../src/gen/roomregistry/v1/rooms.js';
import { RegistryError } from '../../../src/lib/errors.js';
import type { RaftNode } from '../../../src/node/node.js';
import type { MediaNodeView } from '../../../src/registry/index.js';

const NOW_MS = 1_700_000_000_000;

function view(nodeId: string, region: string, cpuLoad: number, roomsHosted = 0): MediaNodeView {
  return {
    nodeId,
    region,
    ttlS: 10,
    stats: { numRooms: roomsHosted, numClients: 5, cpuLoad },
    expiresAtMs: NOW_MS + 7_000,
    roomsHosted,
  };
}

/** FakeLeases answers liveMediaNodes as the registry would: by region, in node id order; it records the clock asked. */
class FakeLeases implements MediaNodeReads {
  readonly askedAtMs: number[] = [];
  constructor(readonly nodes: MediaNodeView[]) {}
  appliedIndex(): number {
    return 77;
  }
  liveMediaNodes(nowMs: number, region = ''): MediaNodeView[] {
    this.askedAtMs.push(nowMs);
    return this.nodes
      .filter((n) => region === '' || n.region === region)
      .sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
  }
}

type Answer = (c: Command) => CommandResult['result'];

function stubNode(answer: Answer): { node: RaftNode; proposed: Command[]; barriers: number[] } {
  const proposed: Command[] = [];
  const barriers: number[] = [];
  const node = {
    propose: (payload: Uint8Array): Promise<Uint8Array> => {
      const c = Command.decode(payload);
      proposed.push(c);
      return Promise.resolve(CommandResult.encode({ result: answer(c), revision: 100 }).finish());
    },
    readBarrier: (deadlineMs: number): Promise<number> => {
      barriers.push(deadlineMs);
      return Promise.resolve(77);
    },
    stalenessMs: () => 42,
  } as unknown as RaftNode;
  return { node, proposed, barriers };
}

const leaseAnswer: Answer = (c) =>
  c.command?.$case === 'mediaNodeHeartbeat'
    ? { $case: 'lease', value: { nodeId: c.command.value.nodeId, expiresAtMs: NOW_MS + c.command.value.ttlS * 1000 } }
    : undefined;

const roomAnswer: Answer = (c) => {
  const v = c.command?.value;
  const name = v !== undefined && 'name' in v ? v.name : '';
  const nodeId = v !== undefined && 'nodeId' in v ? v.nodeId : '';
  return { $case: 'room', value: { room: Room.fromPartial({ name, nodeId }), created: true } };
};

function ctx(video: Partial<Grants['video']>): CallContext {
  return {
    grants: { apiKey: 'key', video: { roomCreate: false, roomList: false, roomAdmin: false, room: '', ...video } },
    requestId: '',
    deadlineMs: Date.now() + 5_000,
  };
}

const media = ctx({ roomCreate: true });
const lister = ctx({ roomList: true });
const noRooms = {} as RoomReads;

async function codeOf(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => null,
    (error: unknown) => error,
  );
  expect(e).toBeInstanceOf(RegistryError);
  return (e as RegistryError).code;
}

describe('MediaNodeService Heartbeat', () => {
  it('proposes a heartbeat with the default ttl and answers the lease expiry and revision', async () => {
    const { node, proposed } = stubNode(leaseAnswer);
    const h = new MediaNodeHandlers(node, new FakeLeases([]), () => NOW_MS);
    const reply = await h.heartbeat(
      HeartbeatRequest.fromPartial({
        nodeId: 'sfu-1',
        region: 'eu',
        stats: { numRooms: 2, numClients: 9, cpuLoad: 0.5 },
      }),
      media,
    );
    expect(reply).toEqual({ leaseExpiresAtMs: NOW_MS + 10_000, revision: 100 });
    expect(proposed).toEqual([
      {
        requestId: '',
        apiKey: '',
        command: {
          $case: 'mediaNodeHeartbeat',
          value: { nodeId: 'sfu-1', region: 'eu', ttlS: 10, stats: { numRooms: 2, numClients: 9, cpuLoad: 0.5 } },
        },
      },
    ]);
  });

  it('keeps a given ttl and reports missing stats as zeros', async () => {
    const { node, proposed } = stubNode(leaseAnswer);
    const h = new MediaNodeHandlers(node, new FakeLeases([]));
    await h.heartbeat(HeartbeatRequest.fromPartial({ nodeId: 'sfu-1', ttlSeconds: 300 }), media);
    const c = proposed[0]?.command;
    expect(c?.$case === 'mediaNodeHeartbeat' ? [c.value.ttlS, c.value.stats] : null).toEqual([
      300,
      { numRooms: 0, numClients: 0, cpuLoad: 0 },
    ]);
  });

  it('needs roomCreate, and refuses bad fields before proposing', async () => {
    const { node, proposed } = stubNode(leaseAnswer);
    const h = new MediaNodeHandlers(node, new FakeLeases([]));
    const ok = { nodeId: 'sfu-1', region: 'eu', ttlSeconds: 10 };
    expect(await codeOf(h.heartbeat(HeartbeatRequest.fromPartial(ok), lister))).toBe('PERMISSION_DENIED');
    const bad: Array<Partial<HeartbeatRequest>> = [
      { ...ok, nodeId: '' },
      { ...ok, nodeId: 'n'.repeat(API_LIMITS.nodeIdBytesMax + 1) },
      { ...ok, region: 'r'.repeat(API_LIMITS.mediaNodeRegionBytesMax + 1) },
      { ...ok, ttlSeconds: API_LIMITS.leaseTtlSecondsMax + 1 },
      { ...ok, stats: { numRooms: 0, numClients: 0, cpuLoad: 1.2 } },
      { ...ok, stats: { numRooms: 0, numClients: 0, cpuLoad: Number.NaN } },
    ];
    for (const req of bad)
      expect(await codeOf(h.heartbeat(HeartbeatRequest.fromPartial(req), media)), JSON.stringify(req)).toBe(
        'INVALID_ARGUMENT',
      );
    expect(proposed).toEqual([]);
  });

  it("passes the registry's refusal on with its code (the version gate, a lease the registry does not apply)", async () => {
    const { node } = stubNode(() => ({
      $case: 'failure',
      value: { code: 'FAILED_PRECONDITION', message: 'this command needs command format 2' },
    }));
    const h = new MediaNodeHandlers(node, new FakeLeases([]));
    expect(await codeOf(h.heartbeat(HeartbeatRequest.fromPartial({ nodeId: 'sfu-1' }), media))).toBe(
      'FAILED_PRECONDITION',
    );
  });
});

describe('MediaNodeService ListMediaNodes', () => {
  const leases = (): FakeLeases =>
    new FakeLeases([view('b', 'eu', 0.2, 3), view('a', 'us', 0.1), view('c', 'eu', 0.9)]);

  it('lists live nodes of a region after a linearizable barrier, as MediaNode messages', async () => {
    const { node, barriers } = stubNode(() => undefined);
    const reads = leases();
    const h = new MediaNodeHandlers(node, reads, () => NOW_MS);
    const reply = await h.listMediaNodes(ListMediaNodesRequest.fromPartial({ region: 'eu' }), lister);
    expect(barriers).toHaveLength(1);
    expect(reads.askedAtMs).toEqual([NOW_MS]);
    expect(reply.revision).toBe(77);
    expect(reply.stalenessMs).toBe(0);
    expect(reply.nodes.map((n) => n.nodeId)).toEqual(['b', 'c']);
    expect(reply.nodes[0]).toEqual({
      nodeId: 'b',
      region: 'eu',
      stats: { numRooms: 3, numClients: 5, cpuLoad: 0.2 },
      leaseExpiresAtMs: NOW_MS + 7_000,
      ttlSeconds: 10,
      roomsHosted: 3,
    });
  });

  it('serves LOCAL at once with its staleness, and every region for ""', async () => {
    const { node, barriers } = stubNode(() => undefined);
    const h = new MediaNodeHandlers(node, leases(), () => NOW_MS);
    const reply = await h.listMediaNodes(
      ListMediaNodesRequest.fromPartial({ consistency: Consistency.CONSISTENCY_LOCAL }),
      lister,
    );
    expect(barriers).toEqual([]);
    expect(reply.stalenessMs).toBe(42);
    expect(reply.nodes.map((n) => n.nodeId)).toEqual(['a', 'b', 'c']);
  });

  it('needs roomList and a region within its limit', async () => {
    const { node } = stubNode(() => undefined);
    const h = new MediaNodeHandlers(node, leases());
    expect(await codeOf(h.listMediaNodes(ListMediaNodesRequest.fromPartial({}), media))).toBe('PERMISSION_DENIED');
    expect(await codeOf(h.listMediaNodes(ListMediaNodesRequest.fromPartial({ region: 'r'.repeat(65) }), lister))).toBe(
      'INVALID_ARGUMENT',
    );
  });
});

describe('MediaNodeService ListMediaNodes reply budget', () => {
  it('refuses a listing above the reply budget, and every encoding stays within its estimate', async () => {
    const { node } = stubNode(() => undefined);
    const id = 'n'.repeat(API_LIMITS.nodeIdBytesMax);
    const perNode = mediaNodesReplyBytes([view(id, 'r'.repeat(64), 0.5)]);
    const fitting = Math.floor(API_LIMITS.listPageBytesMax / perNode);
    const many = (n: number): FakeLeases =>
      new FakeLeases(Array.from({ length: n }, (_, i) => view(`${i}`.padStart(id.length, 'n'), 'r'.repeat(64), 0.5)));
    const ok = await new MediaNodeHandlers(node, many(fitting)).listMediaNodes(
      ListMediaNodesRequest.fromPartial({}),
      lister,
    );
    expect(ok.nodes).toHaveLength(fitting);
    expect(ListMediaNodesResponse.encode(ok).finish().byteLength).toBeLessThanOrEqual(
      mediaNodesReplyBytes(many(fitting).nodes) + 32,
    );
    const tooMany = new MediaNodeHandlers(node, many(fitting + 1));
    expect(await codeOf(tooMany.listMediaNodes(ListMediaNodesRequest.fromPartial({}), lister))).toBe(
      'RESOURCE_EXHAUSTED',
    );
    // The estimate bounds each node's encoding, whatever its numbers.
    const big: MediaNodeView = {
      ...view(id, 'é'.repeat(32), 1),
      ttlS: 300,
      roomsHosted: 2 ** 32 - 1,
      expiresAtMs: 2 ** 53 - 1,
      stats: { numRooms: 2 ** 32 - 1, numClients: 2 ** 32 - 1, cpuLoad: 0.123 },
    };
    const encoded = ListMediaNodesResponse.encode({ nodes: [toMediaNode(big)], revision: 0, stalenessMs: 0 }).finish();
    expect(encoded.byteLength).toBeLessThanOrEqual(mediaNodesReplyBytes([big]));
  });
});

describe('RoomService with media nodes', () => {
  function handlers(region: string, nodes: MediaNodeView[]): { h: RoomHandlers; proposed: Command[] } {
    const { node, proposed } = stubNode(roomAnswer);
    return {
      h: new RoomHandlers(node, noRooms, { region, leases: new FakeLeases(nodes), nowMs: () => NOW_MS }),
      proposed,
    };
  }

  const createdOn = (c: Command | undefined): string | null =>
    c?.command?.$case === 'createRoom' ? c.command.value.nodeId : null;

  it('CreateRoom without a node_id writes the least-loaded node of its region into the command', async () => {
    const { h, proposed } = handlers('eu', [view('us-1', 'us', 0), view('eu-1', 'eu', 0.8), view('eu-2', 'eu', 0.3)]);
    const reply = await h.createRoom(CreateRoomRequest.fromPartial({ name: 'standup' }), media);
    expect(createdOn(proposed[0])).toBe('eu-2');
    expect(reply.room?.nodeId).toBe('eu-2');
  });

  it('falls back to another region, and to "" when no node is alive', async () => {
    const other = handlers('ap', [view('us-1', 'us', 0.4), view('eu-1', 'eu', 0.2)]);
    await other.h.createRoom(CreateRoomRequest.fromPartial({ name: 'a' }), media);
    expect(createdOn(other.proposed[0])).toBe('eu-1');
    const none = handlers('eu', []);
    await none.h.createRoom(CreateRoomRequest.fromPartial({ name: 'a' }), media);
    expect(createdOn(none.proposed[0])).toBe('');
  });

  it('keeps an explicit node_id as given, alive or not', async () => {
    const { h, proposed } = handlers('eu', [view('eu-1', 'eu', 0)]);
    await h.createRoom(CreateRoomRequest.fromPartial({ name: 'a', nodeId: 'pinned' }), media);
    expect(createdOn(proposed[0])).toBe('pinned');
  });

  it('UpdateRoomOccupancy with a node_id proposes that node’s share; without one, the old report', async () => {
    const { h, proposed } = handlers('', []);
    const counts = { numParticipants: 3, numPublishers: 1 };
    await h.updateRoomOccupancy(
      UpdateRoomOccupancyRequest.fromPartial({ room: 'r', nodeId: 'sfu-a', ...counts }),
      media,
    );
    await h.updateRoomOccupancy(
      UpdateRoomOccupancyRequest.fromPartial({ room: 'r', ...counts, requestId: 'id-1' }),
      media,
    );
    expect(proposed.map((c) => c.command)).toEqual([
      { $case: 'updateOccupancyShare', value: { name: 'r', nodeId: 'sfu-a', ...counts } },
      { $case: 'updateRoomOccupancy', value: { name: 'r', nodeId: '', ...counts } },
    ]);
    expect(proposed[1]?.requestId).toBe('id-1');
  });

  it('a share refused by the leader (no live lease, or members not upgraded) is FAILED_PRECONDITION', async () => {
    const { node } = stubNode(() => ({
      $case: 'failure',
      value: { code: 'FAILED_PRECONDITION', message: 'media node sfu-a has no live lease' },
    }));
    const h = new RoomHandlers(node, noRooms, { region: '', leases: new FakeLeases([]) });
    const req = UpdateRoomOccupancyRequest.fromPartial({ room: 'r', nodeId: 'sfu-a', numParticipants: 1 });
    expect(await codeOf(h.updateRoomOccupancy(req, media))).toBe('FAILED_PRECONDITION');
  });
});
