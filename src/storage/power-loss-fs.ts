import {
  closeSync,
  existsSync,
  fstatSync,
  ftruncateSync,
  linkSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { assert } from '../lib/assert.js';
import type { OpenFlags, StorageFile, StorageFs } from './storage-fs.js';
import { SECTOR_BYTES } from './storage-limits.js';

/**
 * TEAR_MODES: what a power cut does to the bytes of a file written since its last fsync, as a
 * disk could: `drop` all of them, keep a `prefix`, keep a prefix with `garbage` after it, or
 * keep them all but one 512-byte `sector` that never reached the platter (sectors persisted
 * out of order), so valid bytes follow the damage.
 */
export const TEAR_MODES = ['drop', 'prefix', 'garbage', 'sector'] as const;
export type TearMode = (typeof TEAR_MODES)[number];

/** UNDO_DIR_NAME: where the layer keeps hard links to files it may have to bring back (renamed over, unlinked). */
const UNDO_DIR_NAME = '.power-loss-undo';

/** FileTrack is what the layer knows of one file: its durable size and the durable bytes overwritten since. */
interface FileTrack {
  /** path: the file's current name (renames move it). */
  path: string;
  /** durableSize: the size at its last fsync (or when first seen: what was there is taken as durable). */
  durableSize: number;
  /** saved: durable bytes overwritten or truncated away since that fsync, oldest first. */
  saved: Array<{ readonly position: number; readonly bytes: Buffer }>;
  dirty: boolean;
}

/** DirOp is a directory change not yet made durable by an fsync of its directory. */
type DirOp = { readonly dir: string; readonly seq: number } & (
  | { readonly kind: 'create'; readonly path: string }
  | {
      readonly kind: 'rename';
      readonly from: string;
      readonly to: string;
      readonly backup: string | null;
      readonly replaced: FileTrack | null;
    }
  | { readonly kind: 'unlink'; readonly path: string; readonly backup: string; readonly track: FileTrack | null }
);

/** PowerLossReport says what a simulated power cut discarded. */
export interface PowerLossReport {
  readonly filesTorn: number;
  readonly dirEntriesUndone: number;
}

/**
 * PowerLossFs wraps the storage seam (test-only, under --enable-fault-injection) and records
 * what was written but not yet made durable: per file, bytes written since its last fsync; per
 * directory, entries created, renamed or removed since its last fsync. `powerLoss()` stops all
 * I/O, waits for the calls already running, then discards exactly that: directory changes are
 * undone newest first, and each dirty file is torn as a disk could (TEAR_MODES). The caller then
 * ends the process at once, as a machine losing power would.
 */
export class PowerLossFs implements StorageFs {
  private readonly files = new Map<string, FileTrack>();
  private ops: DirOp[] = [];
  private seq = 0;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly undoDirs = new Set<string>();
  private down = false;

  constructor(
    private readonly inner: StorageFs,
    /** random: the tear choices; tests pass a seeded one. */
    private readonly random: () => number = Math.random,
  ) {}

  open(path: string, flags: OpenFlags): Promise<StorageFile> {
    return this.run(async () => {
      const existed = existsSync(path);
      let track: FileTrack | null = null;
      if (flags !== 'r') {
        track = this.trackOf(path, existed);
        if (!existed) this.record({ kind: 'create', path });
        if (flags === 'w' && existed) this.save(track, 0, track.durableSize);
      }
      const file = await this.inner.open(path, flags);
      return new PowerLossFile(this, file, track);
    });
  }

  readFile(path: string): Promise<Buffer> {
    return this.run(() => this.inner.readFile(path));
  }

  readdir(dir: string): Promise<string[]> {
    return this.run(async () => (await this.inner.readdir(dir)).filter((n) => n !== UNDO_DIR_NAME));
  }

  rename(from: string, to: string): Promise<void> {
    return this.run(async () => {
      assert(dirname(from) === dirname(to), 'renames stay in one directory');
      const backup = existsSync(to) ? this.keep(to) : null;
      const replaced = this.files.get(to) ?? null;
      await this.inner.rename(from, to);
      const moved = this.files.get(from);
      this.files.delete(from);
      this.files.delete(to);
      if (moved !== undefined) this.files.set(to, Object.assign(moved, { path: to }));
      this.record({ kind: 'rename', from, to, backup, replaced });
    });
  }

  unlink(path: string): Promise<void> {
    return this.run(async () => {
      const backup = this.keep(path);
      await this.inner.unlink(path);
      const track = this.files.get(path) ?? null;
      this.files.delete(path);
      this.record({ kind: 'unlink', path, backup, track });
    });
  }

  mkdir(dir: string): Promise<void> {
    return this.run(async () => {
      const missing: string[] = [];
      for (let d = dir; !existsSync(d) && dirname(d) !== d; d = dirname(d)) missing.unshift(d);
      await this.inner.mkdir(dir);
      for (const d of missing) this.record({ kind: 'create', path: d });
    });
  }

  fsyncDir(dir: string): Promise<void> {
    return this.run(async () => {
      const upTo = this.seq;
      await this.inner.fsyncDir(dir);
      const durable = this.ops.filter((op) => op.dir === dir && op.seq < upTo);
      this.ops = this.ops.filter((op) => !durable.includes(op));
      for (const op of durable) if (op.kind !== 'create' && op.backup !== null) rmSync(op.backup, { force: true });
    });
  }

  /**
   * writeback makes everything written so far durable, as the kernel's flusher does with dirty
   * pages in the background (Linux: every few seconds, data older than ~30 s). Without it a node
   * run with --fsync=never would lose everything since its start at a power cut, not just the
   * last seconds, which no real machine does.
   */
  writeback(): void {
    if (this.down) return;
    for (const track of this.files.values())
      if (existsSync(track.path)) this.synced(track, statSync(track.path).size, track.saved.length);
    for (const op of this.ops) if (op.kind !== 'create' && op.backup !== null) rmSync(op.backup, { force: true });
    this.ops = [];
  }

  /**
   * powerLoss stops every later call (they never settle), lets the running ones finish, then
   * discards what is not durable. `tear` forces one tear mode (tests); by default each dirty
   * file gets a random one.
   */
  async powerLoss(tear?: TearMode): Promise<PowerLossReport> {
    this.down = true;
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    const dirEntriesUndone = this.ops.length;
    for (const op of [...this.ops].reverse()) this.undo(op);
    this.ops = [];
    let filesTorn = 0;
    for (const track of this.files.values()) {
      if (!track.dirty || !existsSync(track.path)) continue;
      tearFile(track, tear ?? pick(TEAR_MODES, this.random), this.random);
      filesTorn++;
    }
    for (const undoDir of this.undoDirs) rmSync(undoDir, { recursive: true, force: true });
    return { filesTorn, dirEntriesUndone };
  }

  // ---- called by PowerLossFile ------------------------------------------------------------

  /** run counts a call in flight; once the power is cut, new calls never settle, as on a dead machine. */
  run<T>(f: () => Promise<T>): Promise<T> {
    if (this.down) return new Promise<T>(() => undefined);
    const p = f();
    this.inflight.add(p);
    const forget = (): void => {
      this.inflight.delete(p);
    };
    p.then(forget, forget);
    return new Promise<T>((resolve, reject) => {
      p.then(
        (v) => (this.down ? undefined : resolve(v)),
        (e: unknown) => (this.down ? undefined : reject(e as Error)),
      );
    });
  }

  /** save keeps the durable bytes in [position, position + length) before they are overwritten or cut. */
  save(track: FileTrack, position: number, length: number): void {
    const end = Math.min(position + length, track.durableSize);
    track.dirty = true;
    if (end <= position) return;
    const bytes = Buffer.alloc(end - position);
    const fd = openSync(track.path, 'r');
    try {
      readSync(fd, bytes, 0, bytes.length, position);
    } finally {
      closeSync(fd);
    }
    track.saved.push({ position, bytes });
  }

  /** synced marks what the file held when its fsync began as durable. */
  synced(track: FileTrack, sizeAtStart: number, savedAtStart: number): void {
    track.saved.splice(0, savedAtStart);
    track.durableSize = sizeAtStart;
    // A file removed meanwhile is the unlink's business (its undo brings back what it held).
    track.dirty = track.saved.length > 0 || (existsSync(track.path) && statSync(track.path).size !== sizeAtStart);
  }

  private trackOf(path: string, existed: boolean): FileTrack {
    let track = this.files.get(path);
    if (track === undefined) {
      track = { path, durableSize: existed ? statSync(path).size : 0, saved: [], dirty: false };
      this.files.set(path, track);
    }
    return track;
  }

  private record(op: DistributiveOmit<DirOp, 'dir' | 'seq'>): void {
    const path = op.kind === 'rename' ? op.to : op.path;
    this.ops.push({ ...op, dir: dirname(path), seq: this.seq++ } as DirOp);
  }

  /** keep hard-links `path` into the undo dir, so a power cut can bring it back. */
  private keep(path: string): string {
    const undoDir = join(dirname(path), UNDO_DIR_NAME);
    if (!this.undoDirs.has(undoDir)) {
      // What a previous process left here (it was killed, not cut) is stale: its ops died with
      // it, and its backups' numbers would collide with this layer's, which start at 0 again.
      rmSync(undoDir, { recursive: true, force: true });
      this.undoDirs.add(undoDir);
    }
    mkdirSync(undoDir, { recursive: true });
    const backup = join(undoDir, `${this.seq}-${basename(path)}`);
    linkSync(path, backup);
    return backup;
  }

  private undo(op: DirOp): void {
    switch (op.kind) {
      case 'create':
        rmSync(op.path, { recursive: true, force: true });
        for (const p of [...this.files.keys()]) if (p === op.path || p.startsWith(`${op.path}/`)) this.files.delete(p);
        return;
      case 'rename': {
        const moved = this.files.get(op.to);
        this.files.delete(op.to);
        if (existsSync(op.to)) renameSync(op.to, op.from);
        if (moved !== undefined) this.files.set(op.from, Object.assign(moved, { path: op.from }));
        if (op.backup !== null) renameSync(op.backup, op.to);
        if (op.replaced !== null) this.files.set(op.to, Object.assign(op.replaced, { path: op.to }));
        return;
      }
      case 'unlink':
        renameSync(op.backup, op.path);
        if (op.track !== null) this.files.set(op.path, Object.assign(op.track, { path: op.path }));
        return;
      default:
        return op satisfies never;
    }
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

class PowerLossFile implements StorageFile {
  constructor(
    private readonly layer: PowerLossFs,
    private readonly file: StorageFile,
    /** track: null for files opened read-only. */
    private readonly track: FileTrack | null,
  ) {}

  write(buf: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }> {
    return this.layer.run(async () => {
      if (this.track !== null) this.layer.save(this.track, position, length);
      return this.file.write(buf, offset, length, position);
    });
  }

  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    return this.layer.run(() => this.file.read(buf, offset, length, position));
  }

  sync(): Promise<void> {
    return this.layer.run(() => this.syncWith(() => this.file.sync()));
  }

  datasync(): Promise<void> {
    return this.layer.run(() => this.syncWith(() => this.file.datasync()));
  }

  truncate(length: number): Promise<void> {
    return this.layer.run(async () => {
      if (this.track !== null) this.layer.save(this.track, length, this.track.durableSize - length);
      await this.file.truncate(length);
    });
  }

  size(): Promise<number> {
    return this.layer.run(() => this.file.size());
  }

  close(): Promise<void> {
    return this.layer.run(() => this.file.close());
  }

  private async syncWith(sync: () => Promise<void>): Promise<void> {
    const track = this.track;
    if (track === null) return sync();
    const sizeAtStart = existsSync(track.path) ? statSync(track.path).size : track.durableSize;
    const savedAtStart = track.saved.length;
    await sync();
    this.layer.synced(track, sizeAtStart, savedAtStart);
  }
}

/** tearFile puts back the durable bytes a file had at its last fsync and tears what came after. */
function tearFile(track: FileTrack, mode: TearMode, random: () => number): void {
  const fd = openSync(track.path, 'r+');
  try {
    const size = fstatSync(fd).size;
    for (const { position, bytes } of [...track.saved].reverse()) writeSync(fd, bytes, 0, bytes.length, position);
    const durable = track.durableSize;
    const fresh = Math.max(0, size - durable);
    const keep = Math.floor(random() * (fresh + 1));
    switch (mode) {
      case 'drop':
        return ftruncateSync(fd, durable);
      case 'prefix':
        return ftruncateSync(fd, durable + keep);
      case 'garbage': {
        const garbage = Buffer.alloc(fresh - keep);
        for (let i = 0; i < garbage.length; i++) garbage[i] = Math.floor(random() * 256);
        writeSync(fd, garbage, 0, garbage.length, durable + keep);
        return ftruncateSync(fd, durable + fresh);
      }
      case 'sector': {
        ftruncateSync(fd, durable + fresh);
        if (fresh === 0) return;
        const sector = Math.floor((durable + keep - (keep === fresh ? 1 : 0)) / SECTOR_BYTES) * SECTOR_BYTES;
        const from = Math.max(sector, durable);
        const to = Math.min(sector + SECTOR_BYTES, durable + fresh);
        writeSync(fd, Buffer.alloc(to - from), 0, to - from, from);
        return;
      }
      default:
        return mode satisfies never;
    }
  } finally {
    closeSync(fd);
  }
}

function pick<T>(xs: readonly T[], random: () => number): T {
  const x = xs[Math.floor(random() * xs.length)];
  assert(x !== undefined, 'pick from an empty list');
  return x;
}
