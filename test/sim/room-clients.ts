import type { Command } from '../../src/gen/roomregistry/command/v1/command.js';
import { Command as CommandCodec } from '../../src/gen/roomregistry/command/v1/command.js';
import { RegistryError } from '../../src/lib/errors.js';
import type { Index, NodeId } from '../../src/lib/ids.js';
import type { SeededRng } from '../../src/lib/rng.js';
import { decodeCommandEntry } from '../../src/node/entry-codec.js';
import type { Entry } from '../../src/raft/index.js';
import { REGISTRY_VERSIONS } from '../../src/registry/index.js';
import { ROOM_MODEL, type RoomInput, type RoomModelObservation } from '../chaos/room-model.js';
import type { AckedEntry } from './checkers/convergence.js';
import type { HistoryVerdict } from './checkers/history.js';
import { type Operation, UNKNOWN, type Unknown, checkLinearizable } from './checkers/linearizability.js';
import type { WorkloadStats } from './clients.js';
import type { Cluster, ClusterHooks } from './cluster.js';
import type { MediaNodeOptions, RegistryOptions, WorkloadOptions } from './faults.js';
import { LeaseChecker } from './checkers/leases.js';
import { MediaNodes } from './media-nodes.js';
import { SimRooms, type SimRoomsEvents, decodeRoomResult, encodeRoomCommand } from './rooms.js';
import { MS_PER_STEP } from './scheduler.js';
import type { Trace } from './trace.js';

/**
 * RoomWorkload: room clients against RoomRegistry (create, update metadata, delete, report
 * occupancy with no media node or as a media node's share, get), the media nodes heartbeating
 * their leases (media-nodes.ts), plus the leader's sweeper expiring media-node leases past due,
 * then empty rooms, in simulated time (entry times are the leader's clock, the simulator's).
 * Lease expiry is checked by checkers/leases.ts. The history is checked per room against the
 * chaos suite's room model (test/chaos/room-model.ts), metadata and participant counts:
 * - a write that returned is an observation (NOT_FOUND included) of the room's metadata and
 *   count; a report without a node sets the room's unattributed share, a share report its media
 *   node's share (one refused for a lapsed lease changed nothing and is left out), a get reads;
 * - a write with no outcome (refused, node crashed, deadline) is settled after convergence by
 *   its unique request id: applied at step A, it returns at A with an unknown output; never
 *   applied, it leaves the history (the KV workload settles its unknown writes the same way);
 * - each room an ExpireRooms entry deleted is a delete observed at the step any node first
 *   applied it (every later linearizable read must miss the room, no earlier one could); each
 *   lease an ExpireMediaNodes entry removed is likewise a `dropShares` of that node on every room.
 */

/** RoomOpKind: the client operations; occupancy is UpdateRoomOccupancy, share is UpdateOccupancyShare. */
type RoomOpKind = 'create' | 'update' | 'delete' | 'occupancy' | 'share' | 'get';

interface ActiveOp {
  readonly id: number;
  readonly clientId: number;
  readonly kind: RoomOpKind;
  readonly room: string;
  readonly metadata: string;
  readonly requestId: string;
  readonly node: NodeId;
  readonly callStep: number;
  /** nodeId, participants: what an occupancy report (nodeId "") or a share report sets. */
  readonly nodeId: string;
  readonly participants: number;
}

interface Client {
  readonly id: number;
  nextStep: number;
  leaderHint: NodeId | null;
  op: ActiveOp | null;
}

type RoomOperation = Operation<RoomInput, RoomModelObservation>;

/** RETRY_BACKOFF_STEPS: a client waits this long after a refused operation (two ticks). */
const RETRY_BACKOFF_STEPS = 20;
/** SWEEP_PERIOD_STEPS: the simulated sweeper looks for due rooms on the leader this often. */
export const SWEEP_PERIOD_STEPS = 50;
/** SWEEP_BATCH_ROOMS_MAX: rooms in one ExpireRooms entry (small, so batches split). */
const SWEEP_BATCH_ROOMS_MAX = 3;
/** SWEEP_BATCH_MEDIA_NODES_MAX: leases in one ExpireMediaNodes entry (2, so batches split too). */
const SWEEP_BATCH_MEDIA_NODES_MAX = 2;
/** EXPIRY_CLIENT_ID_BASE: pseudo client ids of expiries sit above every real client's. */
const EXPIRY_CLIENT_ID_BASE = 1000;

export class RoomWorkload implements ClusterHooks, SimRoomsEvents {
  readonly history: RoomOperation[] = [];
  readonly acked: AckedEntry[] = [];
  readonly stats: WorkloadStats = {
    writesOk: 0,
    writesFailed: 0,
    writesUnknown: 0,
    unknownNeverApplied: 0,
    readsOk: 0,
    readsDropped: 0,
  };
  roomsExpiredCount = 0;
  /** quotaRefusals: writes answered RESOURCE_EXHAUSTED (the run's quota was full). */
  quotaRefusals = 0;
  readonly leases = new LeaseChecker();
  /** media: the run's media nodes; null when it has none. */
  readonly media: MediaNodes | null;
  private readonly clients: Client[] = [];
  private readonly unknown: ActiveOp[] = [];
  /** firstApplied maps a request id to where and when any node first applied it. */
  private readonly firstApplied = new Map<string, { step: number; index: Index; term: number }>();
  /** expiredAt: the expiry entries (rooms or leases) already in the history as pseudo-operations. */
  private readonly expiredAt = new Set<number>();
  /** refusedWrites: writes whose entry was refused (a share with no lease, a write past the quota), which changed nothing. */
  private readonly refusedWrites = new Set<string>();
  /**
   * sweepInFlight: the leader (and its incarnation) whose sweep has not settled, and the step
   * until which it may still (its deadline): that leader's sweeper runs one sweep at a time, as
   * src/sweeper does.
   */
  /** commandVersionStep: the sweep proposes SetCommandVersion from this step on (RegistryOptions). */
  private readonly commandVersionStep: number;
  private sweepInFlight: { readonly leader: NodeId; readonly incarnation: number; readonly untilStep: number } | null =
    null;
  private opSeq = 0;
  private now = 0;
  issuing = true;

  constructor(
    private readonly opts: WorkloadOptions,
    private readonly rng: SeededRng,
    private readonly cluster: Cluster,
    private readonly trace: Trace,
    media: MediaNodeOptions | null,
    registry: RegistryOptions | null,
  ) {
    this.commandVersionStep = registry?.commandVersionStep ?? Infinity;
    for (let id = 0; id < opts.clients; id++)
      this.clients.push({ id, nextStep: rng.nextInt(50), leaderHint: null, op: null });
    this.media = media === null ? null : new MediaNodes(media, rng, cluster, trace);
  }

  step(now: number): void {
    this.now = now;
    // Media nodes first: a share report issued below asks them who is heartbeating now.
    if (this.issuing) this.media?.step(now);
    for (const c of this.clients) {
      if (c.op !== null && now - c.op.callStep >= this.opts.opDeadlineSteps) this.expire(c, c.op);
      if (c.op === null && this.issuing && now >= c.nextStep) this.issue(c);
    }
    if (now % SWEEP_PERIOD_STEPS === 0) this.sweep();
  }

  /** roomsExpired: a node's RoomRegistry deleted these rooms applying the ExpireRooms entry at `index`. */
  roomsExpired(index: Index, rooms: readonly string[]): void {
    if (this.expiredAt.has(index)) return;
    this.expiredAt.add(index);
    for (const room of rooms) {
      this.roomsExpiredCount++;
      const input: RoomInput = { op: 'delete', room, metadata: '' };
      this.history.push({
        clientId: EXPIRY_CLIENT_ID_BASE + index,
        input,
        callTime: this.now - 0.5,
        output: { found: true },
        returnTime: this.now + 0.5,
      });
      if (this.trace.enabled) this.trace.add(`sweeper: ${room} expired at ${index}`);
    }
  }

  /** mediaNodesExpired: a node's RoomRegistry removed these leases (maybe none) applying the entry at `index`. */
  mediaNodesExpired(index: Index, entryTimeMs: number, nodeIds: readonly string[], leftovers: readonly string[]): void {
    // Inside the node's apply: a violation is raised by the simulator, not thrown into the node.
    this.cluster.guard(() => this.leases.expired(index, entryTimeMs, nodeIds, leftovers));
    if (nodeIds.length === 0 || this.expiredAt.has(index)) return;
    this.expiredAt.add(index);
    // The expiry drops the nodes' shares of every room: a pseudo-operation on each, where it first applied.
    for (let k = 0; k < this.opts.keys; k++) {
      for (const nodeId of nodeIds) {
        const input: RoomInput = { op: 'dropShares', room: `r${k}`, metadata: '', nodeId };
        this.history.push({
          clientId: EXPIRY_CLIENT_ID_BASE + index,
          input,
          callTime: this.now - 0.5,
          output: { found: true },
          returnTime: this.now + 0.5,
        });
      }
    }
    if (this.trace.enabled) this.trace.add(`sweeper: media nodes ${nodeIds.join(',')} expired at ${index}`);
  }

  /** latestLeaseExpiryMs is the latest expiry among the leases the leader holds (0: none); null while there is no leader. */
  latestLeaseExpiryMs(): number | null {
    const leader = this.cluster.leader();
    const machine = leader === null ? null : this.cluster.node(leader).machine;
    if (!(machine instanceof SimRooms)) return null;
    let latest = 0;
    for (const lease of machine.registry.liveMediaNodes(0)) latest = Math.max(latest, lease.expiresAtMs);
    return latest;
  }

  checkHistory(budgetMs: number): HistoryVerdict {
    const r = checkLinearizable(ROOM_MODEL, this.history, { timeBudgetMs: budgetMs });
    return r.verdict === 'illegal'
      ? { verdict: 'illegal', details: r.explanation }
      : { verdict: r.verdict, details: '' };
  }

  /** finish ends the run after convergence and settles each unknown write by its request id. */
  finish(): void {
    for (const c of this.clients) if (c.op !== null) this.expire(c, c.op);
    for (const op of this.unknown) {
      const at = this.firstApplied.get(op.requestId);
      if (at === undefined) {
        this.stats.unknownNeverApplied++;
        continue;
      }
      // A refused write (a share for a lapsed lease, a write past the quota) changed nothing; a get constrains nothing.
      if (op.kind === 'get' || this.refusedWrites.has(op.requestId)) continue;
      const input = this.inputOf(op);
      this.history.push({
        clientId: op.clientId,
        input,
        callTime: op.callStep,
        output: UNKNOWN as Unknown,
        returnTime: Math.max(at.step, op.callStep),
      });
    }
    this.unknown.length = 0;
  }

  /** inputOf is the operation as the room model sees it. */
  private inputOf(op: ActiveOp): RoomInput {
    const report = op.kind === 'occupancy' || op.kind === 'share';
    return report
      ? { op: op.kind, room: op.room, metadata: op.metadata, nodeId: op.nodeId, participants: op.participants }
      : { op: op.kind, room: op.room, metadata: op.metadata };
  }

  /** writeRefused: a node refused the write `requestId` (SimRoomsEvents.writeRefused). */
  writeRefused(requestId: string): void {
    this.refusedWrites.add(requestId);
  }

  // ClusterHooks

  applied(_id: NodeId, e: Entry): void {
    if (e.kind !== 'command') return;
    const decoded = decodeCommandEntry(e.data);
    if (!decoded.ok) return;
    const { requestId, command } = CommandCodec.decode(decoded.value.payload);
    this.leases.commandApplied(e.index, decoded.value.entryTimeMs, e.term, command);
    if (requestId !== '' && !this.firstApplied.has(requestId))
      this.firstApplied.set(requestId, { step: this.now, index: e.index, term: e.term });
  }

  restored(): void {}

  crashed(id: NodeId): void {
    for (const c of this.clients)
      if (c.op !== null && c.op.node === id) this.settleUnknown(c, c.op, 'node crashed', false);
  }

  private issue(c: Client): void {
    const id = ++this.opSeq;
    const room = `r${this.rng.nextInt(this.opts.keys)}`;
    const kind = this.chooseKind();
    const node = kind === 'get' ? this.rng.pick(this.cluster.ids) : this.chooseNode(c);
    const report = kind === 'occupancy' || kind === 'share';
    const op: ActiveOp = {
      id,
      clientId: c.id,
      kind,
      room,
      metadata: `c${c.id}.${id}`,
      requestId: `q${id}`,
      node,
      callStep: this.now,
      nodeId: kind === 'share' ? (this.media?.reporter() ?? '') : '',
      participants: report ? this.rng.nextInt(kind === 'share' ? 4 : 3) : 0,
    };
    c.op = op;
    const command = kind === 'get' ? null : this.command(op);
    if (this.trace.enabled) this.trace.add(`client ${c.id} -> ${node}: ${kind} ${room} (op ${id})`);
    const deadlineMs = (this.now + this.opts.opDeadlineSteps) * MS_PER_STEP;
    const call =
      command === null
        ? this.cluster.call(node, async (raft, machine) => {
            await raft.readBarrier(deadlineMs);
            const r = machine instanceof SimRooms ? machine.registry.getRoom(room) : null;
            return r === null
              ? { found: false }
              : { found: true, metadata: r.metadata, participants: r.numParticipants };
          })
        : this.cluster.call(node, async (raft) =>
            this.observe(decodeRoomResult(await raft.propose(encodeRoomCommand(op.requestId, command), deadlineMs))),
          );
    if (call === null) {
      c.leaderHint = null;
      this.done(c, op, true);
      return;
    }
    call.then(
      (o) => this.cluster.guard(() => this.onReturn(c, op, o)),
      (e: unknown) => this.cluster.guard(() => this.onRefused(c, op, e)),
    );
  }

  private chooseKind(): RoomOpKind {
    const r = this.rng.nextFloat();
    if (r < this.opts.readFraction) return 'get';
    const w = (r - this.opts.readFraction) / (1 - this.opts.readFraction);
    if (w < 0.7) return w < 0.35 ? 'create' : w < 0.55 ? 'update' : 'delete';
    return this.media !== null && this.rng.chance(this.media.opts.shareFraction) ? 'share' : 'occupancy';
  }

  private chooseNode(c: Client): NodeId {
    if (c.leaderHint !== null && this.rng.chance(this.opts.leaderHintProbability)) return c.leaderHint;
    return this.rng.pick(this.cluster.ids);
  }

  private command(op: ActiveOp): NonNullable<Command['command']> {
    switch (op.kind) {
      case 'create': {
        const value = {
          name: op.room,
          emptyTimeoutS: 1 + this.rng.nextInt(2),
          departureTimeoutS: 1,
          maxParticipants: 0,
          nodeId: this.media?.host() ?? '',
          metadata: op.metadata,
          sid: `RM_${op.id}`,
          turnPassword: '',
        };
        return { $case: 'createRoom', value };
      }
      case 'update':
        return { $case: 'updateRoomMetadata', value: { name: op.room, metadata: op.metadata } };
      case 'delete':
        return { $case: 'deleteRoom', value: { name: op.room } };
      case 'occupancy': {
        const n = op.participants;
        return {
          $case: 'updateRoomOccupancy',
          value: { name: op.room, numParticipants: n, numPublishers: Math.min(n, 1), nodeId: '' },
        };
      }
      case 'share': {
        const n = op.participants;
        return {
          $case: 'updateOccupancyShare',
          value: { name: op.room, nodeId: op.nodeId, numParticipants: n, numPublishers: Math.min(n, 1) },
        };
      }
      case 'get':
        throw new Error('a get is not a command');
    }
  }

  /** observe turns a command's result into what the client saw; null: it failed with no effect. */
  private observe(result: ReturnType<typeof decodeRoomResult>): RoomModelObservation | null {
    switch (result?.$case) {
      case 'room': {
        const room = result.value.room;
        return {
          found: true,
          metadata: room?.metadata ?? '',
          created: result.value.created,
          participants: room?.numParticipants ?? 0,
        };
      }
      case 'deleted':
        return { found: true };
      case 'failure':
        if (result.value.code === 'RESOURCE_EXHAUSTED') this.quotaRefusals++;
        return result.value.code === 'NOT_FOUND' ? { found: false } : null;
      default:
        return null;
    }
  }

  private onReturn(c: Client, op: ActiveOp, o: RoomModelObservation | null): void {
    if (c.op !== op) return;
    c.leaderHint = op.node;
    if (o === null) {
      this.stats.writesFailed++;
      this.done(c, op, true);
      return;
    }
    // A report's `created` flag says nothing (it creates no room): the model checks metadata and count.
    const report = op.kind === 'occupancy' || op.kind === 'share';
    const observed: RoomModelObservation =
      report && o.found ? { found: true, metadata: o.metadata ?? '', participants: o.participants ?? 0 } : o;
    const input = this.inputOf(op);
    this.history.push({ clientId: c.id, input, callTime: op.callStep, output: observed, returnTime: this.now });
    if (op.kind === 'get') this.stats.readsOk++;
    else {
      this.stats.writesOk++;
      const at = this.firstApplied.get(op.requestId);
      if (at === undefined) throw new Error(`op ${op.id} returned but its entry was never applied`);
      this.acked.push({
        index: at.index,
        term: at.term as AckedEntry['term'],
        what: `${op.kind} ${op.room} (${op.requestId})`,
      });
    }
    if (this.trace.enabled)
      this.trace.add(`client ${c.id}: op ${op.id} ${op.kind} ${op.room} -> ${JSON.stringify(observed)}`);
    this.done(c, op, false);
  }

  private onRefused(c: Client, op: ActiveOp, e: unknown): void {
    if (c.op !== op) return;
    c.leaderHint = e instanceof RegistryError ? e.leaderId : null;
    this.settleUnknown(c, op, e instanceof RegistryError ? `${e.code}: ${e.message}` : String(e), true);
  }

  private expire(c: Client, op: ActiveOp): void {
    c.leaderHint = null;
    this.settleUnknown(c, op, 'deadline', false);
  }

  /** settleUnknown: a get is dropped; a write's outcome waits for the end of the run. */
  private settleUnknown(c: Client, op: ActiveOp, why: string, refused: boolean): void {
    if (op.kind === 'get') this.stats.readsDropped++;
    else {
      this.stats.writesUnknown++;
      this.unknown.push(op);
    }
    if (this.trace.enabled) this.trace.add(`client ${c.id}: op ${op.id} unknown (${why})`);
    this.done(c, op, refused);
  }

  private done(c: Client, op: ActiveOp, refused: boolean): void {
    if (c.op === op) c.op = null;
    c.nextStep = this.now + (refused ? RETRY_BACKOFF_STEPS : 0) + this.rng.nextInt(this.opts.thinkStepsMax + 1);
  }

  /**
   * sweep is the leader's sweeper (src/sweeper) in simulated time: from the run's
   * commandVersionStep, a SetCommandVersion while the registry wants one (every simulated node
   * runs this build); then leases past due become one ExpireMediaNodes entry, then due rooms
   * one ExpireRooms entry (leases first, as the sweeper does). Like src/sweeper it waits for its entries before it sweeps again: a leader whose
   * applied state lags would otherwise propose the same due leases and rooms every period, and
   * a follower catching up one entry per append would never reach the end of its log (seed 515).
   */
  private sweep(): void {
    const leader = this.cluster.leader();
    if (leader === null) return;
    // A sweep dies with its process: only one still running in this incarnation of the leader waits.
    const incarnation = this.cluster.node(leader).incarnation;
    const busy = this.sweepInFlight;
    if (busy !== null && busy.leader === leader && busy.incarnation === incarnation && this.now < busy.untilStep)
      return;
    const deadlineMs = (this.now + this.opts.opDeadlineSteps) * MS_PER_STEP;
    const nowMs = this.now * MS_PER_STEP;
    const p = this.cluster.call(leader, async (raft, machine) => {
      if (!(machine instanceof SimRooms)) return;
      const version = machine.registry.commandVersionToSet(REGISTRY_VERSIONS.command);
      if (version !== null && this.now >= this.commandVersionStep)
        await raft.propose(encodeRoomCommand('', { $case: 'setCommandVersion', value: { version } }), deadlineMs);
      const nodeIds = machine.registry.dueMediaNodes(nowMs, SWEEP_BATCH_MEDIA_NODES_MAX);
      if (nodeIds.length > 0)
        await raft.propose(encodeRoomCommand('', { $case: 'expireMediaNodes', value: { nodeIds } }), deadlineMs);
      const names = machine.registry.dueRooms(nowMs, SWEEP_BATCH_ROOMS_MAX);
      if (names.length > 0)
        await raft.propose(encodeRoomCommand('', { $case: 'expireRooms', value: { names } }), deadlineMs);
    });
    if (p === null) return;
    const sweep = { leader, incarnation, untilStep: this.now + this.opts.opDeadlineSteps };
    this.sweepInFlight = sweep;
    const settled = (): void => {
      if (this.sweepInFlight === sweep) this.sweepInFlight = null;
    };
    p.then(settled, settled); // a sweep that fails is retried at the next period, as the sweeper does
  }
}
