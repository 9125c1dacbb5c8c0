import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import type { Logger } from '../lib/logger.js';

/**
 * HEAP_GROWTH: when a node's heap holds a large table, V8 is told to let the heap grow only
 * 20% past what survived each full collection. By default a fast-allocating heap may grow to
 * several times its live size: a leader holding a million rooms then runs at 1.1-1.2 GiB and
 * pauses 200-480 ms in mark-compacts; with the tighter growth it stays near 800 MiB and under
 * 50 ms (bench/RESULTS.md, "1 M rooms"). On a small heap the same setting means a full
 * collection every few MiB and costs 10-30% of write throughput, so it applies only above
 * `tightAboveBytes` and is lifted again below half of that.
 */
export const HEAP_GROWTH = {
  tightAboveBytes: 256 * 2 ** 20,
  growingPercent: 20,
  checkIntervalMs: 5_000,
} as const;

/** tightGrowthWanted: tight above the threshold; once tight, until the heap falls below half of it. */
export function tightGrowthWanted(tight: boolean, usedHeapBytes: number): boolean {
  return usedHeapBytes > (tight ? HEAP_GROWTH.tightAboveBytes / 2 : HEAP_GROWTH.tightAboveBytes);
}

/**
 * watchHeapGrowth checks the used heap every few seconds and switches V8's growth setting
 * (a V8 flag Node lets a running process change); stop() ends the checks.
 */
export function watchHeapGrowth(logger: Logger): { stop(): void } {
  let tight = false;
  const check = (): void => {
    const used = getHeapStatistics().used_heap_size;
    const wantTight = tightGrowthWanted(tight, used);
    if (wantTight === tight) return;
    tight = wantTight;
    // 0 gives V8 back its own, dynamic growing factor.
    setFlagsFromString(`--heap-growing-percent=${tight ? HEAP_GROWTH.growingPercent : 0}`);
    logger.info('heap_growth_changed', { tight, usedHeapMiB: Math.round(used / 2 ** 20) });
  };
  check();
  const timer = setInterval(check, HEAP_GROWTH.checkIntervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
