/**
 * The checks a chaos run ends with, once every fault is healed:
 * - convergence: every node reaches the same applied index and holds the same rooms (a digest
 *   of its own memory, read with LOCAL ListRooms pages);
 * - final reads: a linearizable GetRoom of every room the run touched, on every node, appended
 *   to the history, so the linearizability check also covers "nothing acknowledged was lost";
 * - linearizability of the whole history, per room (ROOM_MODEL);
 * - acknowledged writes: the converged state of each room must be the effect of one of its
 *   latest writes (see checkAcknowledgedWrites), a direct check that needs no search.
 */
import { createHash } from 'node:crypto';
import { RoomClient } from '../../src/client/room-client.js';
import { Consistency } from '../../src/gen/roomregistry/v1/rooms.js';
import type { NodeStatusJson, ProcessCluster, ProcessNode } from '../harness/process-cluster.js';
import { checkLinearizable } from '../sim/checkers/linearizability.js';
import type { ChaosHistory, ChaosOp } from './chaos-history.js';
import { ROOM_MODEL, toRoomOperations } from './room-model.js';
import { classifyError, grpcCallDeadlineMs } from './room-apis.js';

/** listPageSize: rooms per LOCAL ListRooms page when reading a node's whole state. */
const listPageSize = 10_000;
/** finalClientIdBase: client ids of the final readers, above any workload client's. */
const finalClientIdBase = 10_000;

export interface NodeState {
  readonly appliedIndex: number;
  readonly digest: string;
  /** rooms: name → metadata, as this node holds them. */
  readonly rooms: ReadonlyMap<string, string>;
}

export interface Convergence {
  readonly converged: boolean;
  readonly details: string;
  readonly states: ReadonlyMap<string, NodeState>;
}

/**
 * waitForConvergence polls until every node reports the same applied index (GET /status), holds
 * the same rooms (one digest), and still reports that index after the digests were read.
 */
export async function waitForConvergence(
  cluster: ProcessCluster,
  timeoutMs: number,
  nodes: readonly ProcessNode[] = cluster.nodes,
): Promise<Convergence> {
  const endMs = Date.now() + timeoutMs;
  let details = 'never polled';
  let states = new Map<string, NodeState>();
  while (Date.now() < endMs) {
    const statuses = await Promise.all(nodes.map((n) => cluster.status(n.id)));
    const applied = new Set(statuses.map((s) => s?.appliedIndex ?? -1));
    details = `applied indexes ${describeStatuses(statuses)}`;
    if (!applied.has(-1) && applied.size === 1) {
      states = await readStates(cluster, nodes);
      const digests = new Set([...states.values()].map((s) => s.digest));
      const again = new Set(
        (await Promise.all(nodes.map((n) => cluster.status(n.id)))).map((s) => s?.appliedIndex ?? -1),
      );
      details = `applied ${[...applied].join()}, digests ${[...states.entries()].map(([id, s]) => `${id}=${s.digest.slice(0, 12)}@${s.appliedIndex}`).join(' ')}`;
      if (digests.size === 1 && again.size === 1 && [...again][0] === [...applied][0])
        return { converged: true, details, states };
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { converged: false, details, states };
}

function describeStatuses(statuses: ReadonlyArray<NodeStatusJson | null>): string {
  return statuses.map((s, i) => (s === null ? `n${i + 1}=down` : `${s.id}=${s.appliedIndex}(${s.role})`)).join(' ');
}

/** readStates reads every node's rooms from its own memory (LOCAL), page by page. */
async function readStates(cluster: ProcessCluster, nodes: readonly ProcessNode[]): Promise<Map<string, NodeState>> {
  const out = new Map<string, NodeState>();
  for (const n of nodes) {
    const client = new RoomClient(n.grpc, { apiKey: cluster.apiKey, apiSecret: cluster.apiSecret });
    try {
      const rooms = new Map<string, string>();
      const hash = createHash('sha256');
      let pageToken = '';
      let appliedIndex = 0;
      do {
        const r = await client.listRooms({
          consistency: Consistency.CONSISTENCY_LOCAL,
          pageSize: listPageSize,
          pageToken,
        });
        if (pageToken === '') appliedIndex = r.revision;
        for (const room of r.rooms) {
          rooms.set(room.name, room.metadata);
          hash.update(`${room.name}\u0000${room.sid}\u0000${room.metadata}\u0000${room.creationTime}\n`);
        }
        pageToken = r.nextPageToken;
      } while (pageToken !== '');
      out.set(n.id, { appliedIndex, digest: hash.digest('hex'), rooms });
    } catch (e) {
      out.set(n.id, { appliedIndex: -1, digest: `unreadable: ${(e as Error).message}`, rooms: new Map() });
    } finally {
      client.close();
    }
  }
  return out;
}

/** recordFinalReads reads every room of the history on every node (LINEARIZABLE) into the history. */
export async function recordFinalReads(
  cluster: ProcessCluster,
  history: ChaosHistory,
  nodes: readonly ProcessNode[] = cluster.nodes,
): Promise<void> {
  const rooms = [...new Set(history.ops.map((op) => op.room))].sort();
  await Promise.all(
    nodes.map(async (n, i) => {
      const client = new RoomClient(n.grpc, { apiKey: cluster.apiKey, apiSecret: cluster.apiSecret });
      const clientId = finalClientIdBase + i;
      for (const room of rooms) {
        const op = history.invoke(clientId, `${n.id}/final`, 'get', room, '');
        if (op === null) break;
        try {
          const r = await client.getRoom({ name: room }, grpcCallDeadlineMs);
          history.complete(op, 'ok', { found: true, metadata: r.room?.metadata ?? '' });
        } catch (e) {
          const c = classifyError(e);
          history.complete(op, c.type, c.notFound ? { found: false } : null, c.message);
        }
      }
      client.close();
    }),
  );
}

export interface LinearizabilityVerdict {
  readonly verdict: 'ok' | 'illegal' | 'timeout';
  readonly details: string;
  readonly checkedOps: number;
}

export function checkRoomLinearizability(history: ChaosHistory, budgetMs: number): LinearizabilityVerdict {
  const ops = toRoomOperations(history.ops);
  const r = checkLinearizable(ROOM_MODEL, ops, { timeBudgetMs: budgetMs });
  return { verdict: r.verdict, details: r.verdict === 'illegal' ? r.explanation : '', checkedOps: ops.length };
}

/**
 * checkAcknowledgedWrites: the last write that changed a room (L) cannot be followed in real
 * time by an acknowledged write that changed it too (that one would apply after L). So the
 * final state must be the effect of a write (acknowledged, or of unknown outcome) that no
 * acknowledged state-changing write strictly follows; or "absent" if no acknowledged write
 * changed the room. Returns one line per room that breaks this, and how many rooms were checked.
 */
export function checkAcknowledgedWrites(
  ops: readonly ChaosOp[],
  finalRooms: ReadonlyMap<string, string>,
): { violations: string[]; rooms: number; ackedWrites: number } {
  const byRoom = new Map<string, ChaosOp[]>();
  for (const op of ops) if (op.kind !== 'get') (byRoom.get(op.room) ?? byRoom.set(op.room, []).get(op.room))?.push(op);
  const violations: string[] = [];
  let ackedWrites = 0;
  for (const [room, writes] of byRoom) {
    const changed = writes.filter(changedState);
    ackedWrites += writes.filter((w) => w.type === 'ok').length;
    // An info write may apply long after its client gave up (a paused node reads it later), so it never ends.
    const endMs = (w: ChaosOp): number =>
      w.type === 'info' || w.returnMs === null ? Number.POSITIVE_INFINITY : w.returnMs;
    const maybeLast = writes.filter(
      (w) => (changedState(w) || w.type === 'info') && !changed.some((e) => endMs(w) < e.callMs),
    );
    const allowed = new Set<string | null>(maybeLast.map((w) => (w.kind === 'delete' ? null : w.metadata)));
    if (changed.length === 0) allowed.add(null);
    const final = finalRooms.get(room) ?? null;
    if (!allowed.has(final)) {
      const show = (v: string | null): string => (v === null ? 'absent' : JSON.stringify(v));
      violations.push(
        `${room}: final state ${show(final)}, but the latest writes allow only {${[...allowed].map(show).join(', ')}}`,
      );
    }
  }
  return { violations, rooms: byRoom.size, ackedWrites };
}

/** changedState: an acknowledged write known to have changed its room (a create that created it, an update, a delete). */
function changedState(w: ChaosOp): boolean {
  if (w.type !== 'ok' || w.observation === null) return false;
  if (w.kind === 'create') return w.observation.metadata === w.metadata;
  return w.observation.found;
}
