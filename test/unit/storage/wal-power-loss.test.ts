/**
 * Goal: the WAL's decisions about power loss (issue 13 finding 6, README "Storage"): the old
 * segment is synced on rotation; a torn tail of an older segment is accepted only when nothing
 * after it holds entries; a torn batch with valid bytes after the damage is a torn write when a
 * sector of it was never written, or nothing valid follows; recovery never trusts bytes it did
 * not sync (fsyncgate), and a failed fsync is never retried. Method: DiskLogStorage over the
 * PowerLossFs layer or over files damaged by hand, then reopen through the plain fs.
 */
import { mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type NodeId, index, term } from '../../../src/lib/ids.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { SeededRng } from '../../../src/lib/rng.js';
import type { Entry, HardState } from '../../../src/raft/index.js';
import { DiskLogStorage } from '../../../src/storage/disk-log-storage.js';
import { PowerLossFs, TEAR_MODES } from '../../../src/storage/power-loss-fs.js';
import { StorageCorruptionError } from '../../../src/storage/record.js';
import { type StorageFs, nodeStorageFs } from '../../../src/storage/storage-fs.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rr-wal-pl-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function entry(i: number, t = 1, bytes = 40): Entry {
  return { index: index(i), term: term(t), kind: 'command', data: Buffer.alloc(bytes, i % 251) };
}

function hs(t: number, commit: number): HardState {
  return { term: term(t), vote: 'n1' as NodeId, commit: index(commit) };
}

function open(opts: { fs?: StorageFs; fsync?: boolean; walSegmentBytesMax?: number } = {}): Promise<DiskLogStorage> {
  return DiskLogStorage.open({
    dir,
    fsync: opts.fsync ?? true,
    logger: silentLogger,
    fs: opts.fs ?? nodeStorageFs,
    ...(opts.walSegmentBytesMax === undefined ? {} : { walSegmentBytesMax: opts.walSegmentBytesMax }),
  });
}

async function walFiles(): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.startsWith('wal-')).sort();
}

describe('WAL under power loss', () => {
  it('syncs the old segment on rotation: a torn commit record there cannot strand the entries after it', async () => {
    for (const tear of TEAR_MODES) {
      for (let seed = 1; seed <= 3; seed++) {
        await rm(dir, { recursive: true, force: true });
        const rng = new SeededRng(seed);
        const fs = new PowerLossFs(nodeStorageFs, () => rng.nextFloat());
        const s = await open({ fs, walSegmentBytesMax: 400 });
        for (let i = 1; i <= 30; i++) {
          await s.persist([entry(i)], hs(1, i - 1));
          await s.persist([], hs(1, i)); // commit only: written without a sync
        }
        await fs.powerLoss(tear);
        const r = await open();
        expect(r.lastIndex(), `${tear} seed ${seed}`).toBe(30);
        await r.close();
      }
    }
  });

  it('accepts a torn tail of an older segment when no later segment holds entries, and refuses it otherwise', async () => {
    const s = await open({ walSegmentBytesMax: 400 });
    for (let i = 1; i <= 12; i++) await s.persist([entry(i)], hs(1, i));
    await s.close();
    const files = await walFiles();
    expect(files.length).toBeGreaterThan(2);
    const [first, second] = files.map((f) => join(dir, f));
    // An older segment torn at its end, a later one holding entries: corruption.
    await writeFile(first ?? '', Buffer.concat([await readFile(first ?? ''), Buffer.from('garbage of a cut write')]));
    await expect(open()).rejects.toBeInstanceOf(StorageCorruptionError);
    // The later segments hold nothing but their header: nothing after the damage was acknowledged.
    for (const f of files.slice(2)) await rm(join(dir, f));
    await truncate(second ?? '', 25);
    const r = await open();
    const entriesInFirst = r.lastIndex();
    expect(entriesInFirst).toBeGreaterThan(0);
    await r.persist([entry(entriesInFirst + 1)], null);
    await r.close();
    const again = await open(); // the torn tail was cut, so it is not seen again behind new entries
    expect(again.lastIndex()).toBe(entriesInFirst + 1);
    await again.close();
  });
});

describe('WAL recovery under power loss', () => {
  it('accepts a torn batch with valid records after a sector that was never written, or after garbage', async () => {
    const s = await open();
    await s.persist([entry(1), entry(2), entry(3)], hs(1, 3));
    await s.close();
    const [wal] = await walFiles();
    const path = join(dir, wal ?? '');
    const durable = await readFile(path);
    const t = await open();
    await t.persist(
      Array.from({ length: 20 }, (_, k) => entry(4 + k, 1, 200)),
      null,
    );
    await t.close();
    const full = await readFile(path);
    // A sector in the middle of the batch never reached the disk; the ones after it did.
    const sector = Math.ceil((durable.length + 600) / 512) * 512;
    const lost = Buffer.from(full);
    lost.fill(0, sector, sector + 512);
    await writeFile(path, lost);
    const r = await open();
    expect(r.lastIndex()).toBeGreaterThanOrEqual(3);
    expect(r.lastIndex()).toBeLessThan(23);
    await r.close();
    // Garbage from the first byte of the batch on: nothing valid follows the damage.
    const garbage = Buffer.from(full);
    for (let i = durable.length; i < garbage.length; i++) garbage[i] = (i * 131 + 7) & 0xff;
    await writeFile(path, garbage);
    const g = await open();
    expect(g.lastIndex()).toBe(3);
    await g.close();
  });

  it('recovery syncs what it reads before trusting it (fsyncgate)', async () => {
    const fs = new PowerLossFs(nodeStorageFs, () => 0.5);
    const unsynced = await open({ fs, fsync: false });
    for (let i = 1; i <= 5; i++) await unsynced.persist([entry(i)], hs(1, i));
    // kill -9: the page cache keeps the bytes; the restarted node reads them and may ack them.
    const restarted = await open({ fs });
    expect(restarted.lastIndex()).toBe(5);
    await fs.powerLoss('drop');
    const r = await open();
    expect(r.lastIndex()).toBe(5);
    await r.close();
  });

  it('never retries a failed fsync: every later write fails, so the node exits and recovers', async () => {
    let failNext = false;
    const failing: StorageFs = {
      ...nodeStorageFs,
      open: async (path, flags) => {
        const file = await nodeStorageFs.open(path, flags);
        return Object.assign(Object.create(Object.getPrototypeOf(file) as object) as typeof file, file, {
          datasync: async () => {
            if (failNext) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
            await file.datasync();
          },
        });
      },
    };
    const s = await open({ fs: failing });
    await s.persist([entry(1)], hs(1, 0));
    failNext = true;
    await expect(s.persist([entry(2)], null)).rejects.toThrow('EIO');
    failNext = false;
    // Writing the same entry again (the log still ends at 1) is the retry that must not happen.
    await expect(s.persist([entry(2)], null)).rejects.toThrow('EIO');
  });
});
