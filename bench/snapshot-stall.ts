/**
 * snapshot-stall: the longest event-loop stall a 1 M-room snapshot can cause, measured inside
 * one process that does nothing else, so other load on a shared machine does not hide it (the
 * cluster scenario's client probe and prom-client's lag metric include time a node spent
 * waiting for a CPU). Fills the real RoomRegistry with N rooms through apply(), as a node
 * does, then runs the node's snapshot loop (capture, slices of LIMITS.snapshotSliceBytes
 * written to a file, a setImmediate between slices) while a client-like writer keeps applying
 * commands, and reports the longest slice, the event-loop delay (perf_hooks) and each GC pause.
 * Then it drops the table and restores a fresh RoomRegistry from the file it wrote, as a node
 * restarting from its snapshot does, and reports how long that took and the memory after it.
 *
 *   node --expose-gc dist/bench/snapshot-stall.js [--rooms 1000000]
 */
import { createReadStream } from 'node:fs';
import { open, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { LIMITS } from '../src/config/limits.js';
import { index } from '../src/lib/ids.js';
import { RoomRegistry } from '../src/registry/index.js';
import { encodeCreateRoom } from './room-commands.js';

/** writesPerTurnDuringSnapshot: commands applied between slices (copy-on-write gets exercised). */
const writesPerTurnDuringSnapshot = 5;

const { values } = parseArgs({ options: { rooms: { type: 'string', default: '1000000' } } });
const rooms = Number(values.rooms);
let registry = new RoomRegistry();
let at = 0;
const create = encodeCreateRoom;
const fillStartMs = performance.now();
for (let i = 0; i < rooms; i++) registry.apply(index(++at), create(`stall-${i}`), Date.now());
const fillS = (performance.now() - fillStartMs) / 1000;
global.gc?.();
const memory = process.memoryUsage();
const heapMiB = Math.round(memory.heapUsed / 2 ** 20);
const rssMiB = Math.round(memory.rss / 2 ** 20);
// The packed room table (issue 17) keeps its records outside the V8 heap, in ArrayBuffers.
const arrayBuffersMiB = Math.round(memory.arrayBuffers / 2 ** 20);
const heapTotalMiB = Math.round(memory.heapTotal / 2 ** 20);

const gcPausesMs: { kind: number; ms: number }[] = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries())
    gcPausesMs.push({ kind: (e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0, ms: e.duration });
});
gcObserver.observe({ entryTypes: ['gc'] });
const delay = monitorEventLoopDelay({ resolution: 1 });
const dir = await mkdtemp(join(tmpdir(), 'rr-bench-snap-'));
let sliceMaxMs = 0;
let slices = 0;
let bytes = 0;
try {
  const file = await open(join(dir, 'snapshot'), 'w');
  delay.enable();
  const startMs = performance.now();
  let source: ReturnType<RoomRegistry['captureSnapshot']> | null = registry.captureSnapshot();
  for (;;) {
    const t0 = performance.now();
    const chunk = source.nextChunk(LIMITS.snapshotSliceBytes);
    sliceMaxMs = Math.max(sliceMaxMs, performance.now() - t0);
    if (chunk === null) break;
    slices++;
    bytes += chunk.byteLength;
    await file.write(chunk);
    for (let k = 0; k < writesPerTurnDuringSnapshot; k++)
      registry.apply(index(++at), create(`during-${at}`), Date.now());
    await new Promise((r) => setImmediate(r));
  }
  await file.sync();
  await file.close();
  const snapshotMs = performance.now() - startMs;
  delay.disable();
  gcObserver.disconnect();
  // The restart: the old table goes first (the capture holds it too), as in a process that starts from its snapshot.
  source = null;
  registry = new RoomRegistry();
  global.gc?.();
  const restoreStartMs = performance.now();
  await registry.restore(createReadStream(join(dir, 'snapshot'), { highWaterMark: LIMITS.snapshotSliceBytes }));
  const restoreMs = performance.now() - restoreStartMs;
  global.gc?.();
  const restored = process.memoryUsage();
  const gcMax = gcPausesMs.reduce((m, g) => (g.ms > m.ms ? g : m), { kind: 0, ms: 0 });
  const result = {
    bench: 'snapshot-stall',
    rooms,
    fillSeconds: +fillS.toFixed(1),
    heapUsedMiB: heapMiB,
    heapTotalMiB,
    arrayBuffersMiB,
    rssMiB,
    snapshotMs: Math.round(snapshotMs),
    snapshotMiB: Math.round(bytes / 2 ** 20),
    slices,
    sliceBytes: LIMITS.snapshotSliceBytes,
    sliceMaxMs: +sliceMaxMs.toFixed(1),
    eventLoopDelayMaxMs: +(delay.max / 1e6).toFixed(1),
    eventLoopDelayP99Ms: +(delay.percentile(99) / 1e6).toFixed(1),
    gcPauses: gcPausesMs.length,
    gcPauseMaxMs: +gcMax.ms.toFixed(1),
    // perf_hooks gc kinds: 1 minor (scavenge), 2 major (mark-compact), 4 incremental, 8 weak callbacks
    gcPauseMaxKind: gcMax.kind,
    gcPauseTotalMs: Math.round(gcPausesMs.reduce((s, g) => s + g.ms, 0)),
    restoredRooms: registry.roomCount(),
    restoreMs: Math.round(restoreMs),
    restoredHeapUsedMiB: Math.round(restored.heapUsed / 2 ** 20),
    restoredHeapTotalMiB: Math.round(restored.heapTotal / 2 ** 20),
    restoredArrayBuffersMiB: Math.round(restored.arrayBuffers / 2 ** 20),
    restoredRssMiB: Math.round(restored.rss / 2 ** 20),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
