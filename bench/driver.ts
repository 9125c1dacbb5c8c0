/**
 * The benchmark's measuring loop, shared by every scenario and by both systems (room-registry
 * and etcd), so a ratio compares servers, not two ways of timing. It runs an operation at a
 * fixed concurrency (closed loop) or a fixed arrival rate (open loop, latency from the
 * scheduled start so a stall is not hidden by the client waiting), and keeps for every
 * successful operation its completion time and latency, for percentiles per time window,
 * write gaps and recovery curves.
 */
export interface DriveOptions {
  /** concurrencyMax: workers (closed loop) or the cap on operations in flight (open loop). */
  readonly concurrencyMax: number;
  readonly durationMs: number;
  /** ratePerSecond: open loop when > 0. */
  readonly ratePerSecond?: number;
  /** operationsMax: stop after this many started operations (bulk loads), 0 = no limit. */
  readonly operationsMax?: number;
  /** errorBackoffMs: a worker whose operation failed waits this long (a client backing off). */
  readonly errorBackoffMs?: number;
  /** stop: ends the run early once it returns true (checked before each operation). */
  readonly stop?: () => boolean;
  /** op runs one operation; `seq` is unique per run; it throws on failure and may name what it did (a label). */
  readonly op: (worker: number, seq: number) => Promise<string | void>;
}

export interface DriveResult {
  readonly elapsedMs: number;
  /** doneMs[i] / latencyMs[i]: completion time (ms since start) and latency of success i, in completion order. */
  readonly doneMs: number[];
  readonly latencyMs: number[];
  /** labels[i]: what success i was, as its op named it ('' when unnamed), for figures per kind of operation. */
  readonly labels: string[];
  readonly errors: number;
  readonly errorsByCode: Record<string, number>;
  /** firstErrorMs: completion times of failed operations (ms since start), bounded. */
  readonly errorDoneMs: number[];
}

/** errorTimesMax: failed operations whose times are kept (a dead target fails fast and often). */
const errorTimesMax = 100_000;
/** openLoopSleepMsMax: the open loop's longest sleep between arrivals. */
const openLoopSleepMsMax = 5;

/** sleep paces a scenario between its phases (the load runs meanwhile); never a wait for a condition. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function drive(opts: DriveOptions): Promise<DriveResult> {
  const doneMs: number[] = [];
  const latencyMs: number[] = [];
  const labels: string[] = [];
  const errorDoneMs: number[] = [];
  const errorsByCode: Record<string, number> = {};
  let errors = 0;
  let seq = 0;
  const startMs = performance.now();
  const endMs = startMs + opts.durationMs;
  const opsMax = opts.operationsMax ?? 0;
  const more = (): boolean => performance.now() < endMs && (opsMax === 0 || seq < opsMax) && opts.stop?.() !== true;
  const runOne = async (worker: number, scheduledMs: number): Promise<void> => {
    const s = seq++;
    try {
      const label = await opts.op(worker, s);
      const now = performance.now();
      doneMs.push(now - startMs);
      latencyMs.push(now - scheduledMs);
      labels.push(label ?? '');
    } catch (e) {
      errors++;
      const code = String((e as { code?: unknown }).code ?? (e as Error).name ?? 'error');
      errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
      if (errorDoneMs.length < errorTimesMax) errorDoneMs.push(performance.now() - startMs);
      if ((opts.errorBackoffMs ?? 0) > 0) await new Promise((r) => setTimeout(r, opts.errorBackoffMs));
    }
  };
  const rate = opts.ratePerSecond ?? 0;
  if (rate > 0) {
    const intervalMs = 1000 / rate;
    const inFlight = new Set<Promise<void>>();
    let next = startMs;
    let n = 0;
    while (more()) {
      const now = performance.now();
      if (next > now) await new Promise((r) => setTimeout(r, Math.min(next - now, openLoopSleepMsMax)));
      while (next <= performance.now() && more()) {
        if (inFlight.size >= opts.concurrencyMax) await Promise.race(inFlight);
        const p: Promise<void> = runOne(n++ % opts.concurrencyMax, next).finally(() => inFlight.delete(p));
        inFlight.add(p);
        next += intervalMs;
      }
    }
    await Promise.all(inFlight);
  } else {
    await Promise.all(
      Array.from({ length: opts.concurrencyMax }, async (_, worker) => {
        while (more()) await runOne(worker, performance.now());
      }),
    );
  }
  return { elapsedMs: performance.now() - startMs, doneMs, latencyMs, labels, errors, errorsByCode, errorDoneMs };
}

export interface LatencyStats {
  count: number;
  opsPerSecond: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** quantile of an ascending array (nearest rank). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

/** stats over the successes completing in [fromMs, toMs) (the whole run by default). */
export function stats(r: DriveResult, fromMs = 0, toMs = r.elapsedMs): LatencyStats {
  const lat: number[] = [];
  for (let i = 0; i < r.doneMs.length; i++) {
    const t = r.doneMs[i] ?? 0;
    if (t >= fromMs && t < toMs) lat.push(r.latencyMs[i] ?? 0);
  }
  const sorted = Float64Array.from(lat).sort();
  const spanS = Math.max(1e-3, (toMs - fromMs) / 1000);
  return {
    count: sorted.length,
    opsPerSecond: Math.round(sorted.length / spanS),
    p50Ms: round2(quantile(sorted, 0.5)),
    p90Ms: round2(quantile(sorted, 0.9)),
    p99Ms: round2(quantile(sorted, 0.99)),
    maxMs: round2(quantile(sorted, 1)),
  };
}

/** median of numbers (the middle of repeated runs). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return 0;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** longestGapMs: the longest stretch within [fromMs, toMs] with no success completing. */
export function longestGapMs(r: DriveResult, fromMs: number, toMs: number): { gapMs: number; gapStartMs: number } {
  const times = r.doneMs.filter((t) => t >= fromMs && t <= toMs).sort((a, b) => a - b);
  let prev = fromMs;
  let best = { gapMs: 0, gapStartMs: fromMs };
  for (const t of [...times, toMs]) {
    if (t - prev > best.gapMs) best = { gapMs: t - prev, gapStartMs: prev };
    prev = t;
  }
  return best;
}

/** perBucket: successes per `bucketMs` bucket from the start. */
export function perBucket(r: DriveResult, bucketMs: number): number[] {
  const out = new Array<number>(Math.ceil(r.elapsedMs / bucketMs)).fill(0);
  for (const t of r.doneMs) {
    const b = Math.floor(t / bucketMs);
    if (b < out.length) out[b] = (out[b] ?? 0) + 1;
  }
  return out;
}
