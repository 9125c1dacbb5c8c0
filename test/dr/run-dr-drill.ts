/**
 * run-dr-drill is `make dr-drill` (issue 15 item 6): on a local 3-node cluster with rooms under
 * load it takes a backup, kills every node and deletes every data dir, restores a new 3-node
 * cluster (new ports, new cluster name) from the backup, checks that every room acknowledged at
 * or before the backup's revision is there with the same sid and metadata (and none after it),
 * and prints the time from "all data lost" to "serving" (a leader answered a linearizable read).
 * Run from the build (node dist/test/dr/run-dr-drill.js); temp dirs, free ports, everything
 * stopped and removed at the end. DR_ROOMS (default 5000) rooms are loaded before the backup;
 * DR_TIMEOUT_S (default 900) bounds the whole drill.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  RoomLoad,
  compareAtRevision,
  listAll,
  restoredCluster,
  runCli,
  verifyJson,
} from '../harness/disaster-recovery.js';
import { ProcessCluster } from '../harness/process-cluster.js';

const roomsDefault = 5_000;
const timeoutSecondsDefault = 900;
/** loadWorkers: concurrent creates while the backup runs (writes go on during it). */
const loadWorkers = 8;
const preloadWorkers = 32;

function envCount(name: string, fallback: number): number {
  const v = process.env[name];
  const n = v === undefined || v === '' ? fallback : Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${v}`);
  return n;
}

function say(line: string): void {
  process.stdout.write(`[dr-drill] ${line}\n`);
}

async function drill(rooms: number, clusters: ProcessCluster[], backupDir: string): Promise<boolean> {
  const source = await ProcessCluster.create(3, [], { adminKey: true });
  clusters.push(source);
  source.startAll();
  const leader = await source.waitForLeader();
  const load = new RoomLoad(source.client(leader), 'drill');
  let t = Date.now();
  await load.createCount(rooms, preloadWorkers);
  say(`loaded ${load.acked.size} rooms in ${Date.now() - t} ms; writes go on while the backup runs`);
  load.start(loadWorkers);

  const backup = join(backupDir, 'drill.rrb');
  t = Date.now();
  const run = await runCli(['backup', '--out', backup, '--config', source.configFile], 600_000);
  if (run.code !== 0) throw new Error(`backup failed: ${run.stderr}`);
  const check = await verifyJson(backup);
  const revision = check.header.index;
  say(
    `backup at revision ${revision}: ${check.rooms} rooms, ${statSync(backup).size} bytes, ${Date.now() - t} ms (verified)`,
  );

  for (const n of source.nodes) await source.kill(n.id);
  for (const n of source.nodes) rmSync(n.dataDir, { recursive: true, force: true });
  const lostAtMs = Date.now();
  say('every node killed and every data dir deleted: all data lost');
  await load.stop();

  const restored = await restoredCluster(backup, 3, 'drill-restored');
  clusters.push(restored);
  const restoredAtMs = Date.now();
  restored.startAll();
  const newLeader = await restored.waitForLeader(120_000);
  await restored.client(newLeader).listRooms({ names: ['drill-0'] }, 60_000);
  const servingAtMs = Date.now();
  say(
    `serving: leader ${newLeader} answered a linearizable read ${servingAtMs - lostAtMs} ms after all data was lost ` +
      `(restore of 3 data dirs ${restoredAtMs - lostAtMs} ms, start to serving ${servingAtMs - restoredAtMs} ms)`,
  );

  const problems = compareAtRevision(load.acked, await listAll(restored.client(newLeader)), revision);
  const expected = [...load.acked.values()].filter((a) => a.revision <= revision).length;
  say(`acknowledged ${load.acked.size} rooms (${load.failures} calls failed), ${expected} at or before the backup`);
  if (problems.length === 0) {
    say(`PASS: all ${expected} rooms acknowledged before the backup's revision are restored, sid and metadata equal`);
    say(`time from all data lost to serving: ${((servingAtMs - lostAtMs) / 1000).toFixed(1)} s for ${expected} rooms`);
    return true;
  }
  say(`FAIL: ${problems.length} differences; the first: ${problems.slice(0, 10).join('; ')}`);
  return false;
}

async function main(): Promise<number> {
  const rooms = envCount('DR_ROOMS', roomsDefault);
  const timeoutS = envCount('DR_TIMEOUT_S', timeoutSecondsDefault);
  const clusters: ProcessCluster[] = [];
  const backupDir = mkdtempSync(join(tmpdir(), 'rr-dr-drill-'));
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => {
      say(`FAIL: the drill did not finish within ${timeoutS} s`);
      resolve(false);
    }, timeoutS * 1000);
  });
  try {
    return (await Promise.race([drill(rooms, clusters, backupDir), timedOut])) ? 0 : 1;
  } finally {
    clearTimeout(timer);
    for (const c of clusters) await c.stop();
    rmSync(backupDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`[dr-drill] FAIL: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
