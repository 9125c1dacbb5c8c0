import { Command, CommandResult } from '../../src/gen/roomregistry/command/v1/command.js';
import type { Index } from '../../src/lib/ids.js';
import { encodeMessage } from '../../src/lib/proto-encode.js';
import type { SnapshotSource } from '../../src/raft/index.js';
import { RoomRegistry } from '../../src/registry/index.js';
import type { MachineKind, SimMachine } from './cluster.js';

/**
 * SimRooms is the production room state machine (RoomRegistry) as a simulated node runs it,
 * plus what the checkers need: a canonical digest of every room, and the rooms each
 * ExpireRooms entry actually deleted (its result only counts them).
 */
export class SimRooms implements SimMachine {
  readonly registry = new RoomRegistry();

  constructor(private readonly onExpired: (index: Index, rooms: readonly string[]) => void) {}

  apply(index: Index, payload: Uint8Array, entryTimeMs: number): Uint8Array {
    const c = Command.decode(payload).command;
    if (c?.$case !== 'expireRooms') return this.registry.apply(index, payload, entryTimeMs);
    const present = c.value.names.filter((n) => this.registry.getRoom(n) !== null);
    const result = this.registry.apply(index, payload, entryTimeMs);
    const gone = present.filter((n) => this.registry.getRoom(n) === null);
    if (gone.length > 0) this.onExpired(index, gone);
    return result;
  }

  captureSnapshot(): SnapshotSource {
    return this.registry.captureSnapshot();
  }

  restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    return this.registry.restore(chunks);
  }

  digest(): string {
    const { rooms } = this.registry.listPage('', this.registry.roomCount() + 1);
    return JSON.stringify({ rooms, totals: this.registry.totalsSoFar() });
  }
}

/**
 * roomsMachine makes SimRooms. A room snapshot's bytes follow the capture's copy-on-write
 * order, not a canonical one, so snapshots are compared by their index alone (the checker
 * still requires that index to be committed); the final states are compared by digest.
 */
export function roomsMachine(onExpired: (index: Index, rooms: readonly string[]) => void): MachineKind {
  return {
    name: 'rooms',
    create: () => new SimRooms(onExpired),
    snapshotDigest: () => 'rooms',
  };
}

/** encodeRoomCommand encodes a client's command with its request id. */
export function encodeRoomCommand(requestId: string, command: NonNullable<Command['command']>): Uint8Array {
  return encodeMessage(Command, { apiKey: 'sim', requestId, command });
}

/** decodeRoomResult decodes what the node returned for a proposed command. */
export function decodeRoomResult(bytes: Uint8Array): CommandResult['result'] {
  return CommandResult.decode(bytes).result;
}
