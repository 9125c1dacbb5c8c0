/**
 * Goal: ListRooms replies are bounded in bytes, not only in rooms (issue 12 item 6): repeated
 * names are looked up once, a page stops at listPageBytesMax with a next_page_token that
 * resumes after the last room sent, and a list that cannot page (LiveKit's unpaged ListRooms,
 * or one by names) is refused with RESOURCE_EXHAUSTED above its budget. Method: RoomHandlers
 * over a real RoomRegistry filled with rooms of 512 KiB metadata, with a node stub whose reads
 * are always confirmed.
 */
import { describe, expect, it } from 'vitest';
import { Command } from '../../../src/gen/roomregistry/command/v1/command.js';
import { Consistency, type ListRoomsRequest } from '../../../src/gen/roomregistry/v1/rooms.js';
import { type CallContext, RoomHandlers } from '../../../src/api/room-handlers.js';
import { API_LIMITS } from '../../../src/api/validate.js';
import { roomReplyBytes } from '../../../src/api/room-view.js';
import { index } from '../../../src/lib/ids.js';
import { RegistryError } from '../../../src/lib/errors.js';
import type { RaftNode } from '../../../src/node/node.js';
import { RoomRegistry } from '../../../src/registry/index.js';
import { cmd } from '../registry/commands.js';

const BIG_METADATA = 'm'.repeat(API_LIMITS.metadataBytesMax);
const ctx: CallContext = {
  grants: { apiKey: 'k', video: { roomCreate: true, roomList: true, roomAdmin: false, room: '' } },
  requestId: '',
  deadlineMs: Date.now() + 5_000,
};
/** NO_PLACEMENT: no media node is alive (placement is placement.test.ts's). */
const NO_PLACEMENT = { region: '', leases: { liveMediaNodes: () => [] } };
const nodeStub = { readBarrier: () => Promise.resolve(0), stalenessMs: () => 0 } as unknown as RaftNode;

function registryWith(rooms: number, metadata: string): RoomRegistry {
  const r = new RoomRegistry();
  for (let i = 0; i < rooms; i++) {
    r.apply(
      index(i + 1),
      Command.encode(cmd.create(`room-${String(i).padStart(4, '0')}`, { metadata })).finish(),
      1_700_000_000_000,
    );
  }
  return r;
}

function listRequest(extra: Partial<ListRoomsRequest>): ListRoomsRequest {
  return { names: [], consistency: Consistency.CONSISTENCY_LINEARIZABLE, pageToken: '', pageSize: 0, ...extra };
}

async function refusal(p: Promise<unknown>): Promise<RegistryError> {
  const e = await p.then(
    () => null,
    (error: unknown) => error,
  );
  expect(e).toBeInstanceOf(RegistryError);
  return e as RegistryError;
}

describe('ListRooms byte budgets', () => {
  it('a default page of 512 KiB rooms stops at the byte budget and the token resumes after it', async () => {
    const h = new RoomHandlers(nodeStub, registryWith(12, BIG_METADATA), NO_PLACEMENT);
    const seen: string[] = [];
    let token = '';
    let pages = 0;
    do {
      const page = await h.listRooms(listRequest({ pageToken: token }), ctx);
      let bytes = 0;
      for (const room of page.rooms) bytes += roomReplyBytes(room);
      expect(bytes).toBeLessThanOrEqual(API_LIMITS.listPageBytesMax);
      expect(page.rooms.length).toBeGreaterThan(0);
      seen.push(...page.rooms.map((r) => r.name));
      token = page.nextPageToken;
      pages++;
    } while (token !== '' && pages < 20);
    expect(pages).toBeGreaterThan(1);
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => `room-${String(i).padStart(4, '0')}`));
  });

  it('a page holds at least one room, and small rooms still page by count', async () => {
    const h = new RoomHandlers(nodeStub, registryWith(30, ''), NO_PLACEMENT);
    const page = await h.listRooms(listRequest({ pageSize: 10 }), ctx);
    expect(page.rooms).toHaveLength(10);
    expect(page.nextPageToken).not.toBe('');
  });

  it('1 000 copies of one big room name are one room, and by-names lists above the budget are refused', async () => {
    const h = new RoomHandlers(nodeStub, registryWith(12, BIG_METADATA), NO_PLACEMENT);
    const copies = new Array<string>(1_000).fill('room-0003');
    expect((await h.listRooms(listRequest({ names: copies }), ctx)).rooms.map((r) => r.name)).toEqual(['room-0003']);
    expect((await h.listAllRooms(copies, ctx)).map((r) => r.name)).toEqual(['room-0003']);
    const all = Array.from({ length: 12 }, (_, i) => `room-${String(i).padStart(4, '0')}`);
    const e = await refusal(h.listRooms(listRequest({ names: all }), ctx));
    expect(e.code).toBe('RESOURCE_EXHAUSTED');
    expect(e.message).toMatch(/more than one ListRooms reply carries/);
  });

  it('the unpaged LiveKit list refuses above its byte budget with a clear error', async () => {
    const fits = Math.floor(API_LIMITS.unpagedReplyBytesMax / (API_LIMITS.metadataBytesMax + 1_000));
    const ok = new RoomHandlers(nodeStub, registryWith(fits, BIG_METADATA), NO_PLACEMENT);
    expect(await ok.listAllRooms([], ctx)).toHaveLength(fits);
    const tooMany = new RoomHandlers(nodeStub, registryWith(fits + 2, BIG_METADATA), NO_PLACEMENT);
    const e = await refusal(tooMany.listAllRooms([], ctx));
    expect(e.code).toBe('RESOURCE_EXHAUSTED');
    expect(e.message).toMatch(/list by names, or page with the gRPC API/);
  });
});
