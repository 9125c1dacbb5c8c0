/**
 * EtcdCluster: a 3-member etcd cluster on 127.0.0.1 with temp data dirs, for the side-by-side
 * comparison. etcd runs with its defaults (fsync of the WAL on every commit, as ours with
 * --fsync always). Nothing is installed here: a missing binary is reported with the command
 * that installs it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { freePort } from '../test/harness/process-cluster.js';
import { sleep } from './driver.js';

export const ETCD_INSTALL_HINT =
  'etcd is not installed; on Debian/Ubuntu (as root): apt-get update && apt-get install -y etcd-server etcd-client';

/** etcdBinary returns the path of `etcd`, or null when it is not on PATH. */
export function etcdBinary(): string | null {
  try {
    return execFileSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

export function etcdVersion(binary: string): string {
  return execFileSync(binary, ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? '';
}

interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  process: ChildProcess | null;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export class EtcdCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'rr-bench-etcd-'));
  readonly members: EtcdMember[] = [];

  private constructor(readonly binary: string) {}

  static async start(binary: string, size = 3, readyTimeoutMs = 30_000): Promise<EtcdCluster> {
    const c = new EtcdCluster(binary);
    for (let i = 0; i < size; i++) {
      const name = `e${i + 1}`;
      c.members.push({
        name,
        clientUrl: `http://127.0.0.1:${await freePort()}`,
        peerUrl: `http://127.0.0.1:${await freePort()}`,
        dataDir: join(c.dir, name),
        process: null,
      });
    }
    const initial = c.members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
    for (const m of c.members) {
      const log = createWriteStream(join(c.dir, `${m.name}.log`));
      const child = spawn(
        binary,
        [
          '--name',
          m.name,
          '--data-dir',
          m.dataDir,
          '--listen-client-urls',
          m.clientUrl,
          '--advertise-client-urls',
          m.clientUrl,
          '--listen-peer-urls',
          m.peerUrl,
          '--initial-advertise-peer-urls',
          m.peerUrl,
          '--initial-cluster',
          initial,
          '--initial-cluster-state',
          'new',
          '--initial-cluster-token',
          `bench-${process.pid}`,
          '--logger',
          'zap',
          '--log-level',
          'warn',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child.stdout?.pipe(log);
      child.stderr?.pipe(log);
      live.add(child);
      child.on('exit', () => live.delete(child));
      m.process = child;
    }
    try {
      await c.waitReady(readyTimeoutMs);
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  hosts(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  /** client: one etcd3 client over all members (it balances calls over its hosts). */
  client(): Etcd3 {
    return new Etcd3({ hosts: this.hosts() });
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const endMs = Date.now() + timeoutMs;
    const client = this.client();
    try {
      for (;;) {
        try {
          await client.put('bench/ready').value('1');
          await client.get('bench/ready').string();
          return;
        } catch (e) {
          if (Date.now() > endMs)
            throw new Error(`etcd cluster not ready after ${timeoutMs} ms: ${String(e)}`, { cause: e });
          await sleep(200);
        }
      }
    } finally {
      client.close();
    }
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.members.map(async (m) => {
        const p = m.process;
        if (p === null || p.exitCode !== null) return;
        const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
        p.kill('SIGKILL');
        await exited;
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}
