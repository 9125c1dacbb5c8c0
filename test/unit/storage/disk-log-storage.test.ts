/**
 * Goal: the disk log gives back exactly what was acknowledged, across crashes at any byte, and
 * refuses to start on damage it cannot explain. Method: write through DiskLogStorage into a
 * temp dir, then damage the files the way a crash or a bad disk would (truncate, flip bits,
 * delete) and reopen.
 */
import { mkdtemp, readFile, readdir, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AssertionError } from '../../../src/lib/assert.js';
import { type NodeId, index, term } from '../../../src/lib/ids.js';
import { silentLogger } from '../../../src/lib/logger.js';
import type { Entry, HardState, SnapshotMeta } from '../../../src/raft/index.js';
import { DiskLogStorage } from '../../../src/storage/disk-log-storage.js';
import { StorageCorruptionError } from '../../../src/storage/record.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rr-storage-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function entry(i: number, t: number, text = `cmd-${i}-${t}`): Entry {
  return { index: index(i), term: term(t), kind: 'command', data: new TextEncoder().encode(text) };
}

function hs(t: number, vote: string | null, commit: number): HardState {
  return { term: term(t), vote: vote as NodeId | null, commit: index(commit) };
}

function open(walSegmentBytesMax?: number): Promise<DiskLogStorage> {
  return DiskLogStorage.open({
    dir,
    fsync: true,
    logger: silentLogger,
    ...(walSegmentBytesMax === undefined ? {} : { walSegmentBytesMax }),
  });
}

function allEntries(s: DiskLogStorage): Array<[number, number, string]> {
  if (s.lastIndex() < s.firstIndex()) return [];
  return s
    .entries(s.firstIndex(), index(s.lastIndex() + 1), Infinity)
    .map((e) => [e.index, e.term, new TextDecoder().decode(e.data)]);
}

async function walFiles(): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.startsWith('wal-')).sort();
}

async function* chunksOf(...texts: string[]): AsyncIterable<Uint8Array> {
  for (const t of texts) yield new TextEncoder().encode(t);
  await Promise.resolve();
}

async function readAll(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  let out = '';
  for await (const c of chunks) out += new TextDecoder().decode(c);
  return out;
}

describe('DiskLogStorage', () => {
  it('starts empty in an empty dir and comes back the same', async () => {
    const s = await open();
    expect(s.lastIndex()).toBe(0);
    expect(s.initialHardState()).toEqual(hs(0, null, 0));
    await s.close();
    const again = await open();
    expect(again.lastIndex()).toBe(0);
    expect(await walFiles()).toEqual(['wal-0000000000000001.log']);
    await again.close();
  });

  it('recovers entries, term, vote and commit after a restart', async () => {
    const s = await open();
    await s.persist([entry(1, 1), entry(2, 1)], hs(1, 'n1', 0));
    await s.persist([entry(3, 2)], hs(2, 'n2', 2));
    await s.persist([], hs(2, 'n2', 3)); // commit only
    await s.close();
    const r = await open();
    expect(allEntries(r)).toEqual([
      [1, 1, 'cmd-1-1'],
      [2, 1, 'cmd-2-1'],
      [3, 2, 'cmd-3-2'],
    ]);
    expect(r.initialHardState()).toEqual(hs(2, 'n2', 3));
    await r.close();
  });

  it('replays a conflicting suffix as a replacement', async () => {
    const s = await open();
    await s.persist([entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 1)], hs(1, null, 1));
    await s.persist([entry(3, 2), entry(4, 2)], hs(2, null, 1));
    expect(allEntries(s).map(([i, t]) => [i, t])).toEqual([
      [1, 1],
      [2, 1],
      [3, 2],
      [4, 2],
    ]);
    await s.close();
    const r = await open();
    expect(allEntries(r).map(([i, t]) => [i, t])).toEqual([
      [1, 1],
      [2, 1],
      [3, 2],
      [4, 2],
    ]);
    await r.close();
  });

  it('survives a crash at every byte of the last record: a torn tail is dropped, nothing before it', async () => {
    const s = await open();
    await s.persist([entry(1, 1), entry(2, 1)], hs(1, 'n1', 1));
    await s.persist([entry(3, 1, 'the-last-record')], null);
    await s.close();
    const [wal] = await walFiles();
    const path = join(dir, wal ?? '');
    const full = await readFile(path);
    const lastRecordBytes = 12 + 1 + 17 + 'the-last-record'.length;
    const lastStart = full.length - lastRecordBytes;
    for (let cut = lastStart; cut <= full.length; cut++) {
      await writeFile(path, full.subarray(0, cut));
      const r = await open();
      const expected = cut === full.length ? 3 : 2;
      expect(r.lastIndex(), `cut at ${cut}`).toBe(expected);
      expect(allEntries(r)[1]).toEqual([2, 1, 'cmd-2-1']);
      await r.persist([entry(expected + 1, 1)], null); // the log is writable after recovery
      await r.close();
      const again = await open();
      expect(again.lastIndex()).toBe(expected + 1);
      await again.close();
    }
  });
});

describe('DiskLogStorage on damaged files', () => {
  it('refuses to start on a flipped bit in any byte of a record that is not the last, naming file and offset', async () => {
    const s = await open();
    await s.persist([entry(1, 1), entry(2, 1, 'middle'), entry(3, 1)], hs(1, null, 0));
    await s.close();
    const [wal] = await walFiles();
    const path = join(dir, wal ?? '');
    const full = await readFile(path);
    const headerBytes = 12 + 1 + 12;
    const first = 12 + 1 + 17 + 'cmd-1-1'.length;
    const middleStart = headerBytes + first;
    const middleBytes = 12 + 1 + 17 + 'middle'.length;
    for (let at = middleStart; at < middleStart + middleBytes; at++) {
      const damaged = Buffer.from(full);
      damaged[at] = (damaged[at] ?? 0) ^ 0x10;
      await writeFile(path, damaged);
      const e = await open().then(
        () => null,
        (err: unknown) => err,
      );
      expect(e, `flip at ${at}`).toBeInstanceOf(StorageCorruptionError);
      expect((e as StorageCorruptionError).file).toBe(path);
      expect((e as StorageCorruptionError).offset).toBe(middleStart);
    }
  });

  it('refuses a log whose hard-state file is missing, but not an empty dir without one', async () => {
    const s = await open();
    await s.persist([entry(1, 1)], hs(1, 'n2', 0));
    await s.close();
    await unlink(join(dir, 'hard-state'));
    await expect(open()).rejects.toThrow(/hard-state file is missing/);
    await rm(dir, { recursive: true });
    const fresh = await open();
    expect(fresh.lastIndex()).toBe(0);
    await fresh.close();
  });

  it('refuses a damaged hard-state file', async () => {
    const s = await open();
    await s.persist([entry(1, 1)], hs(1, 'n2', 0));
    await s.close();
    const path = join(dir, 'hard-state');
    const buf = await readFile(path);
    buf[buf.length - 2] = (buf[buf.length - 2] ?? 0) ^ 1;
    await writeFile(path, buf);
    await expect(open()).rejects.toBeInstanceOf(StorageCorruptionError);
  });
});

describe('DiskLogStorage with snapshots', () => {
  it('rotates segments and deletes those a snapshot covers; recovery is snapshot plus the log after it', async () => {
    const s = await open(600);
    for (let i = 1; i <= 40; i++) await s.persist([entry(i, 1, `value-${i}-${'x'.repeat(40)}`)], hs(1, null, i));
    const before = (await walFiles()).length;
    expect(before).toBeGreaterThan(5);
    const meta: SnapshotMeta = {
      index: index(30),
      term: term(1),
      voters: ['n1' as NodeId],
      learners: [],
      contexts: {},
    };
    await s.snapshots.save(meta, chunksOf('state ', 'at 30'));
    s.compact(meta);
    await s.close();
    expect((await walFiles()).length).toBeLessThan(before);
    const r = await open(600);
    expect(r.snapshotMeta()).toEqual(meta);
    expect(r.firstIndex()).toBe(31);
    expect(r.lastIndex()).toBe(40);
    expect(r.initialHardState().commit).toBe(40);
    expect(await readAll(r.snapshots.open(meta))).toBe('state at 30');
    await r.close();
  });

  it('an installed snapshot voids the old log; a received one never installed is ignored', async () => {
    const s = await open();
    await s.persist([entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 1), entry(5, 1)], hs(1, null, 2));
    const installed: SnapshotMeta = { index: index(4), term: term(2), voters: [], learners: [], contexts: {} };
    await s.snapshots.save(installed, chunksOf('installed'));
    await s.applySnapshot(installed);
    await s.persist([entry(5, 2), entry(6, 2)], hs(2, null, 4));
    const neverInstalled: SnapshotMeta = { index: index(9), term: term(3), voters: [], learners: [], contexts: {} };
    await s.snapshots.save(neverInstalled, chunksOf('newer, never installed'));
    await s.close();
    const r = await open();
    expect(r.snapshotMeta()).toEqual(installed);
    expect(allEntries(r).map(([i, t]) => [i, t])).toEqual([
      [5, 2],
      [6, 2],
    ]);
    expect(r.initialHardState().commit).toBe(4);
    await r.close();
  });
});

describe('DiskLogStorage missing files', () => {
  it('refuses to start when the snapshot the log rests on is gone', async () => {
    const s = await open();
    await s.persist([entry(1, 1)], hs(1, null, 1));
    const meta: SnapshotMeta = { index: index(7), term: term(2), voters: [], learners: [], contexts: {} };
    await s.snapshots.save(meta, chunksOf('x'));
    await s.applySnapshot(meta);
    await s.close();
    await unlink(join(dir, (await readdir(dir)).find((n) => n.endsWith('.snap')) ?? ''));
    await expect(open()).rejects.toThrow(/rests on snapshot 7/);
  });

  it('skips a snapshot file cut short and reports a damaged chunk when streamed', async () => {
    const s = await open();
    await s.persist([entry(1, 1), entry(2, 1)], hs(1, null, 2));
    const meta: SnapshotMeta = { index: index(2), term: term(1), voters: [], learners: [], contexts: {} };
    await s.snapshots.save(meta, chunksOf('aaaa', 'bbbb'));
    const name = (await readdir(dir)).find((n) => n.endsWith('.snap')) ?? '';
    const path = join(dir, name);
    const full = await readFile(path);
    const damaged = Buffer.from(full);
    damaged[full.length - 40] = (damaged[full.length - 40] ?? 0) ^ 4;
    await writeFile(path, damaged);
    await expect(readAll(s.snapshots.open(meta))).rejects.toBeInstanceOf(StorageCorruptionError);
    await truncate(path, full.length - 3);
    expect(await s.snapshots.list()).toEqual([]);
    await s.close();
  });

  it('refuses a missing segment in the middle of the log', async () => {
    const s = await open(300);
    for (let i = 1; i <= 20; i++) await s.persist([entry(i, 1, 'y'.repeat(50))], hs(1, null, 0));
    await s.close();
    const files = await walFiles();
    expect(files.length).toBeGreaterThan(3);
    await unlink(join(dir, files[1] ?? ''));
    await expect(open(300)).rejects.toThrow(/segment 2 is missing/);
  });

  it('keeps the segment header valid when a crash leaves a new segment empty', async () => {
    const s = await open(300);
    for (let i = 1; i <= 10; i++) await s.persist([entry(i, 1, 'z'.repeat(50))], hs(1, null, 0));
    await s.close();
    const files = await walFiles();
    const last = join(dir, files[files.length - 1] ?? '');
    await truncate(last, 0);
    expect((await stat(last)).size).toBe(0);
    const r = await open(300);
    expect(r.lastIndex()).toBeGreaterThan(5);
    await r.persist([entry(r.lastIndex() + 1, 1)], null);
    await r.close();
  });
});

describe('DiskLogStorage pair assertions', () => {
  // Pair assertions (issue 19 item 4): what the in-memory log would refuse after the write is refused before it.
  it('asserts before writing a batch with a gap, a term that goes back, or a second vote in a term', async () => {
    const s = await open();
    await s.persist([entry(1, 1), entry(2, 1)], hs(2, 'n1', 0));
    await expect(s.persist([entry(4, 2)], null)).rejects.toThrow(AssertionError);
    await expect(s.persist([entry(3, 2), entry(5, 2)], null)).rejects.toThrow(AssertionError);
    await expect(s.persist([], hs(1, 'n1', 0))).rejects.toThrow(AssertionError);
    await expect(s.persist([], hs(2, 'n2', 0))).rejects.toThrow(AssertionError);
    await s.persist([entry(3, 3)], hs(3, 'n2', 1)); // a new term may vote anew
    await s.close();
    const r = await open();
    expect(allEntries(r).map(([i]) => i)).toEqual([1, 2, 3]);
    expect(r.initialHardState()).toEqual(hs(3, 'n2', 1));
    await r.close();
  });
});
