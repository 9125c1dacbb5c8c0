import { Command, CommandResult } from '../../../src/gen/roomregistry/command/v1/command.js';
import { index, type Index } from '../../../src/lib/ids.js';
import type { RoomRegistry } from '../../../src/registry/index.js';

/** Builders for the commands the tests apply, and a tiny driver that numbers the entries. */
export const cmd = {
  create: (
    name: string,
    extra: Partial<{
      emptyTimeoutS: number;
      departureTimeoutS: number;
      metadata: string;
      requestId: string;
      apiKey: string;
      nodeId: string;
    }> = {},
  ): Command => ({
    requestId: extra.requestId ?? '',
    apiKey: extra.apiKey ?? '',
    command: {
      $case: 'createRoom',
      value: {
        name,
        emptyTimeoutS: extra.emptyTimeoutS ?? 0,
        departureTimeoutS: extra.departureTimeoutS ?? 0,
        maxParticipants: 0,
        nodeId: extra.nodeId ?? '',
        metadata: extra.metadata ?? '',
        sid: `RM_${name.padEnd(12, 'x').slice(0, 12)}`,
        turnPassword: 'pw',
      },
    },
  }),
  update: (name: string, metadata: string, requestId = '', apiKey = ''): Command => ({
    requestId,
    apiKey,
    command: { $case: 'updateRoomMetadata', value: { name, metadata } },
  }),
  remove: (name: string, requestId = '', apiKey = ''): Command => ({
    requestId,
    apiKey,
    command: { $case: 'deleteRoom', value: { name } },
  }),
  occupancy: (name: string, numParticipants: number): Command => ({
    requestId: '',
    apiKey: '',
    command: { $case: 'updateRoomOccupancy', value: { name, numParticipants, numPublishers: 0, nodeId: 'media-1' } },
  }),
  expire: (...names: string[]): Command => ({
    requestId: '',
    apiKey: '',
    command: { $case: 'expireRooms', value: { names } },
  }),
  /** occupancyV1: UpdateRoomOccupancy with every field given (nodeId "" keeps the room's host). */
  occupancyV1: (name: string, numParticipants: number, numPublishers: number, nodeId: string): Command => ({
    requestId: '',
    apiKey: '',
    command: { $case: 'updateRoomOccupancy', value: { name, numParticipants, numPublishers, nodeId } },
  }),
  heartbeat: (
    nodeId: string,
    extra: Partial<{ region: string; ttlS: number; numRooms: number; cpuLoad: number }> = {},
  ): Command => ({
    requestId: '',
    apiKey: '',
    command: {
      $case: 'mediaNodeHeartbeat',
      value: {
        nodeId,
        region: extra.region ?? '',
        ttlS: extra.ttlS ?? 10,
        stats: { numRooms: extra.numRooms ?? 0, numClients: 0, cpuLoad: extra.cpuLoad ?? 0 },
      },
    },
  }),
  expireNodes: (...nodeIds: string[]): Command => ({
    requestId: '',
    apiKey: '',
    command: { $case: 'expireMediaNodes', value: { nodeIds } },
  }),
  share: (name: string, nodeId: string, numParticipants: number, numPublishers = 0): Command => ({
    requestId: '',
    apiKey: '',
    command: { $case: 'updateOccupancyShare', value: { name, nodeId, numParticipants, numPublishers } },
  }),
  setVersion: (version: number): Command => ({
    requestId: '',
    apiKey: '',
    command: { $case: 'setCommandVersion', value: { version } },
  }),
};

/** Driver applies commands at consecutive indexes with a settable clock (and term: 0 leaves it out). */
export class Driver {
  next = 1;
  nowMs = 1_700_000_000_000;
  term = 0;
  constructor(readonly registry: RoomRegistry) {}

  apply(c: Command): CommandResult {
    const at: Index = index(this.next++);
    const payload = Command.encode(c).finish();
    if (this.term === 0) return CommandResult.decode(this.registry.apply(at, payload, this.nowMs));
    return CommandResult.decode(this.registry.apply(at, payload, this.nowMs, Infinity, this.term));
  }
}

/** digest is a canonical text of everything a reader can see, for comparing replicas. */
export function digest(r: RoomRegistry): string {
  const all = r.listPage('', Math.max(1, r.roomCount())).rooms;
  return JSON.stringify({ applied: r.appliedIndex(), rooms: all, totals: r.totalsSoFar() });
}
