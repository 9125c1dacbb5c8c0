import { LIMITS } from '../config/limits.js';
import { assert } from '../lib/assert.js';
import type { Index } from '../lib/ids.js';
import type { Logger } from '../lib/logger.js';
import type {
  ConfState,
  NodeLogStorage,
  NodeSnapshotStore,
  SnapshotMeta,
  SnapshotSource,
  StateMachine,
} from '../raft/index.js';
import type { NodeClock } from './clock.js';

/**
 * Snapshotter takes snapshots when the core asks and installs received ones. Taking one is
 * cheap capture plus serialization in slices with the event loop free between them, so a
 * million rooms never stall the API; only then is the log compacted.
 */
export class Snapshotter {
  private running: Promise<void> | null = null;
  /** durable: a snapshot now safely on disk whose entries the log may drop at the next turn. */
  private durable: SnapshotMeta | null = null;
  /** heldByBackup: aborts the backup that holds the capture slot (null when none does). */
  private heldByBackup: (() => void) | null = null;
  /** appliedBytesSinceTaken: entry bytes applied since the last snapshot began (the log tail it would drop). */
  private appliedBytesSinceTaken = 0;

  constructor(
    private readonly storage: NodeLogStorage,
    private readonly store: NodeSnapshotStore,
    private readonly stateMachine: StateMachine,
    private readonly logger: Logger,
    private readonly clock: NodeClock,
    private readonly onTaken: (meta: SnapshotMeta, bytes: number, durationMs: number) => void,
    /** intervalBytes: LIMITS.snapshotIntervalBytes, or a test's smaller value. */
    private readonly intervalBytes: number = LIMITS.snapshotIntervalBytes,
  ) {
    assert(intervalBytes > 0, 'the snapshot byte interval must be positive');
  }

  /** applied counts the bytes of entries just applied, toward the byte trigger. */
  applied(bytes: number): void {
    this.appliedBytesSinceTaken += bytes;
  }

  /**
   * dueOnBytes: more than intervalBytes of entries were applied since the last
   * snapshot began, so take one even if the entry count has not asked for it: 512 KiB metadata
   * updates would otherwise grow the in-memory log tail and the WAL by 50 GiB per 100 000 entries.
   */
  dueOnBytes(): boolean {
    return this.appliedBytesSinceTaken > this.intervalBytes;
  }

  /** take snapshots the state machine as of `applied` (called right after applying it). */
  take(applied: Index, conf: ConfState): void {
    if (this.running !== null) return; // one at a time; the core asks again later
    this.appliedBytesSinceTaken = 0;
    const term = this.storage.term(applied);
    assert(term !== null, () => `snapshot at ${applied}: the log has no term there`);
    const meta: SnapshotMeta = {
      index: applied,
      term,
      voters: conf.voters,
      learners: conf.learners,
      contexts: conf.contexts,
    };
    const source = this.stateMachine.captureSnapshot();
    this.running = this.write(meta, source).finally(() => {
      this.running = null;
    });
  }

  private async write(meta: SnapshotMeta, source: SnapshotSource): Promise<void> {
    const startMs = this.clock.monotonicMs();
    let bytes = 0;
    try {
      await this.store.save(
        meta,
        slices(source, this.clock, (n) => (bytes += n)),
      );
      this.durable = meta;
      const durationMs = this.clock.monotonicMs() - startMs;
      this.logger.info('snapshot_taken', {
        index: meta.index,
        snapshotTerm: meta.term,
        bytes,
        durationMs: Math.round(durationMs),
      });
      this.onTaken(meta, bytes, durationMs);
    } catch (e) {
      this.logger.error('snapshot_failed', { index: meta.index, error: e });
    } finally {
      source.close();
    }
  }

  /**
   * compactIfDue drops the entries the newest durable snapshot covers. The node calls it at the
   * start of a turn, never while a Ready is being persisted.
   */
  compactIfDue(): void {
    const meta = this.durable;
    this.durable = null;
    if (meta !== null && meta.index > this.storage.snapshotMeta().index) this.storage.compact(meta);
  }

  /** install restores the state machine from a received snapshot and rebases the log on it. */
  async install(meta: SnapshotMeta): Promise<void> {
    this.heldByBackup?.(); // a backup never holds up the node loop: it is cut short
    await this.idle();
    const startMs = this.clock.monotonicMs();
    await this.stateMachine.restore(this.store.open(meta));
    await this.storage.applySnapshot(meta);
    this.logger.info('snapshot_installed', {
      index: meta.index,
      snapshotTerm: meta.term,
      durationMs: Math.round(this.clock.monotonicMs() - startMs),
    });
  }

  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /**
   * captureExclusive captures the state for a backup once no snapshot is being written, and
   * holds the capture slot until `release`: the state machine keeps one copy-on-write capture
   * at a time, so snapshots wait (the core asks again) while a backup streams. `metaNow` runs in
   * the same synchronous step as the capture, so the meta names the captured index.
   */
  async captureExclusive(metaNow: () => SnapshotMeta): Promise<ExclusiveCapture> {
    while (this.running !== null) await this.running;
    const meta = metaNow();
    const source = this.stateMachine.captureSnapshot();
    let released = false;
    let aborted = false;
    let resolveSlot: () => void = () => undefined;
    const slot = new Promise<void>((resolve) => (resolveSlot = resolve));
    const release = (): void => {
      if (released) return;
      released = true;
      source.close();
      if (this.running === slot) this.running = null;
      if (this.heldByBackup === abort) this.heldByBackup = null;
      resolveSlot();
    };
    const abort = (): void => {
      aborted = true;
      release();
    };
    this.running = slot;
    this.heldByBackup = abort;
    return { meta, source, release, aborted: () => aborted };
  }
}

/**
 * ExclusiveCapture is a captured state with its meta; `release` ends it (idempotent) and frees
 * the slot. `aborted` turns true when the node had to install a snapshot meanwhile (it lost
 * leadership): the capture is gone and the backup must fail, not go on.
 */
export interface ExclusiveCapture {
  readonly meta: SnapshotMeta;
  readonly source: SnapshotSource;
  release(): void;
  aborted(): boolean;
}

/** slices yields the source's chunks, giving the event loop a turn between them. */
async function* slices(
  source: SnapshotSource,
  clock: NodeClock,
  count: (bytes: number) => void,
): AsyncIterable<Uint8Array> {
  for (;;) {
    const chunk = source.nextChunk(LIMITS.snapshotSliceBytes);
    if (chunk === null) return;
    count(chunk.byteLength);
    yield chunk;
    await new Promise<void>((r) => clock.soon(r));
  }
}
