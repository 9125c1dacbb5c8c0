import type { Entry, HardState, NodeLogStorage, NodeSnapshotStore, SnapshotMeta } from '../raft/index.js';
import { MemoryLogStorage } from '../raft/index.js';

/**
 * MemoryNodeStorage is the in-memory twin of src/storage's DiskLogStorage: the same writes,
 * nothing on disk. Tests of the node loop use it to run several nodes in one process.
 */
export class MemoryNodeStorage extends MemoryLogStorage implements NodeLogStorage {
  persistCalls = 0;

  persist(entries: readonly Entry[], hardState: HardState | null): Promise<void> {
    this.persistCalls++;
    this.append(entries);
    if (hardState !== null) this.setHardState(hardState);
    return Promise.resolve();
  }

  // The node awaits this through NodeLogStorage; raft's own callers of the sync base method never see this class.
  // eslint-disable-next-line @typescript-eslint/no-misused-promises
  override applySnapshot(meta: SnapshotMeta): Promise<void> {
    super.applySnapshot(meta);
    return Promise.resolve();
  }
}

/** MemorySnapshotStore is the in-memory twin of src/storage's SnapshotStore. */
export class MemorySnapshotStore implements NodeSnapshotStore {
  private readonly snapshots = new Map<string, Uint8Array[]>();

  async save(meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const all: Uint8Array[] = [];
    for await (const c of chunks) all.push(c.slice());
    this.snapshots.set(key(meta), all);
  }

  async *open(meta: SnapshotMeta): AsyncIterable<Uint8Array> {
    const chunks = this.snapshots.get(key(meta));
    if (chunks === undefined) throw new Error(`no snapshot ${key(meta)}`);
    yield* chunks;
  }
}

function key(meta: SnapshotMeta): string {
  return `${meta.index}-${meta.term}`;
}
