/**
 * heap-probe: what the leader's V8 heap holds after a write load. Starts the benchmark's 3-node
 * cluster with `--heapsnapshot-signal`, writes CreateRoom through ClusterRoomClient (which gives
 * every call a request id, as our client does) at the given concurrency, then has the leader
 * write a heap snapshot and sums its nodes' own sizes by kind (objects by constructor).
 *
 *   node dist/bench/heap-probe.js [--duration-s 60] [--concurrency 512]
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { registrySystem, say, startCluster } from './scenarios/common.js';

/** HeapSnapshot: the parts of a V8 .heapsnapshot this reads. */
interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** SNAPSHOT_WAIT_MS: how long the leader may take to write its snapshot (it grows with the heap). */
const SNAPSHOT_WAIT_MS = 120_000;

const { values } = parseArgs({
  options: { 'duration-s': { type: 'string', default: '60' }, concurrency: { type: 'string', default: '512' } },
});
const dir = mkdtempSync(join(tmpdir(), 'rr-heap-'));
const cluster = await startCluster({ nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`] });
try {
  const leader = await cluster.waitForLeader();
  const system = registrySystem(cluster, 'leader');
  const r = await system.write(Number(values.concurrency), Number(values['duration-s']) * 1000, 'heap');
  await system.close();
  const metrics = await cluster.metrics(leader);
  say(
    `heap-probe: ${r.latencyMs.length} writes; leader ${leader}: heap used ${mib(metrics.get('nodejs_heap_size_used_bytes') ?? 0)} MiB, external ${mib(metrics.get('nodejs_external_memory_bytes') ?? 0)} MiB`,
  );
  const pid = cluster.node(leader).process?.pid ?? 0;
  process.kill(pid, 'SIGUSR2');
  const file = await snapshotOf(pid);
  for (const line of summarize(JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshot)) say(`  ${line}`);
} finally {
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
}

/** snapshotOf waits until the process has written its heap snapshot and the file stops growing. */
async function snapshotOf(pid: number): Promise<string> {
  let last = -1;
  for (let waitedMs = 0; waitedMs < SNAPSHOT_WAIT_MS; waitedMs += 1000) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const name = readdirSync(dir).find((f) => f.includes(`.${pid}.`) && f.endsWith('.heapsnapshot'));
    if (name === undefined) continue;
    const size = statSync(join(dir, name)).size;
    if (size === last && size > 0) return join(dir, name);
    last = size;
  }
  throw new Error(`no heap snapshot from ${pid} within ${SNAPSHOT_WAIT_MS} ms`);
}

/** summarize sums the snapshot's nodes' self sizes by kind (objects by constructor name), largest first. */
function summarize(s: HeapSnapshot): string[] {
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const [type, name, size] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const byKind = new Map<string, { bytes: number; count: number }>();
  let total = 0;
  for (let i = 0; i < s.nodes.length; i += fields.length) {
    const t = types[s.nodes[i + (type ?? 0)] ?? 0] ?? '?';
    const n = s.strings[s.nodes[i + (name ?? 0)] ?? 0] ?? '?';
    const kind = t === 'object' ? n : t === 'native' || t === 'object shape' ? `(${t}) ${n}` : `(${t})`;
    const bytes = s.nodes[i + (size ?? 0)] ?? 0;
    const k = byKind.get(kind) ?? { bytes: 0, count: 0 };
    k.bytes += bytes;
    k.count++;
    byKind.set(kind, k);
    total += bytes;
  }
  return [
    `heap snapshot: ${mib(total)} MiB in all`,
    ...[...byKind]
      .sort((a, b) => b[1].bytes - a[1].bytes)
      .slice(0, 15)
      .map(([kind, k]) => `${mib(k.bytes).padStart(7)} MiB ${String(k.count).padStart(9)}  ${kind.slice(0, 70)}`),
  ];
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}
