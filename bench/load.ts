/**
 * The load generator: drives the public gRPC API of one or more nodes with a mix of operations,
 * through the benchmark's one loop (bench/driver.ts: a fixed concurrency, or a fixed arrival rate
 * with latency measured from the scheduled start so a stall is not hidden), and reports ops/s,
 * latency percentiles, errors, and the timeline of successful writes (for failover gaps).
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
import { type DriveResult, drive, perBucket, quantile } from './driver.js';

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

/** preloadMsMax: the longest the preload may take (a stalled cluster must not hang the run). */
const preloadMsMax = 5 * 60_000;
/** preloadConcurrencyMax: creates in flight while preloading. */
const preloadConcurrencyMax = 256;
/** bucketMs: the width of the successes-per-bucket timeline (successesPer100Ms). */
const bucketMs = 100;

/**
 * runLoad runs one load through bench/driver.ts's loop (the one loop of the benchmark) and returns its figures;
 * it never throws for failed operations, only when the preload fails.
 */
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  // A local subchannel pool per client gives each its own connection (grpc-js shares them otherwise).
  const clients = opts.targets.flatMap((t) =>
    Array.from(
      { length: opts.channels },
      () =>
        new RoomClient(t, { apiKey: opts.apiKey, apiSecret: opts.apiSecret }, { 'grpc.use_local_subchannel_pool': 1 }),
    ),
  );
  try {
    const mixed = new MixedOps(opts, clients);
    await mixed.preload();
    const r = await drive({
      concurrencyMax: opts.concurrency,
      durationMs: opts.durationS * 1000,
      ratePerSecond: opts.ratePerSecond,
      op: (worker) => mixed.one(worker),
    });
    return summarize(opts, r, mixed);
  } finally {
    for (const c of clients) c.close();
  }
}

/** MixedOps: the operations of one load, picked by the mix, over the rooms it has created. */
class MixedOps {
  readonly errorsByOp = new Map<Op, number>();
  /** localMisses: LOCAL reads that found a room not yet applied on that node. */
  localMisses = 0;
  private readonly rooms: string[] = [];
  private readonly metadata: string;
  private readonly pick: () => Op;
  private seq = 0;

  constructor(
    private readonly opts: LoadOptions,
    private readonly clients: readonly RoomClient[],
  ) {
    this.metadata = 'm'.repeat(opts.metadataBytes);
    this.pick = weightedPicker(opts.mix);
  }

  /** preload creates opts.preload rooms before the clock starts, for reads, updates and deletes to hit. */
  async preload(): Promise<void> {
    if (this.opts.preload === 0) return;
    const r = await drive({
      concurrencyMax: preloadConcurrencyMax,
      durationMs: preloadMsMax,
      operationsMax: this.opts.preload,
      op: async (worker, seq) => {
        const name = `${this.opts.namePrefix}-pre-${seq}`;
        await this.client(worker).createRoom({ name, metadata: this.metadata }, 30_000);
        this.rooms.push(name);
      },
    });
    if (r.errors > 0 || r.doneMs.length < this.opts.preload)
      throw new Error(`preload created ${r.doneMs.length} of ${this.opts.preload}: ${JSON.stringify(r.errorsByCode)}`);
  }

  /** one runs one picked operation on worker's client and returns its name (the driver's label). */
  async one(worker: number): Promise<Op> {
    const op = this.pick();
    try {
      await this.perform(op, this.client(worker));
      return op;
    } catch (e) {
      this.errorsByOp.set(op, (this.errorsByOp.get(op) ?? 0) + 1);
      throw e;
    }
  }

  private client(worker: number): RoomClient {
    const client = this.clients[worker % this.clients.length];
    if (client === undefined) throw new Error('no targets to load');
    return client;
  }

  private async perform(op: Op, client: RoomClient): Promise<void> {
    const { deadlineMs } = this.opts;
    const existing =
      this.rooms.length === 0 ? null : (this.rooms[Math.floor(Math.random() * this.rooms.length)] ?? null);
    switch (op) {
      case 'create': {
        const name = `${this.opts.namePrefix}-${this.seq++}`;
        await client.createRoom({ name, metadata: this.metadata }, deadlineMs);
        this.rooms.push(name);
        return;
      }
      case 'update':
        if (existing !== null)
          await client.updateRoomMetadata({ room: existing, metadata: `${this.metadata}${this.seq++}` }, deadlineMs);
        return;
      case 'delete': {
        const name = this.rooms.pop();
        if (name !== undefined) await client.deleteRoom({ room: name }, deadlineMs);
        return;
      }
      case 'get':
        if (existing !== null)
          await client.getRoom({ name: existing, consistency: Consistency.CONSISTENCY_LINEARIZABLE }, deadlineMs);
        return;
      case 'local-get':
        if (existing !== null) await this.localGet(client, existing);
        return;
      default:
        return op satisfies never;
    }
  }

  private async localGet(client: RoomClient, name: string): Promise<void> {
    try {
      await client.getRoom({ name, consistency: Consistency.CONSISTENCY_LOCAL }, this.opts.deadlineMs);
    } catch (e) {
      // A room created moments ago on another node may not be applied here yet: a
      // LOCAL read may be that stale, so NOT_FOUND is a right answer, counted apart.
      if ((e as ServiceError).code !== grpcStatus.NOT_FOUND) throw e;
      this.localMisses++;
    }
  }
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

const WRITE_OPS: readonly string[] = ['create', 'update', 'delete'] satisfies Op[];

/** summarize turns the driver's timeline into the load's figures: per op, in total, the write gap, the buckets. */
function summarize(opts: LoadOptions, r: DriveResult, mixed: MixedOps): LoadResult {
  const elapsedS = r.elapsedMs / 1000;
  const byOp: Partial<Record<Op, OpStats>> = {};
  for (const op of OPS) {
    const samples = r.latencyMs.filter((_, i) => r.labels[i] === op);
    const errors = mixed.errorsByOp.get(op) ?? 0;
    if (samples.length + errors > 0) byOp[op] = opStats(samples, errors, elapsedS);
  }
  const writesDoneMs = r.doneMs.filter((_, i) => WRITE_OPS.includes(r.labels[i] ?? ''));
  const { apiSecret: _secret, ...shown } = opts;
  return {
    options: shown,
    elapsedS: +elapsedS.toFixed(2),
    total: opStats(r.latencyMs, r.errors, elapsedS),
    byOp,
    errorsByCode: r.errorsByCode,
    localMisses: mixed.localMisses,
    writeGapMaxMs: Math.round(writeGapMaxMs(writesDoneMs, r.elapsedMs)),
    successesPer100Ms: perBucket(r, bucketMs),
  };
}

/** writeGapMaxMs: the longest time without a write completing, from the start (all of it when none did). */
function writeGapMaxMs(writesDoneMs: readonly number[], elapsedMs: number): number {
  if (writesDoneMs.length === 0) return elapsedMs;
  const sorted = [...writesDoneMs].sort((a, b) => a - b);
  let gap = sorted[0] ?? 0;
  for (let i = 1; i < sorted.length; i++) gap = Math.max(gap, (sorted[i] ?? 0) - (sorted[i - 1] ?? 0));
  return gap;
}

function opStats(samples: readonly number[], errors: number, elapsedS: number): OpStats {
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number): number => +quantile(sorted, q).toFixed(2);
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
