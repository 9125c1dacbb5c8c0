import { Command, CommandResult } from '../gen/roomregistry/command/v1/command.js';
import { RegistryError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { encodeMessage } from '../lib/proto-encode.js';

/**
 * The sweeper's bounds (STYLE rule 7). Draining a 1 M-room backlog in under a minute needs about
 * 17 000 rooms/s. Every replica applies every batch, so the sweep's CPU is paid three times on
 * the same cores as client writes: 2 000-room batches at 50/s (100 000 rooms/s) drained 1 M in
 * 16 s but put CreateRoom's p99 at 18× its value before the sweep (bench/RESULTS.md).
 * 1 000-room batches at up to 30/s sweep at most 30 000 rooms/s (1 M in about 35 s), with a
 * few ms of apply per batch, and leave most of the time to client writes.
 */
export const SWEEPER_LIMITS = Object.freeze({
  /** sweepBatchRoomsMax: names in one ExpireRooms entry (about 20 KB, a few ms to apply). */
  sweepBatchRoomsMax: 1_000,
  /**
   * sweepBatchMediaNodesMax: node ids in one ExpireMediaNodes entry (at most 256 KB of ids, well
   * inside commandBytesMax). Applying one drops every share of each node, so a batch costs about
   * as much as the rooms those nodes hosted; a fleet of 1 000 media nodes that all died expires
   * in one batch.
   */
  sweepBatchMediaNodesMax: 1_000,
  /** sweepIntervalMs: how often an idle leader looks for due rooms. */
  sweepIntervalMs: 250,
  /** sweepBatchesPerSecondMax: the rate bound while a backlog drains. */
  sweepBatchesPerSecondMax: 30,
  /** sweepDeadlineMs: one batch must apply within this, or the sweeper retries later. */
  sweepDeadlineMs: 5_000,
});

/** ExpirySource is what the sweeper reads from the room state machine. */
export interface ExpirySource {
  dueRooms(nowMs: number, max: number): string[];
  /** dueMediaNodes: media nodes whose lease is past its expiry, earliest first. */
  dueMediaNodes(nowMs: number, max: number): string[];
  /** commandVersionToSet: the command version to bring into use, given what every member applies (null: none). */
  commandVersionToSet(everyMemberApplies: number): number | null;
}

/** SweepTarget is what the sweeper needs from the node: leadership, the members' versions and a way to propose. */
export interface SweepTarget {
  isLeader(): boolean;
  /** commandVersionEveryMemberApplies: the lowest command version the members advertised (node.ts versionRefusal's). */
  commandVersionEveryMemberApplies(): number;
  propose(payload: Uint8Array, deadlineMs: number): Promise<Uint8Array>;
}

export interface SweeperEvents {
  onBatch?(rooms: number, expired: number, durationMs: number): void;
  /** onMediaNodeBatch: an ExpireMediaNodes batch applied (nodes proposed, leases expired). */
  onMediaNodeBatch?(mediaNodes: number, expired: number, durationMs: number): void;
}

/**
 * Sweeper runs on every node and works only on the leader: it takes the earliest due rooms from
 * the expiry index (never a scan of all rooms), proposes them as one ExpireRooms entry, waits
 * for it to apply, and goes on at a bounded rate while a backlog remains. The state machine
 * re-checks every room when it applies the batch, so a room that got a participant meanwhile
 * stays, and a stale or repeated batch is harmless. A new leader starts at its next tick.
 *
 * Media-node leases past their expiry (DESIGN §13) go first, one ExpireMediaNodes batch a turn
 * in place of a room batch, so the rate bound holds for both: dropping a dead node's shares can
 * make its rooms due, and the next turn (a backlog's pace) sweeps those.
 *
 * It also makes the leader's one other proposal nobody asks for: once every member advertises a
 * command version above the one in use, a SetCommandVersion brings it into use (etcd's leader
 * sets the cluster version the same way), before anything else that turn.
 */
export class Sweeper {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private stopped = false;
  readonly events: SweeperEvents = {};

  constructor(
    private readonly source: ExpirySource,
    private readonly target: SweepTarget,
    private readonly logger: Logger,
    private readonly nowMs: () => number = Date.now,
  ) {}

  start(): void {
    this.schedule(SWEEPER_LIMITS.sweepIntervalMs);
  }

  /** kick sweeps at once (the node calls it when this node becomes leader). */
  kick(): void {
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.sweepOnce(), delayMs);
  }

  private async sweepOnce(): Promise<void> {
    this.timer = null;
    if (this.running || this.stopped) return;
    this.running = true;
    let backlogLeft = false;
    try {
      backlogLeft = await this.sweepBatch();
    } catch (e) {
      const error = e instanceof RegistryError ? `${e.code}: ${e.message}` : String(e);
      this.logger.warn('sweep_failed', { error });
    } finally {
      this.running = false;
    }
    this.schedule(backlogLeft ? 1000 / SWEEPER_LIMITS.sweepBatchesPerSecondMax : SWEEPER_LIMITS.sweepIntervalMs);
  }

  /** sweepBatch proposes one batch, leases before rooms; true when more may be due. */
  private async sweepBatch(): Promise<boolean> {
    if (!this.target.isLeader()) return false;
    const version = this.source.commandVersionToSet(this.target.commandVersionEveryMemberApplies());
    if (version !== null) return this.setCommandVersion(version);
    const nowMs = this.nowMs();
    const nodeIds = this.source.dueMediaNodes(nowMs, SWEEPER_LIMITS.sweepBatchMediaNodesMax);
    if (nodeIds.length > 0) return this.expireMediaNodes(nodeIds); // then their rooms may be due
    const names = this.source.dueRooms(nowMs, SWEEPER_LIMITS.sweepBatchRoomsMax);
    if (names.length === 0) return false;
    const startMs = performance.now();
    const result = await this.proposeOwn({ $case: 'expireRooms', value: { names } });
    const expired = result.result?.$case === 'expired' ? result.result.value.rooms : 0;
    const durationMs = performance.now() - startMs;
    this.events.onBatch?.(names.length, expired, durationMs);
    this.logger.info('sweep_batch', { due: names.length, expired, durationMs: Math.round(durationMs) });
    return names.length === SWEEPER_LIMITS.sweepBatchRoomsMax;
  }

  /** expireMediaNodes proposes one lease batch; true unless it failed (then the idle pace retries it). */
  private async expireMediaNodes(nodeIds: string[]): Promise<boolean> {
    const startMs = performance.now();
    const result = await this.proposeOwn({ $case: 'expireMediaNodes', value: { nodeIds } });
    if (result.result?.$case === 'failure') {
      const { code, message } = result.result.value;
      this.logger.warn('sweep_failed', { error: `${code}: ${message}`, due: nodeIds.length });
      return false;
    }
    const expired = result.result?.$case === 'expiredMediaNodes' ? result.result.value.mediaNodes : 0;
    const durationMs = performance.now() - startMs;
    this.events.onMediaNodeBatch?.(nodeIds.length, expired, durationMs);
    this.logger.info('sweep_media_nodes', { due: nodeIds.length, expired, durationMs: Math.round(durationMs) });
    return true;
  }

  /** setCommandVersion proposes one SetCommandVersion; true unless it failed (then the idle pace retries it). */
  private async setCommandVersion(version: number): Promise<boolean> {
    const result = await this.proposeOwn({ $case: 'setCommandVersion', value: { version } });
    if (result.result?.$case !== 'commandVersionSet') {
      const failed = result.result?.$case === 'failure' ? result.result.value : { code: '', message: '' };
      this.logger.warn('command_version_not_set', { version, error: `${failed.code}: ${failed.message}` });
      return false;
    }
    this.logger.info('command_version_set', { version, inUse: result.result.value.commandVersionInUse });
    return true;
  }

  /** proposeOwn proposes one of the leader's own commands (no request id: a repeat is harmless) and waits for its result. */
  private async proposeOwn(command: NonNullable<Command['command']>): Promise<CommandResult> {
    const payload = encodeMessage(Command, { requestId: '', apiKey: '', command });
    return CommandResult.decode(await this.target.propose(payload, Date.now() + SWEEPER_LIMITS.sweepDeadlineMs));
  }
}
