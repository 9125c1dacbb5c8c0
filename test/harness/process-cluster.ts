/**
 * ProcessCluster starts real `room-registry serve` processes from the built CLI (dist/), each
 * with its own free ports and a data dir under one temp dir, and stops every one of them —
 * also when a test fails (call stop() in afterAll/afterEach; a process 'exit' hook kills
 * leftovers if the runner itself dies).
 *
 * It is the one process launcher of the repository: the integration and chaos tests and the
 * benchmark (bench/) all start clusters through it, the benchmark with LaunchOptions for what
 * only it needs (node flags such as --cpu-prof, a private copy of dist/, longer waits). So that
 * bench/ can import it without importing the tests, test/harness/ imports nothing else of test/
 * (and test/ nothing of bench/): the import-x/no-restricted-paths zones in eslint.config.js.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  cpSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { type Server, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { RoomClient } from '../../src/client/room-client.js';

/** repoRoot: this file runs from test/harness (vitest) or, compiled, from dist/test/harness (`make chaos`). */
export const repoRoot = ((up2: string): string => (basename(up2) === 'dist' ? dirname(up2) : up2))(
  join(import.meta.dirname, '..', '..'),
);
export const cliPath = join(repoRoot, 'dist', 'src', 'main.js');

export interface ProcessNode {
  readonly id: string;
  /** spare: not a founder; its first start is `serve --join` and it waits to be added (members add). */
  readonly spare: boolean;
  readonly region: string;
  readonly grpc: string;
  readonly peer: string;
  readonly http: string;
  readonly dataDir: string;
  readonly logFile: string;
  process: ChildProcess | null;
}

export interface NodeStatusJson {
  id: string;
  role: string;
  term: number;
  leader: string | null;
  commitIndex: number;
  appliedIndex: number;
  rooms: number;
  /** memberRole: voter, learner, or none (a node waiting to be added, or removed). */
  memberRole?: string;
}

/** FaultRuleJson is one peer's rule in the body of PUT /debug/faults (src/transport/fault-hook.ts). */
export interface FaultRuleJson {
  dropOutbound: boolean;
  dropInbound: boolean;
  delayOutboundMs: number;
}

/** DiskFaultJson is the body's "disk" rule: each log write of the node first waits stallMs; powerLoss cuts its power. */
export interface DiskFaultJson {
  stallMs?: number;
  powerLoss?: boolean;
}

/** LaunchOptions: what a caller may change about how nodes start and how long waits last. */
export interface LaunchOptions {
  /** nodeArgs: flags for node itself, before the script (e.g. --cpu-prof); the benchmark's BENCH_NODE_ARGS. */
  readonly nodeArgs?: readonly string[];
  /**
   * distCopyDir: run the CLI from a copy of dist/ made there once per process, not from dist/ itself. Others may
   * rebuild dist/ during a long benchmark, and a node restarted mid-run must run the code that wrote its data.
   * The copy must sit inside the repository so that its imports still find node_modules/.
   */
  readonly distCopyDir?: string;
  /**
   * distSource: the dist/ that distCopyDir copies (default: this repository's). An A/B benchmark runs
   * the servers of another build under this build's load generator (bench: BENCH_SERVER_DIST).
   */
  readonly distSource?: string;
  /** statusTimeoutMs: one /status request; a node busy for longer counts as not answering. */
  readonly statusTimeoutMs?: number;
  /** leaderWaitMs: waitForLeader's default timeout. */
  readonly leaderWaitMs?: number;
  /** spares: spare nodes written after the founding ones (`"spare": true`), started with --join. */
  readonly spares?: number;
  /** adminKey: the cluster's API key is also an admin key (membership and backup calls). */
  readonly adminKey?: boolean;
}

const LAUNCH_DEFAULTS: Required<Omit<LaunchOptions, 'distCopyDir' | 'distSource'>> = {
  spares: 0,
  adminKey: false,
  nodeArgs: [],
  statusTimeoutMs: 1_000,
  leaderWaitMs: 20_000,
};

const live = new Set<ChildProcess>();
/** killAllLive kills every server this process started: the last line of defence, also on a crash. */
export function killAllLive(): void {
  for (const p of live) p.kill('SIGKILL');
}
process.on('exit', killAllLive);

const distCopies = new Map<string, string>();
/** cliIn returns the CLI inside a copy of `source` at `dir`, copied on first use and removed when the process exits. */
function cliIn(dir: string, source = join(repoRoot, 'dist')): string {
  let cli = distCopies.get(dir);
  if (cli === undefined) {
    cpSync(source, dir, { recursive: true });
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    cli = join(dir, 'src', 'main.js');
    distCopies.set(dir, cli);
  }
  return cli;
}

/** sleepMs waits; only for polling loops here, which re-check a condition after each wait. */
function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * agreedLeader is the leader every answering member names, when exactly one claims the role
 * (null otherwise); a node that is not a member (waiting to be added) has no say.
 */
export function agreedLeader(all: readonly (NodeStatusJson | null)[]): string | null {
  const statuses = all.filter((s) => s?.memberRole !== 'none');
  const leaders = statuses.filter((s): s is NodeStatusJson => s?.role === 'leader');
  const leader = leaders[0];
  if (leaders.length !== 1 || leader === undefined) return null;
  return statuses.every((s) => s !== null && s.leader === leader.id) ? leader.id : null;
}

/** parseMetrics reads a Prometheus text page into series (`name{labels}`) → value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.length === 0) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** waitUntil polls `check` (a throw counts as false) until it returns true, or fails naming `what`. */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const endMs = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > endMs) throw new Error(`timed out waiting until ${what}`);
    await sleepMs(100);
  }
}

/**
 * logTail is the last lines of a node's log ('' when it wrote none), after the CLI's own error
 * line ("room-registry: ...") when there is one: a usage error is followed by the whole usage.
 */
function logTail(file: string, lines = 15): string {
  if (!existsSync(file)) return '';
  const all = readFileSync(file, 'utf8').split('\n');
  const error = all.find((line) => line.startsWith('room-registry: '));
  const tail = all.slice(-lines);
  return [...(error === undefined || tail.includes(error) ? [] : [error, '...']), ...tail].join('\n');
}

/**
 * handedOut: every port freePort gave this process. The kernel may give a port just closed to
 * the next listen(0) (a 3-node config drew one port twice in about 1% of tries: the node then
 * refused its config), so a port is never given twice.
 */
const handedOut = new Set<number>();

/**
 * PORT_CLAIMS_DIR: one file per port a live process was given, holding its pid. Test files run
 * in parallel processes, and the kernel's reuse of a just-closed port crosses them too: a port
 * another live process was given is not given again until that process has ended.
 */
const PORT_CLAIMS_DIR = join(tmpdir(), 'room-registry-port-claims');

/**
 * freePort is an unused port on 127.0.0.1 that no live process has been given by this function
 * before. A port refused stays bound until one is found, or the kernel could offer it again and again.
 */
export async function freePort(): Promise<number> {
  const refused: Server[] = [];
  try {
    for (;;) {
      const srv = await listening();
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      if (!handedOut.has(port) && claim(port)) {
        handedOut.add(port);
        await closed(srv);
        return port;
      }
      refused.push(srv);
    }
  } finally {
    await Promise.all(refused.map(closed));
  }
}

/** claim records `port` as this process's; false when a live process already holds it. */
function claim(port: number): boolean {
  mkdirSync(PORT_CLAIMS_DIR, { recursive: true });
  const file = join(PORT_CLAIMS_DIR, String(port));
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
    return true;
  } catch {
    // Claimed before: by a process that has ended, it is free again (unreadable: being claimed now).
    const owner = ownerOf(file);
    if (owner === null || isAlive(owner)) return false;
    writeFileSync(file, String(process.pid));
    return true;
  }
}

/** ownerOf is the pid in a claim file (null: unreadable or empty, as while it is being written). */
function ownerOf(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8'));
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

/** listening is a server on a port the kernel chose on 127.0.0.1. */
function listening(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

function closed(srv: Server): Promise<void> {
  return new Promise((resolve) => srv.close(() => resolve()));
}

export class ProcessCluster {
  readonly dir: string;
  readonly configFile: string;
  readonly apiKey = 'testkey';
  readonly apiSecret = 'testsecret-testsecret-testsecret';
  readonly secret = 'cluster-secret-for-tests-0123456789';
  nodes: ProcessNode[] = [];
  /** unexpectedExits: processes that ended without kill() or stop() (a crash, a failed assertion). */
  readonly unexpectedExits: Array<{ id: string; code: number | null; signal: NodeJS.Signals | null }> = [];
  private readonly killed = new WeakSet<ChildProcess>();
  /** started: nodes started once; only a node's first start may initialize its empty data dir. */
  private readonly started = new Set<string>();
  private readonly clients = new Map<string, RoomClient>();
  private readonly options: Required<Omit<LaunchOptions, 'distCopyDir' | 'distSource'>>;
  private readonly cli: string;

  private constructor(
    readonly size: number,
    readonly extraArgs: readonly string[],
    options: LaunchOptions,
  ) {
    if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run \`make build\` first`);
    this.options = { ...LAUNCH_DEFAULTS, ...options };
    this.cli = options.distCopyDir === undefined ? cliPath : cliIn(options.distCopyDir, options.distSource);
    this.dir = mkdtempSync(join(tmpdir(), 'rr-cluster-'));
    this.configFile = join(this.dir, 'cluster.json');
  }

  /**
   * create writes the config of `size` founding nodes, plus `options.spares` spare nodes after
   * them (`"spare": true`; with `options.adminKey` the cluster's API key is also an admin key),
   * free ports, one temp dir; start() or startAll() runs them.
   */
  static async create(
    size: number,
    extraArgs: readonly string[] = [],
    options: LaunchOptions = {},
  ): Promise<ProcessCluster> {
    const c = new ProcessCluster(size, extraArgs, options);
    const regions = ['us-west', 'us-east', 'eu-central', 'ap-south', 'sa-east'];
    for (let i = 0; i < size + (options.spares ?? 0); i++) {
      const id = `n${i + 1}`;
      const [grpc, peer, http] = [await freePort(), await freePort(), await freePort()];
      c.nodes.push({
        id,
        spare: i >= size,
        region: regions[i % regions.length] ?? 'r',
        grpc: `127.0.0.1:${grpc}`,
        peer: `127.0.0.1:${peer}`,
        http: `127.0.0.1:${http}`,
        dataDir: join(c.dir, id),
        logFile: join(c.dir, `${id}.log`),
        process: null,
      });
    }
    const config = {
      cluster: 'test',
      secret: c.secret,
      apiKeys: { [c.apiKey]: c.apiSecret },
      ...(options.adminKey === true ? { adminKeys: [c.apiKey] } : {}),
      nodes: c.nodes.map((n) => ({
        id: n.id,
        region: n.region,
        grpc: n.grpc,
        peer: n.peer,
        http: n.http,
        ...(n.spare ? { spare: true } : {}),
      })),
    };
    writeFileSync(c.configFile, JSON.stringify(config, null, 2));
    return c;
  }

  /** launch is create, startAll and waitForLeader in one, stopping every node again when no leader comes. */
  static async launch(
    size: number,
    extraArgs: readonly string[] = [],
    options: LaunchOptions = {},
  ): Promise<ProcessCluster> {
    const c = await ProcessCluster.create(size, extraArgs, options);
    try {
      c.startAll();
      await c.waitForLeader();
    } catch (e) {
      // The nodes' own words say why (a port taken meanwhile, a refused start); stop removes their logs.
      const tails = c.nodes.map((n) => `--- ${n.id}:\n${logTail(n.logFile)}`).join('\n');
      await c.stop();
      throw new Error(`${String(e)}\nexits: ${JSON.stringify(c.unexpectedExits)}\n${tails}`, { cause: e });
    }
    return c;
  }

  node(id: string): ProcessNode {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /**
   * start runs node `id`: its first start founds the cluster (or joins, for a spare); with
   * `fresh`, its data dir is wiped first and it joins as a new member (after its removal).
   * `startArgs` are serve flags for this start only (e.g. --force-new-cluster).
   */
  start(id: string, fresh = false, startArgs: readonly string[] = []): void {
    const n = this.node(id);
    if (n.process !== null) throw new Error(`${id} is already running`);
    if (fresh) rmSync(n.dataDir, { recursive: true, force: true });
    const log = createWriteStream(n.logFile, { flags: 'a' });
    const init = fresh
      ? ['--join']
      : this.started.has(id)
        ? []
        : n.spare
          ? ['--join']
          : ['--initial-cluster-state', 'new'];
    this.started.add(id);
    const args = [
      ...this.options.nodeArgs,
      this.cli,
      'serve',
      '--config',
      this.configFile,
      '--id',
      id,
      '--data-dir',
      n.dataDir,
      ...init,
      ...this.extraArgs,
      ...startArgs,
    ];
    // The cluster's dir is the working dir, so what node writes by relative path (a --cpu-prof file) stays there.
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: this.dir });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    live.add(child);
    child.on('exit', (code, signal) => {
      live.delete(child);
      if (n.process === child) n.process = null;
      if (!this.killed.has(child)) this.unexpectedExits.push({ id, code, signal });
    });
    n.process = child;
  }

  /** startAll starts every founding node (spares wait for their turn: start them, then add them). */
  startAll(): void {
    for (const n of this.nodes) if (!n.spare) this.start(n.id);
  }

  /**
   * expectExit marks node `id`'s process as about to end on its own (a removed member exits),
   * so its exit is not an unexpected one; resolves once it has exited.
   */
  expectExit(id: string): Promise<number | null> {
    const p = this.node(id).process;
    if (p === null) return Promise.resolve(null);
    this.killed.add(p);
    return new Promise((resolve) => {
      if (p.exitCode !== null) resolve(p.exitCode);
      else p.once('exit', (code) => resolve(code));
    });
  }

  /** kill sends a signal (SIGKILL by default) and waits until the process is gone. */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    const p = this.node(id).process;
    if (p === null) return null;
    const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
    this.killed.add(p);
    p.kill(signal);
    return exited;
  }

  /**
   * powerLoss cuts a node's power (the powerLoss fault, --enable-fault-injection): it drops what
   * its disk had not made durable and dies at once. Waits until the process is gone.
   */
  async powerLoss(id: string): Promise<void> {
    const p = this.node(id).process;
    if (p === null) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    this.killed.add(p);
    // The node may die before it answers: a lost reply is expected, a refusal is not.
    await this.setFaults(id, { disk: { powerLoss: true } }).catch((e: unknown) => {
      if ((e as Error).message.includes('refused')) throw e;
    });
    await exited;
  }

  /**
   * pause freezes a node with SIGSTOP (its sockets stay open, it just stops answering) and
   * resume thaws it with SIGCONT; chaos tests hold a pause longer than the election timeout.
   */
  pause(id: string): void {
    this.node(id).process?.kill('SIGSTOP');
  }

  resume(id: string): void {
    this.node(id).process?.kill('SIGCONT');
  }

  /**
   * setFaults replaces a node's fault rules (PUT /debug/faults; the node must run with
   * --enable-fault-injection); clearFaults removes them. Both throw when the node refuses.
   */
  async setFaults(id: string, rules: Readonly<Record<string, Partial<FaultRuleJson> | DiskFaultJson>>): Promise<void> {
    const res = await fetch(`http://${this.node(id).http}/debug/faults`, {
      method: 'PUT',
      body: JSON.stringify(rules),
      signal: AbortSignal.timeout(2_000),
    });
    if (!res.ok) throw new Error(`${id} refused fault rules: ${res.status} ${await res.text()}`);
  }

  async clearFaults(id: string): Promise<void> {
    const res = await fetch(`http://${this.node(id).http}/debug/faults`, {
      method: 'DELETE',
      signal: AbortSignal.timeout(2_000),
    });
    if (!res.ok) throw new Error(`${id} refused to clear faults: ${res.status} ${await res.text()}`);
  }

  /** grpcTargets: every node's gRPC address, in node order. */
  grpcTargets(): string[] {
    return this.nodes.map((n) => n.grpc);
  }

  /** rssBytes reads node `id`'s VmRSS from /proc/<pid>/status (what the kernel counts as resident); 0 when stopped. */
  rssBytes(id: string): number {
    const pid = this.node(id).process?.pid;
    if (pid === undefined) return 0;
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? 0 : Number(m[1]) * 1024;
  }

  /** status is node `id`'s /status, or null when it does not answer within statusTimeoutMs. */
  async status(id: string): Promise<NodeStatusJson | null> {
    try {
      const res = await fetch(`http://${this.node(id).http}/status`, {
        signal: AbortSignal.timeout(this.options.statusTimeoutMs),
      });
      return (await res.json()) as NodeStatusJson;
    } catch {
      return null;
    }
  }

  /** waitForLeader polls /status until the running nodes agree on a leader. */
  async waitForLeader(timeoutMs = this.options.leaderWaitMs): Promise<string> {
    const endMs = Date.now() + timeoutMs;
    for (;;) {
      const running = this.nodes.filter((n) => n.process !== null);
      const statuses = await Promise.all(running.map((n) => this.status(n.id)));
      const leader = agreedLeader(statuses);
      if (leader !== null) return leader;
      if (Date.now() > endMs) throw new Error(`no leader after ${timeoutMs} ms: ${JSON.stringify(statuses)}`);
      await sleepMs(100);
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
      await sleepMs(50);
    }
  }

  /** client is a gRPC RoomClient of node `id` (one per node, with the cluster's API key), closed by stop(). */
  client(id: string): RoomClient {
    let c = this.clients.get(id);
    if (c === undefined) {
      c = new RoomClient(this.node(id).grpc, { apiKey: this.apiKey, apiSecret: this.apiSecret });
      this.clients.set(id, c);
    }
    return c;
  }

  /** logEvents: the JSON records of node `id`'s log whose event is `event`, in the order written. */
  logEvents(id: string, event: string): Array<Record<string, unknown>> {
    const file = this.node(id).logFile;
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((rec) => rec['event'] === event);
  }

  /**
   * waitForLogEvents is logEvents once it holds at least `count` records. The node writes its
   * log through a pipe, so a record can reach the file after the call or metric it goes with.
   */
  async waitForLogEvents(id: string, event: string, count = 1): Promise<Array<Record<string, unknown>>> {
    await waitUntil(`${count} ${event} record(s) in ${id}'s log`, () =>
      Promise.resolve(this.logEvents(id, event).length >= count),
    );
    return this.logEvents(id, event);
  }

  /** metric scrapes one series (`name` or `name{labels}`) from node `id`'s /metrics (NaN when it is absent). */
  async metric(id: string, series: string): Promise<number> {
    return (await this.scrape(id)).get(series) ?? Number.NaN;
  }

  /** metrics is node `id`'s whole /metrics page as series → value; empty when the node does not answer. */
  async metrics(id: string): Promise<Map<string, number>> {
    return this.scrape(id).catch(() => new Map<string, number>());
  }

  private async scrape(id: string): Promise<Map<string, number>> {
    const res = await fetch(`http://${this.node(id).http}/metrics`, { signal: AbortSignal.timeout(2_000) });
    return parseMetrics(await res.text());
  }

  /**
   * stopGracefully sends every node SIGTERM and waits up to `timeoutMs` for them to exit (a node writes its
   * --cpu-prof file then); stop() afterwards kills what is left.
   */
  async stopGracefully(timeoutMs = 15_000): Promise<void> {
    const exited = Promise.all(this.nodes.map((n) => this.kill(n.id, 'SIGTERM')));
    await Promise.race([exited, sleepMs(timeoutMs)]);
  }

  /** stop closes the clients, kills every process and removes the temp dir unless `keep` (then it returns the path). */
  async stop(keep = false): Promise<string | null> {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
    await Promise.all(this.nodes.map((n) => this.kill(n.id, 'SIGKILL')));
    if (keep) return this.dir;
    rmSync(this.dir, { recursive: true, force: true });
    return null;
  }
}
