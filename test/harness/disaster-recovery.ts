/**
 * Helpers shared by the backup tests (test/integration/backup*.test.ts) and the drill
 * (test/dr/run-dr-drill.ts, `make dr-drill`): run the CLI, write rooms under load and remember
 * what was acknowledged, seed a new cluster from a backup, compare its rooms with the writes.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import type { RoomClient } from '../../src/client/room-client.js';
import type { Room } from '../../src/gen/roomregistry/v1/rooms.js';
import { ProcessCluster, cliPath } from './process-cluster.js';

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * runCli runs the built CLI without blocking the caller's event loop (load may be running in
 * it); `onStderr` hears its stderr as it comes.
 */
export function runCli(args: readonly string[], timeoutMs = 120_000, onStderr?: (s: string) => void): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
      onStderr?.(s);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** renameCluster gives a cluster's config another cluster name (a restored cluster needs a new identity). */
export function renameCluster(cluster: ProcessCluster, name: string): void {
  const config = JSON.parse(readFileSync(cluster.configFile, 'utf8')) as Record<string, unknown>;
  config['cluster'] = name;
  writeFileSync(cluster.configFile, JSON.stringify(config, null, 2));
}

/** AckedRoom is what a CreateRoom's reply said: the room's sid, its metadata and the revision it was written at. */
export interface AckedRoom {
  readonly sid: string;
  readonly metadata: string;
  readonly revision: number;
}

/**
 * RoomLoad creates rooms (unique names, metadata naming them) on one client from `workers`
 * loops until stopped, and keeps every acknowledged reply. Failed calls are counted, not retried.
 */
export class RoomLoad {
  readonly acked = new Map<string, AckedRoom>();
  failures = 0;
  private stopped = false;
  private readonly loops: Array<Promise<void>> = [];
  private next = 0;

  constructor(
    private readonly client: RoomClient,
    private readonly prefix: string,
  ) {}

  start(workers: number): void {
    for (let w = 0; w < workers; w++) this.loops.push(this.loop());
  }

  /** createCount creates exactly `count` rooms with `workers` loops, then returns. */
  async createCount(count: number, workers: number): Promise<void> {
    const target = this.next + count;
    await Promise.all(Array.from({ length: workers }, () => this.loop(target)));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }

  private async loop(until = Infinity): Promise<void> {
    while (!this.stopped && this.next < until) {
      const name = `${this.prefix}-${this.next++}`;
      const metadata = `meta of ${name}`;
      try {
        const r = await this.client.createRoom({ name, metadata, emptyTimeout: 3600 }, 10_000);
        if (r.room === undefined) throw new Error('no room in the reply');
        this.acked.set(name, { sid: r.room.sid, metadata: r.room.metadata, revision: r.room.revision });
      } catch {
        this.failures++;
      }
    }
  }
}

/** listAll lists every room of a node (linearizable, page by page). */
export async function listAll(client: RoomClient): Promise<Map<string, Room>> {
  const rooms = new Map<string, Room>();
  let pageToken = '';
  do {
    const r = await client.listRooms({ pageSize: 1000, pageToken }, 30_000);
    for (const room of r.rooms) rooms.set(room.name, room);
    pageToken = r.nextPageToken;
  } while (pageToken !== '');
  return rooms;
}

/**
 * compareAtRevision lists what differs between the writes acknowledged and a restore of a
 * backup at `revision`: every room acknowledged at or before it must be there with the same
 * sid and metadata, and no room written after it may be (the state is exactly that revision's).
 */
export function compareAtRevision(
  acked: ReadonlyMap<string, AckedRoom>,
  restored: ReadonlyMap<string, Room>,
  revision: number,
): string[] {
  const problems: string[] = [];
  for (const [name, a] of acked) {
    const r = restored.get(name);
    if (a.revision <= revision) {
      if (r === undefined) problems.push(`${name} (revision ${a.revision}) is missing`);
      else if (r.sid !== a.sid || r.metadata !== a.metadata)
        problems.push(`${name}: sid/metadata ${r.sid}/${r.metadata}, acknowledged ${a.sid}/${a.metadata}`);
    } else if (r !== undefined) problems.push(`${name} was written at ${a.revision}, after the backup, yet restored`);
  }
  for (const name of restored.keys())
    if (!acked.has(name)) problems.push(`${name} was restored but never acknowledged`);
  return problems;
}

/** BackupHeaderJson is `backup verify --json`'s output. */
export interface BackupCheckJson {
  header: { cluster: string; index: number; term: number; members: { voters: string[] }; createdAt: string };
  rooms: number;
  summary: { fileBytes: number };
}

/** verifyJson runs `backup verify FILE --json`; it throws when the CLI refuses the file. */
export async function verifyJson(file: string): Promise<BackupCheckJson> {
  const run = await runCli(['backup', 'verify', file, '--json']);
  if (run.code !== 0) throw new Error(`backup verify ${file} failed (${run.code}): ${run.stderr}`);
  return JSON.parse(run.stdout) as BackupCheckJson;
}

/**
 * restoredCluster makes a new cluster (new ports, new dirs, a new cluster name) and seeds every
 * member's data dir from `backupFile` with `room-registry restore`; the nodes are not started.
 */
export async function restoredCluster(backupFile: string, size: number, name: string): Promise<ProcessCluster> {
  const c = await ProcessCluster.create(size);
  renameCluster(c, name);
  for (const n of c.nodes) {
    const run = await runCli([
      'restore',
      '--from',
      backupFile,
      '--config',
      c.configFile,
      '--id',
      n.id,
      '--data-dir',
      n.dataDir,
    ]);
    if (run.code !== 0) {
      await c.stop();
      throw new Error(`restore of ${n.id} failed (${run.code}): ${run.stderr}`);
    }
  }
  return c;
}
