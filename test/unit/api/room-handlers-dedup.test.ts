/**
 * Goal: a write's API key travels in its command, so request ids are remembered per key
 * (issue 12 item 9): another key's id is another request, and a token scoped to one room
 * cannot read another room's write by reusing its id. Method: RoomHandlers over a stand-in
 * node that applies each proposal straight to a RoomRegistry.
 */
import { describe, expect, it } from 'vitest';
import type { Grants } from '../../../src/api/auth.js';
import { type CallContext, RoomHandlers } from '../../../src/api/room-handlers.js';
import { Command } from '../../../src/gen/roomregistry/command/v1/command.js';
import { index } from '../../../src/lib/ids.js';
import type { RaftNode } from '../../../src/node/node.js';
import { CreateRoomRequest, UpdateRoomMetadataRequest } from '../../../src/gen/roomregistry/v1/rooms.js';
import { RoomRegistry } from '../../../src/registry/index.js';

function setup(): { handlers: RoomHandlers; proposed: Command[] } {
  const registry = new RoomRegistry();
  const proposed: Command[] = [];
  let next = 1;
  const node = {
    propose: (payload: Uint8Array): Promise<Uint8Array> => {
      proposed.push(Command.decode(payload));
      return Promise.resolve(registry.apply(index(next++), payload, 1_700_000_000_000));
    },
  } as unknown as RaftNode;
  return { handlers: new RoomHandlers(node, registry, { region: '', leases: { liveMediaNodes: () => [] } }), proposed };
}

function ctx(apiKey: string, video: Partial<Grants['video']>, requestId = ''): CallContext {
  return {
    grants: { apiKey, video: { roomCreate: false, roomList: false, roomAdmin: false, room: '', ...video } },
    requestId,
    deadlineMs: Date.now() + 5_000,
  };
}

describe('RoomHandlers request ids', () => {
  it('carry the API key, so the same id under two keys is two requests', async () => {
    const { handlers, proposed } = setup();
    const a = await handlers.createRoom(
      CreateRoomRequest.fromPartial({ name: 'a', requestId: 'same' }),
      ctx('key-1', { roomCreate: true }),
    );
    const b = await handlers.createRoom(
      CreateRoomRequest.fromPartial({ name: 'b', requestId: 'same' }),
      ctx('key-2', { roomCreate: true }),
    );
    expect([a.room?.name, b.room?.name]).toEqual(['a', 'b']);
    expect(proposed.map((c) => [c.apiKey, c.requestId])).toEqual([
      ['key-1', 'same'],
      ['key-2', 'same'],
    ]);
  });

  it("refuse a token scoped to one room that reuses another room's id", async () => {
    const { handlers } = setup();
    const admin = ctx('key', { roomCreate: true });
    await handlers.createRoom(CreateRoomRequest.fromPartial({ name: 'room-a' }), admin);
    await handlers.createRoom(CreateRoomRequest.fromPartial({ name: 'room-b' }), admin);
    await handlers.updateRoomMetadata(
      UpdateRoomMetadataRequest.fromPartial({ room: 'room-b', metadata: 'secret', requestId: 'id-b' }),
      ctx('key', { roomAdmin: true, room: 'room-b' }),
    );
    const scopedToA = ctx('key', { roomAdmin: true, room: 'room-a' });
    const replay = handlers.updateRoomMetadata(
      UpdateRoomMetadataRequest.fromPartial({ room: 'room-a', metadata: '', requestId: 'id-b' }),
      scopedToA,
    );
    await expect(replay).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(replay).rejects.not.toMatchObject({ message: expect.stringContaining('secret') as unknown });
  });
});
