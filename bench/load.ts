/**
 * The load generator: drives the public gRPC API of one or more nodes with a mix of operations,
 * at a fixed concurrency (closed loop) or a fixed arrival rate (open loop, latency measured
 * from the scheduled start so a stall is not hidden), and reports ops/s, latency percentiles,
 * errors, and the timeline of successful writes (for failover gaps).
 *
 *   node dist/bench/load.js --targets 127.0.0.1:9001,127.0.0.1:9002 --api-key K --api-secret S \
 *     [--concurrency 64 | --rate 2000] [--duration-s 10] [--mix create=1,update=0,delete=0,get=0,local-get=0] \
 *     [--channels 4] [--preload 1000] [--metadata-bytes 100] [--out result.json]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type ServiceError, status as grpcStatus } from '@grpc/grpc-js';
import { RoomClient } from '../src/client/room-client.js';
import { Consistency } from '../src/gen/roomregistry/v1/rooms.js';

export const OPS = ['create', 'update', 'delete', 'get', 'local-get'] as const;
export type Op = (typeof OPS)[number];

export interface LoadOptions {
  readonly targets: readonly string[];
  readonly apiKey: string;
  readonly apiSecret: string;
  /** concurrency: operations in flight (closed loop); with ratePerSecond, the cap on in-flight ones. */
  readonly concurrency: number;
  /** ratePerSecond: open loop when > 0. */
  readonly ratePerSecond: number;
  readonly durationS: number;
  readonly mix: Readonly<Record<Op, number>>;
  /** channels: gRPC channels per target. */
  readonly channels: number;
  /** preload: rooms created before the clock starts, for reads, updates and deletes to hit. */
  readonly preload: number;
  readonly metadataBytes: number;
  readonly namePrefix: string;
  readonly deadlineMs: number;
}

export interface OpStats {
  count: number;
  errors: number;
  opsPerSecond: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface LoadResult {
  readonly options: Omit<LoadOptions, 'apiSecret'>;
  readonly elapsedS: number;
  readonly total: OpStats;
  readonly byOp: Partial<Record<Op, OpStats>>;
  readonly errorsByCode: Record<string, number>;
  /** localMisses: LOCAL reads that answered NOT_FOUND for a room not yet applied on that node (not errors). */
  readonly localMisses: number;
  /** writeGapMaxMs: the longest time without a successful write completing. */
  readonly writeGapMaxMs: number;
  /** successesPer100Ms: completed operations per 100 ms bucket (for recovery curves). */
  readonly successesPer100Ms: number[];
}

export const DEFAULT_LOAD: LoadOptions = {
  targets: [],
  apiKey: '',
  apiSecret: '',
  concurrency: 16,
  ratePerSecond: 0,
  durationS: 10,
  mix: { create: 1, update: 0, delete: 0, get: 0, 'local-get': 0 },
  channels: 2,
  preload: 0,
  metadataBytes: 100,
  namePrefix: `bench-${process.pid}-${Date.now().toString(36)}`,
  deadlineMs: 5_000,
};

/** runLoad runs one load and returns its figures; it never throws for failed operations. */
// eslint-disable-next-line max-lines-per-function -- TODO(#19): one load loop, shared with bench/driver.ts
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  // A local subchannel pool per client gives each its own connection (grpc-js shares them otherwise).
  const clients = opts.targets.flatMap((t) =>
    Array.from(
      { length: opts.channels },
      () =>
        new RoomClient(t, { apiKey: opts.apiKey, apiSecret: opts.apiSecret }, { 'grpc.use_local_subchannel_pool': 1 }),
    ),
  );
  const rooms: string[] = [];
  let seq = 0;
  const metadata = 'm'.repeat(opts.metadataBytes);
  const pick = weightedPicker(opts.mix);
  const samples = new Map<Op, number[]>(OPS.map((op) => [op, []]));
  const errors = new Map<Op, number>();
  const errorsByCode: Record<string, number> = {};
  const buckets: number[] = [];
  let localMisses = 0;
  const writeTimes: number[] = [];
  try {
    for (let i = 0; i < opts.preload; i += 256) {
      await Promise.all(
        Array.from({ length: Math.min(256, opts.preload - i) }, async (_, k) => {
          const name = `${opts.namePrefix}-pre-${i + k}`;
          await clients[(i + k) % clients.length]?.createRoom({ name, metadata }, 30_000);
          rooms.push(name);
        }),
      );
    }
    const startMs = performance.now();
    const endMs = startMs + opts.durationS * 1000;
    const runOne = async (scheduledMs: number, clientIndex: number): Promise<void> => {
      const op = pick();
      const client = clients[clientIndex % clients.length];
      if (client === undefined) return;
      try {
        await perform(op, client);
        const doneMs = performance.now();
        samples.get(op)?.push(doneMs - scheduledMs);
        const b = Math.floor((doneMs - startMs) / 100);
        buckets[b] = (buckets[b] ?? 0) + 1;
        if (op === 'create' || op === 'update' || op === 'delete') writeTimes.push(doneMs - startMs);
      } catch (e) {
        errors.set(op, (errors.get(op) ?? 0) + 1);
        const code = String((e as ServiceError).code ?? 'client');
        errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
      }
    };
    const perform = async (op: Op, client: RoomClient): Promise<void> => {
      const existing = rooms.length === 0 ? null : (rooms[Math.floor(Math.random() * rooms.length)] ?? null);
      switch (op) {
        case 'create': {
          const name = `${opts.namePrefix}-${seq++}`;
          await client.createRoom({ name, metadata }, opts.deadlineMs);
          rooms.push(name);
          return;
        }
        case 'update':
          if (existing !== null)
            await client.updateRoomMetadata({ room: existing, metadata: `${metadata}${seq++}` }, opts.deadlineMs);
          return;
        case 'delete': {
          const name = rooms.pop();
          if (name !== undefined) await client.deleteRoom({ room: name }, opts.deadlineMs);
          return;
        }
        case 'get':
          if (existing !== null)
            await client.getRoom(
              { name: existing, consistency: Consistency.CONSISTENCY_LINEARIZABLE },
              opts.deadlineMs,
            );
          return;
        case 'local-get':
          if (existing === null) return;
          try {
            await client.getRoom({ name: existing, consistency: Consistency.CONSISTENCY_LOCAL }, opts.deadlineMs);
          } catch (e) {
            // A room created moments ago on another node may not be applied here yet: a
            // LOCAL read may be that stale, so NOT_FOUND is a right answer, counted apart.
            if ((e as ServiceError).code !== grpcStatus.NOT_FOUND) throw e;
            localMisses++;
          }
          return;
        default:
          return op satisfies never;
      }
    };
    if (opts.ratePerSecond > 0) await openLoop(opts, endMs, runOne);
    else await closedLoop(opts, endMs, runOne);
    const elapsedS = (performance.now() - startMs) / 1000;
    return { ...summarize(opts, elapsedS, samples, errors, errorsByCode, buckets, writeTimes), localMisses };
  } finally {
    for (const c of clients) c.close();
  }
}

async function closedLoop(
  opts: LoadOptions,
  endMs: number,
  runOne: (scheduledMs: number, client: number) => Promise<void>,
): Promise<void> {
  await Promise.all(
    Array.from({ length: opts.concurrency }, async (_, worker) => {
      while (performance.now() < endMs) await runOne(performance.now(), worker);
    }),
  );
}

async function openLoop(
  opts: LoadOptions,
  endMs: number,
  runOne: (scheduledMs: number, client: number) => Promise<void>,
): Promise<void> {
  const intervalMs = 1000 / opts.ratePerSecond;
  const inFlight = new Set<Promise<void>>();
  let next = performance.now();
  let n = 0;
  while (next < endMs) {
    const now = performance.now();
    if (next > now) await new Promise((r) => setTimeout(r, Math.min(next - now, 20)));
    while (next <= performance.now() && next < endMs) {
      if (inFlight.size >= opts.concurrency) await Promise.race(inFlight);
      const p: Promise<void> = runOne(next, n++).finally(() => inFlight.delete(p));
      inFlight.add(p);
      next += intervalMs;
    }
  }
  await Promise.all(inFlight);
}

function weightedPicker(mix: Readonly<Record<Op, number>>): () => Op {
  const total = OPS.reduce((s, op) => s + mix[op], 0);
  if (total <= 0) throw new Error('the op mix is empty');
  return () => {
    let r = Math.random() * total;
    for (const op of OPS) {
      r -= mix[op];
      if (r < 0) return op;
    }
    return 'create';
  };
}

function summarize(
  opts: LoadOptions,
  elapsedS: number,
  samples: Map<Op, number[]>,
  errors: Map<Op, number>,
  errorsByCode: Record<string, number>,
  buckets: number[],
  writeTimes: number[],
): Omit<LoadResult, 'localMisses'> {
  const byOp: Partial<Record<Op, OpStats>> = {};
  const all: number[] = [];
  let errorCount = 0;
  for (const op of OPS) {
    const s = samples.get(op) ?? [];
    const e = errors.get(op) ?? 0;
    if (s.length + e === 0) continue;
    byOp[op] = stats(s, e, elapsedS);
    all.push(...s);
    errorCount += e;
  }
  let gap = writeTimes.length === 0 ? elapsedS * 1000 : (writeTimes[0] ?? 0);
  writeTimes.sort((a, b) => a - b);
  for (let i = 1; i < writeTimes.length; i++) gap = Math.max(gap, (writeTimes[i] ?? 0) - (writeTimes[i - 1] ?? 0));
  const { apiSecret: _secret, ...shown } = opts;
  return {
    options: shown,
    elapsedS: +elapsedS.toFixed(2),
    total: stats(all, errorCount, elapsedS),
    byOp,
    errorsByCode,
    writeGapMaxMs: Math.round(gap),
    successesPer100Ms: Array.from(buckets, (b) => b ?? 0),
  };
}

function stats(samples: number[], errors: number, elapsedS: number): OpStats {
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number): number =>
    +(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(2);
  return {
    count: samples.length,
    errors,
    opsPerSecond: Math.round(samples.length / elapsedS),
    p50Ms: at(0.5),
    p90Ms: at(0.9),
    p99Ms: at(0.99),
    maxMs: at(1),
  };
}

export function printResult(label: string, r: LoadResult): void {
  const t = r.total;
  process.stdout.write(
    `${label}: ${t.opsPerSecond} ops/s  p50 ${t.p50Ms} ms  p90 ${t.p90Ms} ms  p99 ${t.p99Ms} ms  max ${t.maxMs} ms  ` +
      `errors ${t.errors}${Object.keys(r.errorsByCode).length > 0 ? ` ${JSON.stringify(r.errorsByCode)}` : ''}` +
      `${r.localMisses > 0 ? `  LOCAL reads not yet applied there: ${r.localMisses}` : ''}\n`,
  );
}

function parseMix(text: string): Record<Op, number> {
  const mix: Record<Op, number> = { create: 0, update: 0, delete: 0, get: 0, 'local-get': 0 };
  for (const part of text.split(',')) {
    const [op, weight] = part.split('=');
    if (!OPS.includes(op as Op) || !Number.isFinite(Number(weight)))
      throw new Error(`bad --mix part "${part}"; ops: ${OPS.join(', ')}`);
    mix[op as Op] = Number(weight);
  }
  return mix;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      targets: { type: 'string' },
      'api-key': { type: 'string' },
      'api-secret': { type: 'string' },
      concurrency: { type: 'string', default: '16' },
      rate: { type: 'string', default: '0' },
      'duration-s': { type: 'string', default: '10' },
      mix: { type: 'string', default: 'create=1' },
      channels: { type: 'string', default: '2' },
      preload: { type: 'string', default: '0' },
      'metadata-bytes': { type: 'string', default: '100' },
      out: { type: 'string' },
    },
  });
  if (values.targets === undefined || values['api-key'] === undefined || values['api-secret'] === undefined) {
    throw new Error('--targets, --api-key and --api-secret are required');
  }
  const result = await runLoad({
    ...DEFAULT_LOAD,
    targets: values.targets.split(','),
    apiKey: values['api-key'],
    apiSecret: values['api-secret'],
    concurrency: Number(values.concurrency),
    ratePerSecond: Number(values.rate),
    durationS: Number(values['duration-s']),
    mix: parseMix(values.mix),
    channels: Number(values.channels),
    preload: Number(values.preload),
    metadataBytes: Number(values['metadata-bytes']),
  });
  printResult('load', result);
  if (values.out !== undefined) writeFileSync(values.out, JSON.stringify(result, null, 2));
}

if (process.argv[1]?.endsWith('load.js') === true) await main();
