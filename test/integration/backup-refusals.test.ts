/**
 * Goal: `room-registry restore` never seeds a data dir from a damaged or cut backup (it names
 * the offset of the damage and leaves no data dir), never writes into a data dir that holds
 * anything, and never restores under the backup's own cluster name; `backup verify` refuses
 * the same files (issue 15 item 3). Method: a backup of a 1-node cluster, damaged copies of it,
 * the built CLI.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { index, nodeId, term } from '../../src/lib/ids.js';
import { backupHeaderOf, encodeBackup, writeBackupFile } from '../../src/storage/backup-file.js';
import { renameCluster, runCli, verifyJson } from '../harness/disaster-recovery.js';
import { ProcessCluster } from '../harness/process-cluster.js';

let source: ProcessCluster;
let target: ProcessCluster;
let good: string;

beforeAll(async () => {
  source = await ProcessCluster.create(1, [], { adminKey: true });
  source.startAll();
  const leader = await source.waitForLeader();
  for (let i = 0; i < 50; i++) await source.client(leader).createRoom({ name: `r${i}`, metadata: 'x'.repeat(2000) });
  good = join(source.dir, 'good.rrb');
  const run = await runCli(['backup', '--out', good, '--config', source.configFile]);
  expect(run.code, run.stderr).toBe(0);
  target = await ProcessCluster.create(1);
  renameCluster(target, 'test-restored');
}, 60_000);

afterAll(async () => {
  await source?.stop();
  await target?.stop();
});

function restore(file: string, dataDir: string, config = target.configFile): ReturnType<typeof runCli> {
  return runCli(['restore', '--from', file, '--config', config, '--id', 'n1', '--data-dir', dataDir]);
}

describe('restore refuses', () => {
  it('a backup with a flipped byte, naming the offset of the damaged record', async () => {
    const bytes = readFileSync(good);
    expect((await verifyJson(good)).rooms).toBe(50);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] ?? 0) ^ 0xff;
    const bad = join(target.dir, 'flipped.rrb');
    writeFileSync(bad, bytes);
    const dataDir = join(target.dir, 'flipped-dir');
    const run = await restore(bad, dataDir);
    expect(run.code).toBe(1);
    const offset = Number(/offset (\d+)/.exec(run.stderr)?.[1]);
    expect(offset).toBeLessThanOrEqual(at);
    expect(offset).toBeGreaterThan(at - 300 * 1024); // the record holding the byte: one slice at most
    expect(run.stderr).toMatch(/damaged/);
    expect(existsSync(dataDir)).toBe(false);
    const verify = await runCli(['backup', 'verify', bad]);
    expect(verify.code).toBe(1);
    expect(verify.stderr).toContain(`offset ${offset}`);
  });

  it('a truncated backup', async () => {
    const bytes = readFileSync(good);
    const bad = join(target.dir, 'cut.rrb');
    writeFileSync(bad, bytes.subarray(0, bytes.length - 10));
    const dataDir = join(target.dir, 'cut-dir');
    const run = await restore(bad, dataDir);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/offset \d+: .*truncated/);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('a backup whose checksums hold but whose state does not decode', async () => {
    const meta = { index: index(5), term: term(1), voters: [nodeId('n1')], learners: [], contexts: {} };
    const bad = join(target.dir, 'garbage.rrb');
    await writeBackupFile(bad, encodeBackup(backupHeaderOf('other', meta, Date.now()), garbage()), false);
    const run = await restore(bad, join(target.dir, 'garbage-dir'));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/offset \d+: the state does not decode/);
    expect(existsSync(join(target.dir, 'garbage-dir'))).toBe(false);
  });

  it('a data dir that is not empty, and leaves it as it was', async () => {
    const dataDir = join(target.dir, 'used-dir');
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'hard-state'), 'old');
    const run = await restore(good, dataDir);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/not empty/);
    expect(readFileSync(join(dataDir, 'hard-state'), 'utf8')).toBe('old');
  });

  it('a config with the backup’s own cluster name', async () => {
    const dataDir = join(target.dir, 'same-name-dir');
    const run = await restore(good, dataDir, source.configFile);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/new name/);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('and with all that right, seeds a dir that serves the rooms', async () => {
    const n = target.node('n1');
    mkdirSync(n.dataDir); // an empty dir is fine: the seeded one is renamed over it
    const run = await restore(good, n.dataDir);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/50 rooms/);
    expect(readdirSync(target.dir).filter((name) => name.includes('restoring'))).toEqual([]);
    target.start('n1');
    const leader = await target.waitForLeader();
    const room = await target.client(leader).getRoom({ name: 'r7' });
    expect(room.room?.metadata).toBe('x'.repeat(2000));
  });
});

async function* garbage(): AsyncIterable<Uint8Array> {
  await Promise.resolve();
  yield Buffer.from('these bytes are not a snapshot stream');
}
