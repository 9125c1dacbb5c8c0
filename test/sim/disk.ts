import { assert } from '../../src/lib/assert.js';
import type { Index, NodeId } from '../../src/lib/ids.js';
import type { SeededRng } from '../../src/lib/rng.js';
import { MemoryLogStorage, type Ready, type SnapshotMeta } from '../../src/raft/index.js';
import type { DiskFaults } from './faults.js';
import type { KvSnapshot } from './kv.js';

/**
 * SimDisk is one node's disk: the durable log (MemoryLogStorage), the hard state in it, and
 * the snapshot store. It survives crashes; everything else a node holds does not. Writes land
 * only when a Ready's persist completes, so a crash while a persist is in flight loses it,
 * as a crash before fsync would.
 */
export class SimDisk {
  readonly storage: MemoryLogStorage;
  /** snapshots holds the node's own snapshots and the ones it received, by index. */
  private readonly snapshots = new Map<number, KvSnapshot>();

  constructor(
    readonly id: NodeId,
    voters: readonly NodeId[],
    private readonly faults: DiskFaults,
  ) {
    this.storage = new MemoryLogStorage(voters);
  }

  /** persistSteps draws how long the next Ready's persist takes (0: before the step ends). */
  persistSteps(rng: SeededRng): number {
    if (rng.chance(this.faults.stallProbability)) return 1 + rng.nextInt(this.faults.stallStepsMax);
    return this.faults.persistStepsMax === 0 ? 0 : rng.nextInt(this.faults.persistStepsMax + 1);
  }

  /** persist carries out step 1 of a Ready: snapshot base, then entries, then hard state. */
  persist(rd: Ready): void {
    if (rd.snapshot !== null) {
      assert(this.snapshots.has(rd.snapshot.index), () => `${this.id}: no snapshot bytes for ${rd.snapshot?.index}`);
      this.storage.applySnapshot(rd.snapshot);
      this.pruneSnapshotsBelow(rd.snapshot.index);
    }
    this.storage.append(rd.entries);
    if (rd.hardState !== null) this.storage.setHardState(rd.hardState);
  }

  /** saveSnapshot stores snapshot bytes: taken here, or received beside an InstallSnapshot. */
  saveSnapshot(s: KvSnapshot): void {
    const held = this.snapshots.get(s.index);
    assert(held === undefined || held.digest === s.digest, () => `${this.id}: two different snapshots at ${s.index}`);
    this.snapshots.set(s.index, s);
  }

  /** heldSnapshot returns the snapshot at `i`, or null when it was never here or was pruned. */
  heldSnapshot(i: Index): KvSnapshot | null {
    return this.snapshots.get(i) ?? null;
  }

  snapshotAt(i: Index): KvSnapshot {
    const s = this.snapshots.get(i);
    assert(s !== undefined, () => `${this.id}: no snapshot at ${i}`);
    return s;
  }

  /** baseSnapshot is the snapshot the durable log starts after, or null before the first. */
  baseSnapshot(): KvSnapshot | null {
    const meta = this.storage.snapshotMeta();
    return meta.index === 0 ? null : this.snapshotAt(meta.index);
  }

  /** compactTo drops log entries covered by a held snapshot at `meta`, and snapshots older than the new base. */
  compactTo(meta: SnapshotMeta): void {
    assert(this.snapshots.has(meta.index), () => `${this.id}: compacting to ${meta.index} without its snapshot`);
    this.storage.compact(meta);
    this.pruneSnapshotsBelow(this.storage.snapshotMeta().index);
  }

  /** previousSnapshotIndex is the newest held snapshot below `i`, or null. */
  previousSnapshotIndex(i: Index): Index | null {
    let best: number | null = null;
    for (const at of this.snapshots.keys()) if (at < i && (best === null || at > best)) best = at;
    return best as Index | null;
  }

  /** pruneSnapshotsBelow keeps the base and anything newer: a newer one may become the base later. */
  private pruneSnapshotsBelow(base: number): void {
    for (const at of [...this.snapshots.keys()]) if (at < base) this.snapshots.delete(at);
  }
}
