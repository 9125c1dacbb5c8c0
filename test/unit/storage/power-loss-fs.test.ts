/**
 * Goal: every file the node writes survives a power cut as its old or its new version, never
 * empty or partial (STYLE rule 25, issue 13 finding 9), and the power-loss layer that proves it
 * drops exactly what was not made durable. Method: write through PowerLossFs into a temp dir,
 * cut the power after a varying number of event-loop turns (so the cut lands before, inside and
 * after each write) with every tear mode, then read the dir back through the plain fs.
 */
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claimDataDir, identityFileName } from '../../../src/cli/data-dir.js';
import { type NodeId, index, term } from '../../../src/lib/ids.js';
import { SeededRng } from '../../../src/lib/rng.js';
import type { HardState, SnapshotMeta } from '../../../src/raft/index.js';
import { writeBytesDurably } from '../../../src/storage/files.js';
import { readHardState, writeHardState } from '../../../src/storage/hard-state-file.js';
import { PowerLossFs, TEAR_MODES, type TearMode } from '../../../src/storage/power-loss-fs.js';
import { DiskSnapshotStore } from '../../../src/storage/snapshot-store.js';
import { nodeStorageFs } from '../../../src/storage/storage-fs.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rr-powerloss-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function layer(seed = 1): PowerLossFs {
  const rng = new SeededRng(seed);
  return new PowerLossFs(nodeStorageFs, () => rng.nextFloat());
}

async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

/**
 * cutDuring starts `write`, cuts the power after `afterTurns` turns (AFTER_THE_WRITE: once it
 * has resolved), and returns once the cut is done.
 */
async function cutDuring(
  fs: PowerLossFs,
  write: () => Promise<void>,
  afterTurns: number,
  tear: TearMode,
): Promise<void> {
  if (afterTurns === AFTER_THE_WRITE) {
    await write();
  } else {
    void write().catch(() => undefined); // a cut write never settles; one that fails is fine too
    await turns(afterTurns);
  }
  await fs.powerLoss(tear);
}

const AFTER_THE_WRITE = -1;
const cutPoints = [0, 1, 2, 3, 5, 8, 13, 30, AFTER_THE_WRITE];

describe('PowerLossFs', () => {
  it('drops bytes written since the last fsync and keeps the synced ones', async () => {
    const fs = layer();
    await fs.mkdir(join(dir, 'd'));
    await fs.fsyncDir(dir);
    const path = join(dir, 'd', 'f');
    const f = await fs.open(path, 'wx');
    await f.write(Buffer.from('durable;'), 0, 8, 0);
    await f.sync();
    await fs.fsyncDir(join(dir, 'd'));
    await f.write(Buffer.from('lost'), 0, 4, 8);
    await fs.powerLoss('drop');
    expect((await readFile(path)).toString()).toBe('durable;');
  });

  it('undoes creations, renames and removals whose directory was not synced', async () => {
    await writeFile(join(dir, 'old'), 'old content');
    await writeFile(join(dir, 'gone'), 'still here');
    const fs = layer();
    const f = await fs.open(join(dir, 'new'), 'wx');
    await f.write(Buffer.from('new content'), 0, 11, 0);
    await f.sync();
    await f.close();
    await fs.rename(join(dir, 'new'), join(dir, 'old'));
    await fs.unlink(join(dir, 'gone'));
    await fs.powerLoss('drop');
    expect((await readdir(dir)).sort()).toEqual(['gone', 'old']);
    expect((await readFile(join(dir, 'old'))).toString()).toBe('old content');
    expect((await readFile(join(dir, 'gone'))).toString()).toBe('still here');
  });

  it('starts over an undo dir a previous process left behind (it was killed, not cut)', async () => {
    // The teeth chaos test's nodes exited with EEXIST linking hard-state into the undo dir:
    // a process killed without a power cut leaves its backups, and the next one numbers its
    // own from 0 again.
    await writeFile(join(dir, 'hard-state'), 'v1');
    const killed = layer();
    await killed.rename(join(dir, 'hard-state'), join(dir, 'hard-state')); // a backup numbered 0
    const restarted = layer();
    await writeFile(join(dir, 'next'), 'v2');
    await restarted.rename(join(dir, 'next'), join(dir, 'hard-state'));
    await restarted.powerLoss('drop');
    expect((await readFile(join(dir, 'hard-state'))).toString()).toBe('v1');
  });

  it('tears an unsynced append as a disk could: the durable prefix always stays', async () => {
    for (const tear of TEAR_MODES) {
      for (let seed = 1; seed <= 5; seed++) {
        const path = join(dir, `${tear}-${seed}`);
        await writeFile(path, 'D'.repeat(700));
        const fs = layer(seed);
        const f = await fs.open(path, 'r+');
        await f.write(Buffer.alloc(1500, 'N'), 0, 1500, 700);
        await fs.powerLoss(tear);
        const after = await readFile(path);
        expect(after.subarray(0, 700).toString(), `${tear} seed ${seed}`).toBe('D'.repeat(700));
        expect(after.length).toBeLessThanOrEqual(2200);
      }
    }
  });
});

describe('every file kind goes through the durable-write helper: a power cut leaves old or new', () => {
  it('a generic durable write', async () => {
    for (const tear of TEAR_MODES) {
      for (const at of cutPoints) {
        const path = join(dir, 'file');
        await writeFile(path, 'old');
        const fs = layer(at + 2);
        await cutDuring(fs, () => writeBytesDurably(fs, path, Buffer.from('new'), true), at, tear);
        expect(['old', 'new'], `${tear} after ${at} turns`).toContain((await readFile(path)).toString());
        for (const name of await readdir(dir)) if (name !== 'file') await rm(join(dir, name), { recursive: true });
      }
    }
  });

  it('identity.json: written at first start, never empty after a cut (finding 9)', async () => {
    for (const tear of TEAR_MODES) {
      for (const at of cutPoints) {
        const dataDir = join(dir, `${tear}-${at}`, 'n1');
        await mkdir(join(dir, `${tear}-${at}`)); // the parent exists, as the operator's does
        const fs = layer(at + 2);
        // The log's first segment syncs the dir right after: that made the name durable, not the content.
        const start = async (): Promise<void> => {
          await claimDataDir(fs, dataDir, 'c', 'n1', true, 'new');
          await fs.fsyncDir(dataDir);
        };
        await cutDuring(fs, start, at, tear);
        let text: string | null = null;
        try {
          text = (await readFile(join(dataDir, identityFileName))).toString();
        } catch (e) {
          expect((e as NodeJS.ErrnoException).code).toBe('ENOENT');
        }
        if (text !== null) expect(JSON.parse(text), `${tear} after ${at} turns`).toEqual({ cluster: 'c', node: 'n1' });
        // Whatever survived, the node starts again on it.
        await claimDataDir(nodeStorageFs, dataDir, 'c', 'n1', true, 'new');
      }
    }
  });

  it('identity.json and the data dir are private to the user (0600, 0700)', async () => {
    const dataDir = join(dir, 'n1');
    await claimDataDir(nodeStorageFs, dataDir, 'c', 'n1', true, 'new');
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dataDir, identityFileName))).mode & 0o777).toBe(0o600);
  });
});

describe('the hard-state file and snapshots go through the durable-write helper too', () => {
  it('the hard-state file', async () => {
    const hs = (t: number, vote: string): HardState => ({ term: term(t), vote: vote as NodeId, commit: index(0) });
    for (const tear of TEAR_MODES) {
      for (const at of cutPoints) {
        await writeHardState(nodeStorageFs, dir, hs(1, 'n1'), true);
        const fs = layer(at + 2);
        await cutDuring(fs, () => writeHardState(fs, dir, hs(2, 'n2'), true), at, tear);
        const got = await readHardState(nodeStorageFs, dir);
        expect([1, 2], `${tear} after ${at} turns`).toContain(got?.term);
        expect(got?.vote).toBe(got?.term === 1 ? 'n1' : 'n2');
      }
    }
  });

  it('snapshot files: complete or absent', async () => {
    const meta: SnapshotMeta = {
      index: index(10),
      term: term(2),
      voters: ['n1' as NodeId],
      learners: [],
      contexts: {},
    };
    async function* chunks(): AsyncIterable<Uint8Array> {
      for (let i = 0; i < 20; i++) {
        await Promise.resolve();
        yield Buffer.alloc(300, i);
      }
    }
    for (const tear of TEAR_MODES) {
      for (const at of cutPoints) {
        const fs = layer(at + 2);
        await cutDuring(fs, () => new DiskSnapshotStore(dir, true, fs).save(meta, chunks()), at, tear);
        const store = new DiskSnapshotStore(dir, true);
        const listed = await store.list();
        if (listed.length === 1) {
          let bytes = 0;
          for await (const c of store.open(meta)) bytes += c.byteLength;
          expect(bytes).toBe(6000);
        } else {
          expect(listed, `${tear} after ${at} turns`).toEqual([]);
        }
        await rm(dir, { recursive: true, force: true });
        await nodeStorageFs.mkdir(dir);
      }
    }
  });
});

describe('DiskSnapshotStore (finding 1)', () => {
  it('two concurrent saves of one snapshot never share a temp file: the file that stays is whole', async () => {
    const meta: SnapshotMeta = { index: index(7), term: term(1), voters: ['n1' as NodeId], learners: [], contexts: {} };
    const release: Array<() => void> = [];
    async function* slow(fill: number, count: number): AsyncIterable<Uint8Array> {
      for (let i = 0; i < count; i++) {
        await new Promise<void>((r) => release.push(r));
        yield Buffer.alloc(1000, fill);
      }
    }
    const store = new DiskSnapshotStore(dir, true);
    const first = store.save(meta, slow(1, 6));
    const second = store.save(meta, slow(2, 3));
    // Let the two streams interleave: the second (shorter) ends while the first is still writing.
    let done = false;
    void Promise.allSettled([first, second]).then(() => {
      done = true;
    });
    while (!done) {
      release.shift()?.();
      await turns(3);
    }
    await Promise.all([first, second]);
    const chunks: number[] = [];
    for await (const c of store.open(meta)) chunks.push(c[0] ?? -1);
    expect([
      [1, 1, 1, 1, 1, 1],
      [2, 2, 2],
    ]).toContainEqual(chunks);
  });
});
