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
}

/** SweepTarget is what the sweeper needs from the node: leadership and a way to propose. */
export interface SweepTarget {
  isLeader(): boolean;
  propose(payload: Uint8Array, deadlineMs: number): Promise<Uint8Array>;
}

export interface SweeperEvents {
  onBatch?(rooms: number, expired: number, durationMs: number): void;
}

/**
 * Sweeper runs on every node and works only on the leader: it takes the earliest due rooms from
 * the expiry index (never a scan of all rooms), proposes them as one ExpireRooms entry, waits
 * for it to apply, and goes on at a bounded rate while a backlog remains. The state machine
 * re-checks every room when it applies the batch, so a room that got a participant meanwhile
 * stays, and a stale or repeated batch is harmless. A new leader starts at its next tick.
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

  /** sweepBatch proposes one batch; true when more due rooms may remain. */
  private async sweepBatch(): Promise<boolean> {
    if (!this.target.isLeader()) return false;
    const names = this.source.dueRooms(this.nowMs(), SWEEPER_LIMITS.sweepBatchRoomsMax);
    if (names.length === 0) return false;
    const startMs = performance.now();
    const payload = encodeMessage(Command, {
      requestId: '',
      apiKey: '',
      command: { $case: 'expireRooms', value: { names } },
    });
    const result = CommandResult.decode(
      await this.target.propose(payload, Date.now() + SWEEPER_LIMITS.sweepDeadlineMs),
    );
    const expired = result.result?.$case === 'expired' ? result.result.value.rooms : 0;
    const durationMs = performance.now() - startMs;
    this.events.onBatch?.(names.length, expired, durationMs);
    this.logger.info('sweep_batch', { due: names.length, expired, durationMs: Math.round(durationMs) });
    return names.length === SWEEPER_LIMITS.sweepBatchRoomsMax;
  }
}
