import { mkdir, open, readFile, readdir, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';

/**
 * StorageFs is the one seam every byte the node stores goes through (segments, hard state,
 * snapshots, identity): the few calls src/storage needs, no more. Production uses
 * `nodeStorageFs`; under --enable-fault-injection a PowerLossFs (power-loss-fs.ts) wraps it to
 * record what is not yet durable, so a simulated power cut can drop exactly that.
 */
export interface StorageFs {
  /** open: 'r' read, 'r+' read/write, 'w' create or truncate, 'wx' create a new file. New files get FILE_MODE. */
  open(path: string, flags: OpenFlags): Promise<StorageFile>;
  readFile(path: string): Promise<Buffer>;
  readdir(dir: string): Promise<string[]>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** mkdir creates `dir` (and missing parents) with DIR_MODE; an existing dir is left as it is. */
  mkdir(dir: string): Promise<void>;
  /** fsyncDir makes the creations, renames and removals in `dir` durable (POSIX needs the directory synced too). */
  fsyncDir(dir: string): Promise<void>;
}

export type OpenFlags = 'r' | 'r+' | 'w' | 'wx';

/** StorageFile is an open file: positional reads and writes, sync, truncate. */
export interface StorageFile {
  write(buf: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  sync(): Promise<void>;
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

/** FILE_MODE: files the node writes are readable by its own user only (issue 12: they hold room data). */
export const FILE_MODE = 0o600;
/** DIR_MODE: directories the node creates are private to its user. */
export const DIR_MODE = 0o700;

class NodeFile implements StorageFile {
  constructor(private readonly handle: FileHandle) {}

  write(buf: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }> {
    return this.handle.write(buf, offset, length, position);
  }

  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    return this.handle.read(buf, offset, length, position);
  }

  sync(): Promise<void> {
    return this.handle.sync();
  }

  datasync(): Promise<void> {
    return this.handle.datasync();
  }

  truncate(length: number): Promise<void> {
    return this.handle.truncate(length);
  }

  async size(): Promise<number> {
    return (await this.handle.stat()).size;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** nodeStorageFs is StorageFs on node:fs. */
export const nodeStorageFs: StorageFs = Object.freeze({
  open: async (path: string, flags: OpenFlags) => new NodeFile(await open(path, flags, FILE_MODE)),
  readFile: (path: string) => readFile(path),
  readdir: (dir: string) => readdir(dir),
  rename: (from: string, to: string) => rename(from, to),
  unlink: (path: string) => unlink(path),
  mkdir: async (dir: string) => {
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
  },
  fsyncDir: async (dir: string) => {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
});
