import { assert } from '../../src/lib/assert.js';
import type { Index, NodeId, Term } from '../../src/lib/ids.js';
import type { SeededRng } from '../../src/lib/rng.js';
import {
  type Entry,
  type HardState,
  type LogStorage,
  MemoryLogStorage,
  type NodeLogStorage,
  type NodeSnapshotStore,
  type SnapshotMeta,
} from '../../src/raft/index.js';
import type { DiskFaults } from './faults.js';
import { MS_PER_STEP, type SimProcess } from './scheduler.js';

/**
 * SimDisk is one node's disk: the durable log and hard state (MemoryLogStorage) and the
 * snapshot files. It survives crashes; everything a process holds in memory does not. The
 * node reaches it through a SimNodeStorage and a SimSnapshotStore per process incarnation,
 * the same seams (raft/seams.ts) that DiskLogStorage and SnapshotStore fill in production.
 */
export class SimDisk {
  readonly log: MemoryLogStorage;
  /** snapshots holds snapshot bytes by index: taken here, or received from a leader. */
  readonly snapshots = new Map<number, { readonly meta: SnapshotMeta; readonly chunks: readonly Uint8Array[] }>();

  constructor(
    readonly id: NodeId,
    voters: readonly NodeId[],
    private readonly faults: DiskFaults,
  ) {
    this.log = new MemoryLogStorage(voters);
  }

  /** persistSteps draws how long the next log write takes (0: at once, within the step). */
  persistSteps(rng: SeededRng): number {
    if (rng.chance(this.faults.stallProbability)) return 1 + rng.nextInt(this.faults.stallStepsMax);
    return this.faults.persistStepsMax === 0 ? 0 : rng.nextInt(this.faults.persistStepsMax + 1);
  }

  /** baseSnapshot is the snapshot the durable log starts after, or null before the first. */
  baseSnapshot(): SnapshotMeta | null {
    const meta = this.log.snapshotMeta();
    if (meta.index === 0) return null;
    assert(
      this.snapshots.has(meta.index),
      () => `${this.id}: the log is based on snapshot ${meta.index}, whose bytes are gone`,
    );
    return meta;
  }

  /** pruneSnapshotsBelow keeps the base and anything newer: a newer one may become the base later. */
  pruneSnapshotsBelow(base: number): void {
    for (const at of [...this.snapshots.keys()]) if (at < base) this.snapshots.delete(at);
  }
}

/**
 * WritePlan is what happens to one log write: it takes `steps`; with `powerLoss` the machine
 * loses power before the fsync returns, and only a prefix of the write survives (what a torn
 * WAL tail leaves after recovery truncates the garbage); with `crashAfter` the process dies
 * right after the write is durable, before the node hears so (so before it sends or applies).
 */
export interface WritePlan {
  readonly steps: number;
  /** leaderTerm: the term the node led when it issued the write, or null (for the checker). */
  readonly leaderTerm: Term | null;
  readonly powerLoss: {
    readonly keptEntries: number;
    readonly keepHardState: boolean;
    readonly why: string;
    readonly restartSteps: number | null;
  } | null;
  readonly crashAfter: string | null;
}

/** DiskEvents is how the cluster decides a write's fate and mirrors what became durable. */
export interface DiskEvents {
  planWrite(entries: readonly Entry[], hardState: HardState | null): WritePlan;
  /** durable: these writes reached the disk (the safety checker mirrors them). */
  durable(
    snapshot: SnapshotMeta | null,
    entries: readonly Entry[],
    hardState: HardState | null,
    leaderTerm: Term | null,
  ): void;
  compacted(meta: SnapshotMeta): void;
  /** died: the process is gone (power loss or crash), restarted `restartSteps` later (null: the nemesis decides). */
  died(why: string, restartSteps: number | null): void;
}

/**
 * SimNodeStorage is NodeLogStorage for one process incarnation over its SimDisk. Reads are the
 * durable log. A write lands when its simulated fsync returns, in the simulator's time, so a
 * slow or stalled disk holds the node's loop as a real one does.
 *
 * Power loss is modelled at this seam, not at the file level: each persist is one WAL write
 * plus fsync, so what a power cut can lose is the write in flight, which survives as a prefix
 * of its entries (a torn tail, truncated at recovery), and its hard state only if every entry
 * did. Snapshot installs and compactions are durable at once.
 */
export class SimNodeStorage implements NodeLogStorage {
  /** writesInFlight counts persists not yet durable (0 or 1: the node waits for each). */
  writesInFlight = 0;

  constructor(
    private readonly disk: SimDisk,
    private readonly proc: SimProcess,
    private readonly events: DiskEvents,
  ) {}

  private get log(): LogStorage {
    return this.disk.log;
  }

  initialHardState(): HardState {
    return this.log.initialHardState();
  }

  snapshotMeta(): SnapshotMeta {
    return this.log.snapshotMeta();
  }

  firstIndex(): Index {
    return this.log.firstIndex();
  }

  lastIndex(): Index {
    return this.log.lastIndex();
  }

  term(i: Index): Term | null {
    return this.log.term(i);
  }

  entries(lo: Index, hi: Index, maxBytes: number): readonly Entry[] {
    return this.log.entries(lo, hi, maxBytes);
  }

  persist(entries: readonly Entry[], hardState: HardState | null): Promise<void> {
    assert(this.proc.alive, () => `${this.disk.id}: a dead process wrote its log`);
    const plan = this.events.planWrite(entries, hardState);
    this.writesInFlight++;
    return new Promise((resolve) => {
      const finish = (): void => {
        this.writesInFlight--;
        if (plan.powerLoss !== null) {
          const kept = entries.slice(0, plan.powerLoss.keptEntries);
          const keepHs = kept.length === entries.length && plan.powerLoss.keepHardState;
          this.write(kept, keepHs ? hardState : null, plan.leaderTerm);
          this.events.died(plan.powerLoss.why, plan.powerLoss.restartSteps);
          return;
        }
        this.write(entries, hardState, plan.leaderTerm);
        if (plan.crashAfter !== null) {
          this.events.died(plan.crashAfter, null);
          return;
        }
        resolve();
      };
      if (plan.steps === 0) finish();
      else this.proc.after(plan.steps * MS_PER_STEP, finish);
    });
  }

  applySnapshot(meta: SnapshotMeta): Promise<void> {
    assert(this.proc.alive, () => `${this.disk.id}: a dead process installed a snapshot`);
    assert(this.disk.snapshots.has(meta.index), () => `${this.disk.id}: no snapshot bytes for ${meta.index}`);
    this.disk.log.applySnapshot(meta);
    this.disk.pruneSnapshotsBelow(meta.index);
    this.events.durable(meta, [], null, null);
    return Promise.resolve();
  }

  compact(meta: SnapshotMeta): void {
    assert(
      this.disk.snapshots.has(meta.index),
      () => `${this.disk.id}: compacting to ${meta.index} without its snapshot`,
    );
    this.disk.log.compact(meta);
    this.disk.pruneSnapshotsBelow(this.disk.log.snapshotMeta().index);
    this.events.compacted(meta);
  }

  private write(entries: readonly Entry[], hardState: HardState | null, leaderTerm: Term | null): void {
    this.disk.log.append(entries);
    if (hardState !== null) this.disk.log.setHardState(hardState);
    this.events.durable(null, entries, hardState, leaderTerm);
  }
}

/**
 * SimSnapshotStore is NodeSnapshotStore over a SimDisk. A save is atomic (the real store
 * writes a temporary file and renames it), and `saved` lets the checker compare snapshots.
 */
export class SimSnapshotStore implements NodeSnapshotStore {
  constructor(
    private readonly disk: SimDisk,
    private readonly saved: (meta: SnapshotMeta, chunks: readonly Uint8Array[]) => void,
  ) {}

  async save(meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const all: Uint8Array[] = [];
    for await (const c of chunks) all.push(c.slice());
    this.saved(meta, all);
    this.disk.snapshots.set(meta.index, { meta, chunks: all });
  }

  async *open(meta: SnapshotMeta): AsyncIterable<Uint8Array> {
    const held = this.disk.snapshots.get(meta.index);
    // The bytes were pruned after a newer snapshot became the base: the send fails, as a real one would.
    if (held === undefined || held.meta.term !== meta.term)
      throw new Error(`${this.disk.id}: no snapshot ${meta.index}/${meta.term}`);
    yield* held.chunks;
  }
}
