import { Command, CommandResult } from '../../src/gen/roomregistry/command/v1/command.js';
import type { Room } from '../../src/gen/roomregistry/v1/rooms.js';
import type { Index, Term } from '../../src/lib/ids.js';
import { encodeMessage } from '../../src/lib/proto-encode.js';
import type { SnapshotSource } from '../../src/raft/index.js';
import { RoomRegistry } from '../../src/registry/index.js';
import type { MachineKind, SimMachine } from './cluster.js';

/**
 * SimRoomsEvents tells the workload and the checkers what an entry actually did on a replica,
 * where the result only counts it. Each replica that applies the entry calls them.
 */
export interface SimRoomsEvents {
  /** roomsExpired: the ExpireRooms entry at `index` deleted these rooms. */
  roomsExpired(index: Index, rooms: readonly string[]): void;
  /**
   * mediaNodesExpired: the ExpireMediaNodes entry at `index`, stamped `entryTimeMs`, removed
   * these leases (maybe none); `leftovers` names what the removed nodes still held afterwards
   * (a room's share or node_id), empty when the entry did all it must.
   */
  mediaNodesExpired(index: Index, entryTimeMs: number, nodeIds: readonly string[], leftovers: readonly string[]): void;
  /**
   * writeRefused: the write of `requestId` was refused and changed nothing: a share report
   * with no live lease, a create or update past the state quota.
   */
  writeRefused(requestId: string): void;
}

/** Counts is a room's participants and publishers. */
interface Counts {
  readonly participants: number;
  readonly publishers: number;
}

/**
 * SimRooms is the production room state machine (RoomRegistry) as a simulated node runs it,
 * plus what the checkers need: a canonical digest of every room and lease, the rooms and
 * leases each expiry entry actually removed (its result only counts them), and a shadow of
 * each room's unattributed share (the counts of its last report without a media node) kept
 * from the commands this replica ran, to check that a room's counts are that share plus the
 * sum of its media nodes' shares.
 */
export class SimRooms implements SimMachine {
  readonly registry = new RoomRegistry();
  /**
   * unattributed: per room, the counts of its last UpdateRoomOccupancy without a node (zero
   * from its creation). Rebuilt from the rooms after a snapshot restore (the snapshot does not
   * carry it apart), so there the check only binds from the next report on.
   */
  private unattributed = new Map<string, Counts>();

  constructor(private readonly events: SimRoomsEvents) {}

  apply(index: Index, payload: Uint8Array, entryTimeMs: number, quotaBytes: number, term: Term): Uint8Array {
    const command = Command.decode(payload);
    const c = command.command;
    switch (c?.$case) {
      case 'expireRooms':
        return this.applyExpireRooms(index, c.value.names, payload, entryTimeMs, quotaBytes, term);
      case 'expireMediaNodes':
        return this.applyExpireMediaNodes(index, payload, entryTimeMs, quotaBytes, term);
      default: {
        const result = this.registry.apply(index, payload, entryTimeMs, quotaBytes, term);
        this.noteRefusal(command.requestId, result);
        if (c !== undefined && c.$case !== 'updateOccupancyShare') this.shadow(index, c, result);
        return result;
      }
    }
  }

  private applyExpireRooms(
    index: Index,
    names: readonly string[],
    payload: Uint8Array,
    entryTimeMs: number,
    quotaBytes: number,
    term: Term,
  ): Uint8Array {
    const present = names.filter((n) => this.registry.getRoom(n) !== null);
    const result = this.registry.apply(index, payload, entryTimeMs, quotaBytes, term);
    const gone = present.filter((n) => this.registry.getRoom(n) === null);
    for (const n of gone) this.unattributed.delete(n);
    if (gone.length > 0) this.events.roomsExpired(index, gone);
    return result;
  }

  private applyExpireMediaNodes(
    index: Index,
    payload: Uint8Array,
    entryTimeMs: number,
    quotaBytes: number,
    term: Term,
  ): Uint8Array {
    const before = this.registry.liveMediaNodes(0).map((n) => n.nodeId);
    const result = this.registry.apply(index, payload, entryTimeMs, quotaBytes, term);
    const after = new Set(this.registry.liveMediaNodes(0).map((n) => n.nodeId));
    const gone = before.filter((id) => !after.has(id));
    this.events.mediaNodesExpired(index, entryTimeMs, gone, gone.length === 0 ? [] : this.leftoversOf(new Set(gone)));
    return result;
  }

  /** leftoversOf lists what rooms still hold of the given media nodes: shares and node_ids. */
  private leftoversOf(nodeIds: ReadonlySet<string>): string[] {
    const out: string[] = [];
    for (const room of this.allRooms()) {
      if (nodeIds.has(room.nodeId)) out.push(`${room.name} is still hosted by ${room.nodeId}`);
      for (const s of room.occupancy)
        if (nodeIds.has(s.nodeId)) out.push(`${room.name} still holds ${s.nodeId}'s share ${s.numParticipants}`);
    }
    return out;
  }

  /**
   * shadow follows each room's unattributed share from the commands that ran here: a result
   * whose revision is not this entry's is a retried request id answered from the dedup
   * table, which changed nothing. Only creates and reports without a node are decoded.
   */
  private shadow(index: Index, c: NonNullable<Command['command']>, resultBytes: Uint8Array): void {
    if (c.$case === 'deleteRoom') {
      if (this.registry.getRoom(c.value.name) === null) this.unattributed.delete(c.value.name);
      return;
    }
    if (c.$case !== 'createRoom' && c.$case !== 'updateRoomOccupancy') return;
    const result = CommandResult.decode(resultBytes);
    if (result.revision !== index || result.result?.$case !== 'room') return;
    if (c.$case === 'createRoom') {
      if (result.result.value.created) this.unattributed.set(c.value.name, ZERO);
      return;
    }
    this.unattributed.set(c.value.name, { participants: c.value.numParticipants, publishers: c.value.numPublishers });
  }

  /** noteRefusal tells the workload of a client's write that failed (NOT_FOUND saw the room absent, which the model checks). */
  private noteRefusal(requestId: string, resultBytes: Uint8Array): void {
    if (requestId === '') return;
    const r = CommandResult.decode(resultBytes).result;
    if (r?.$case === 'failure' && r.value.code !== 'NOT_FOUND') this.events.writeRefused(requestId);
  }

  captureSnapshot(): SnapshotSource {
    return this.registry.captureSnapshot();
  }

  async restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    await this.registry.restore(chunks);
    this.unattributed = new Map();
    for (const room of this.allRooms()) {
      const shares = sharesOf(room);
      this.unattributed.set(room.name, {
        participants: room.numParticipants - shares.participants,
        publishers: room.numPublishers - shares.publishers,
      });
    }
  }

  digest(): string {
    return JSON.stringify({
      rooms: this.allRooms(),
      mediaNodes: this.registry.liveMediaNodes(0),
      totals: this.registry.totalsSoFar(),
      // The quota's count and unit are replicated state too: a replica restored from a snapshot must agree.
      quotaUsedBytes: this.registry.quotaUsedBytes(),
      commandVersionInUse: this.registry.commandVersionInUse(),
    });
  }

  /**
   * countsProblems checks every room's counts against its shares, in this replica's state: the
   * counts are the unattributed share plus the media nodes' shares, and every share belongs to
   * a media node that holds a lease (a lease's expiry drops its shares). Empty when all hold.
   */
  countsProblems(): string[] {
    const leases = new Set(this.registry.liveMediaNodes(0).map((n) => n.nodeId));
    const out: string[] = [];
    for (const room of this.allRooms()) {
      const u = this.unattributed.get(room.name) ?? ZERO;
      const shares = sharesOf(room);
      if (
        room.numParticipants !== u.participants + shares.participants ||
        room.numPublishers !== u.publishers + shares.publishers
      )
        out.push(
          `${room.name} counts ${room.numParticipants}/${room.numPublishers}, but its reports without a node say ` +
            `${u.participants}/${u.publishers} and its media nodes' shares sum to ${shares.participants}/${shares.publishers}`,
        );
      for (const s of room.occupancy)
        if (!leases.has(s.nodeId)) out.push(`${room.name} holds a share of ${s.nodeId}, which has no lease`);
    }
    return out;
  }

  private allRooms(): Room[] {
    return this.registry.listPage('', this.registry.roomCount() + 1).rooms;
  }
}

const ZERO: Counts = Object.freeze({ participants: 0, publishers: 0 });

function sharesOf(room: Room): Counts {
  let participants = 0;
  let publishers = 0;
  for (const s of room.occupancy) {
    participants += s.numParticipants;
    publishers += s.numPublishers;
  }
  return { participants, publishers };
}

/**
 * roomsMachine makes SimRooms. A room snapshot's bytes follow the capture's copy-on-write
 * order, not a canonical one, so snapshots are compared by their index alone (the checker
 * still requires that index to be committed); the final states are compared by digest.
 */
export function roomsMachine(events: SimRoomsEvents): MachineKind {
  return {
    name: 'rooms',
    create: () => new SimRooms(events),
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
