import type { Command } from '../gen/roomregistry/command/v1/command.js';
import type {
  HeartbeatRequest,
  HeartbeatResponse,
  ListMediaNodesRequest,
  ListMediaNodesResponse,
  MediaNode,
  MediaNodeStats,
} from '../gen/roomregistry/v1/rooms.js';
import type { RaftNode } from '../node/node.js';
import type { MediaNodeView } from '../registry/index.js';
import { requireCreate, requireList } from './auth.js';
import { proposeCommand, readAt, unexpectedResult } from './registry-calls.js';
import type { CallContext, MediaNodeLeases } from './room-handlers.js';
import { RegistryError } from '../lib/errors.js';
import {
  API_LIMITS,
  leaseTtlSeconds,
  utf8Bytes,
  validateMediaNodeId,
  validateMediaNodeStats,
  validateRegion,
} from './validate.js';

/**
 * MEDIA_NODE_FIXED_BYTES_MAX: a MediaNode's encoded bytes besides its two strings, at most: the
 * stats (21), expiry (11), ttl and rooms hosted (6 each), string and entry framing (12).
 */
const MEDIA_NODE_FIXED_BYTES_MAX = 64;

/** MediaNodeReads is what MediaNodeService reads from the room state machine (src/registry's RoomRegistry). */
export interface MediaNodeReads extends MediaNodeLeases {
  appliedIndex(): number;
}

/**
 * MediaNodeHandlers implements MediaNodeService (DESIGN §13) over the same write and read paths
 * as RoomHandlers: a heartbeat is a command through Raft (a follower forwards it), a listing is
 * linearizable unless LOCAL is asked for. Grants: a heartbeat needs roomCreate, the grant of the
 * key a media node already holds to report occupancy and create rooms (a separate node key
 * would be one more secret to hand every media node for no gain in isolation: roomCreate can
 * already end any room); a listing needs roomList.
 */
export class MediaNodeHandlers {
  constructor(
    private readonly node: RaftNode,
    private readonly registry: MediaNodeReads,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /**
   * heartbeat registers or renews the calling node's lease. It carries no request id: a repeat
   * only renews the lease again from its own entry time, which is what a retry wants.
   */
  async heartbeat(req: HeartbeatRequest, ctx: CallContext): Promise<HeartbeatResponse> {
    requireCreate(ctx.grants);
    validateMediaNodeId(req.nodeId);
    validateRegion(req.region);
    const ttlS = leaseTtlSeconds(req.ttlSeconds);
    const stats: MediaNodeStats = req.stats ?? { numRooms: 0, numClients: 0, cpuLoad: 0 };
    validateMediaNodeStats(stats);
    const command: Command = {
      requestId: '',
      apiKey: '',
      command: { $case: 'mediaNodeHeartbeat', value: { nodeId: req.nodeId, region: req.region, ttlS, stats } },
    };
    const result = await proposeCommand(this.node, command, ctx.deadlineMs);
    if (result.result?.$case !== 'lease') throw unexpectedResult(result);
    return { leaseExpiresAtMs: result.result.value.expiresAtMs, revision: result.revision };
  }

  /**
   * listMediaNodes lists the live leases (of one region when asked) at the read's revision. A
   * lease counts as live until its expiry by this node's clock, as the sweeper would judge it;
   * one past expiry but not yet swept is left out.
   */
  async listMediaNodes(req: ListMediaNodesRequest, ctx: CallContext): Promise<ListMediaNodesResponse> {
    requireList(ctx.grants);
    validateRegion(req.region);
    const { revision, stalenessMs } = await readAt(
      this.node,
      () => this.registry.appliedIndex(),
      req.consistency,
      ctx.deadlineMs,
    );
    const live = this.registry.liveMediaNodes(this.nowMs(), req.region);
    const bytes = mediaNodesReplyBytes(live);
    if (bytes > API_LIMITS.listPageBytesMax) {
      throw new RegistryError(
        'RESOURCE_EXHAUSTED',
        `${live.length} media nodes come to about ${bytes} bytes, more than one reply carries (${API_LIMITS.listPageBytesMax}); list one region at a time`,
      );
    }
    return { nodes: live.map(toMediaNode), revision, stalenessMs };
  }
}

/**
 * mediaNodesReplyBytes bounds a ListMediaNodes reply from above, the way room-view.ts bounds a
 * ListRooms page: the reply carries at most listPageBytesMax (2 MiB, some 20 000 media nodes with
 * short ids), so it reaches every client and takes a few ms to encode.
 */
export function mediaNodesReplyBytes(nodes: readonly MediaNodeView[]): number {
  let bytes = 0;
  for (const n of nodes) bytes += utf8Bytes(n.nodeId) + utf8Bytes(n.region) + MEDIA_NODE_FIXED_BYTES_MAX;
  return bytes;
}

export function toMediaNode(v: MediaNodeView): MediaNode {
  return {
    nodeId: v.nodeId,
    region: v.region,
    stats: { ...v.stats },
    leaseExpiresAtMs: v.expiresAtMs,
    ttlSeconds: v.ttlS,
    roomsHosted: v.roomsHosted,
  };
}
