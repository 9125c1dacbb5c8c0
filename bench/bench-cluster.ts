/**
 * BenchCluster: the benchmark's launcher of real `room-registry serve` processes. It is the
 * integration harness (test/harness/process-cluster.ts: free ports, one temp dir, every child
 * killed on exit) plus what a benchmark needs and tests do not: node flags per process (for
 * `--cpu-prof`), the pid for /proc/<pid>/status, and /metrics scraping. It leaves the
 * harness's API alone because the integration tests depend on it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  agreedLeader,
  cliPath,
  freePort,
  type NodeStatusJson,
  parseMetrics,
  repoRoot,
} from '../test/harness/process-cluster.js';

/**
 * runDist: a private copy of dist/ for this run, made once per process. Others rebuild dist/
 * while benchmarks run; a node restarted mid-scenario must run the code that wrote its data
 * (a rebuild once changed the snapshot format under a running 1 M-room scenario). The copy
 * sits inside the repository so its imports still find node_modules/.
 */
const runDistDir = join(repoRoot, 'bench', '.run', String(process.pid));
let runCli: string | null = null;
function runCliPath(): string {
  if (runCli === null) {
    cpSync(join(repoRoot, 'dist'), runDistDir, { recursive: true });
    process.on('exit', () => rmSync(runDistDir, { recursive: true, force: true }));
    runCli = join(runDistDir, 'src', 'main.js');
  }
  return runCli;
}

export interface BenchNode {
  readonly id: string;
  readonly grpc: string;
  readonly http: string;
  readonly peer: string;
  readonly dataDir: string;
  readonly logFile: string;
  process: ChildProcess | null;
}

export interface BenchClusterOptions {
  readonly size: number;
  /** serveArgs: extra `serve` flags, e.g. ['--snapshot-interval-entries', '1050000']. */
  readonly serveArgs: readonly string[];
  /** nodeArgs: flags for node itself, before the script, e.g. ['--cpu-prof']. */
  readonly nodeArgs: readonly string[];
}

/** statusTimeoutMs: one /status or /metrics request; a node busy for longer counts as not answering. */
const statusTimeoutMs = 2_000;
/** pollIntervalMs: how often waits re-check a condition. */
const pollIntervalMs = 50;

const live = new Set<ChildProcess>();
/** killAllLive: the last line of defence, so no server outlives the benchmark (also on a crash). */
export function killAllLive(): void {
  for (const p of live) p.kill('SIGKILL');
}
process.on('exit', killAllLive);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAllLive();
    process.exit(130);
  });
}

export class BenchCluster {
  readonly dir: string;
  readonly configFile: string;
  readonly apiKey = 'benchkey';
  readonly apiSecret = 'benchsecret-benchsecret-benchsecret';
  readonly nodes: BenchNode[] = [];

  private constructor(readonly opts: BenchClusterOptions) {
    if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run \`make build\` first`);
    this.dir = mkdtempSync(join(tmpdir(), 'rr-bench-'));
    this.configFile = join(this.dir, 'cluster.json');
  }

  /** start makes the config, starts every node and waits for a leader. */
  static async start(opts: BenchClusterOptions, leaderTimeoutMs = 30_000): Promise<BenchCluster> {
    const c = new BenchCluster(opts);
    const regions = ['us-west', 'us-east', 'eu-central', 'ap-south', 'sa-east'];
    for (let i = 0; i < opts.size; i++) {
      const id = `n${i + 1}`;
      c.nodes.push({
        id,
        grpc: `127.0.0.1:${await freePort()}`,
        peer: `127.0.0.1:${await freePort()}`,
        http: `127.0.0.1:${await freePort()}`,
        dataDir: join(c.dir, id),
        logFile: join(c.dir, `${id}.log`),
        process: null,
      });
    }
    const config = {
      cluster: 'bench',
      secret: 'bench-cluster-secret-0123456789-abcdef',
      apiKeys: { [c.apiKey]: c.apiSecret },
      nodes: c.nodes.map((n, i) => ({
        id: n.id,
        region: regions[i % regions.length] ?? 'r',
        grpc: n.grpc,
        peer: n.peer,
        http: n.http,
      })),
    };
    writeFileSync(c.configFile, JSON.stringify(config, null, 2));
    try {
      for (const n of c.nodes) c.spawn(n.id);
      await c.waitForLeader(leaderTimeoutMs);
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  node(id: string): BenchNode {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  grpcTargets(): string[] {
    return this.nodes.map((n) => n.grpc);
  }

  spawn(id: string): void {
    const n = this.node(id);
    if (n.process !== null) throw new Error(`${id} is already running`);
    const log = createWriteStream(n.logFile, { flags: 'a' });
    const args = [
      ...this.opts.nodeArgs,
      runCliPath(),
      'serve',
      '--config',
      this.configFile,
      '--id',
      id,
      '--data-dir',
      n.dataDir,
      '--fsync',
      'always',
      '--initial-cluster-state',
      'new',
      ...this.opts.serveArgs,
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: this.dir });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    live.add(child);
    child.on('exit', () => {
      live.delete(child);
      if (n.process === child) n.process = null;
    });
    n.process = child;
  }

  /** kill sends `signal` (SIGKILL: kill -9) and waits until the process has exited. */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.node(id).process;
    if (p === null) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill(signal);
    await exited;
  }

  /** rssBytes reads VmRSS from /proc/<pid>/status (what the kernel counts as resident). */
  rssBytes(id: string): number {
    const pid = this.node(id).process?.pid;
    if (pid === undefined) return 0;
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? 0 : Number(m[1]) * 1024;
  }

  async status(id: string): Promise<NodeStatusJson | null> {
    try {
      const res = await fetch(`http://${this.node(id).http}/status`, { signal: AbortSignal.timeout(statusTimeoutMs) });
      return (await res.json()) as NodeStatusJson;
    } catch {
      return null;
    }
  }

  /** metrics scrapes /metrics into name{labels} → value (histograms as their _sum/_count lines). */
  async metrics(id: string): Promise<Map<string, number>> {
    try {
      const res = await fetch(`http://${this.node(id).http}/metrics`, { signal: AbortSignal.timeout(statusTimeoutMs) });
      return parseMetrics(await res.text());
    } catch {
      // a node that does not answer has no metrics this time; callers treat missing as absent
      return new Map();
    }
  }

  /** waitForLeader polls /status until the running nodes agree on one leader; returns its id. */
  async waitForLeader(timeoutMs = 30_000): Promise<string> {
    const endMs = Date.now() + timeoutMs;
    for (;;) {
      const running = this.nodes.filter((n) => n.process !== null);
      const statuses = await Promise.all(running.map((n) => this.status(n.id)));
      const leader = agreedLeader(statuses);
      if (leader !== null) return leader;
      if (Date.now() > endMs) throw new Error(`no leader after ${timeoutMs} ms: ${JSON.stringify(statuses)}`);
      await sleep(pollIntervalMs * 2);
    }
  }

  /** waitForApplied waits until node `id` has applied at least `index` (a follower catching up). */
  async waitForApplied(id: string, index: number, timeoutMs: number): Promise<void> {
    const endMs = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.status(id);
      if (s !== null && s.appliedIndex >= index) return;
      if (Date.now() > endMs)
        throw new Error(`${id} did not apply ${index} within ${timeoutMs} ms (at ${s?.appliedIndex ?? 'no answer'})`);
      await sleep(pollIntervalMs);
    }
  }

  /** stop kills every node (SIGTERM first when `graceful`, for --cpu-prof to write its file) and removes the dir unless `keep`. */
  async stop(opts: { graceful?: boolean; keep?: boolean; gracefulTimeoutMs?: number } = {}): Promise<void> {
    if (opts.graceful === true) {
      const graceful = Promise.all(this.nodes.map((n) => this.kill(n.id, 'SIGTERM')));
      await Promise.race([graceful, sleep(opts.gracefulTimeoutMs ?? 15_000)]);
    }
    await Promise.all(this.nodes.map((n) => this.kill(n.id, 'SIGKILL')));
    if (opts.keep !== true) rmSync(this.dir, { recursive: true, force: true });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
