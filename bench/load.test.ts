/**
 * Goal: the benchmark's load generator and measuring loop work (issue 7), so `make bench` does
 * not first fail after minutes of loading. Method: a 3-node cluster, one second of mixed load
 * through bench/load.ts, and the driver's gap and percentile arithmetic on a known timeline.
 * The benchmark itself never runs in `make test`. This test lives in bench/ because test/ never
 * imports bench/ (eslint.config.js); vitest.config.ts runs the tests of bench/ too.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ProcessCluster } from '../test/harness/process-cluster.js';
import { type DriveResult, drive, longestGapMs, perBucket, stats } from './driver.js';
import { DEFAULT_LOAD, runLoad } from './load.js';

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.launch(3);
});

afterAll(async () => {
  await cluster.stop();
});

it('runs a short mixed load over every node without errors', async () => {
  const r = await runLoad({
    ...DEFAULT_LOAD,
    targets: cluster.nodes.map((n) => n.grpc),
    apiKey: cluster.apiKey,
    apiSecret: cluster.apiSecret,
    concurrency: 8,
    durationS: 1,
    preload: 20,
    mix: { create: 2, update: 1, delete: 0, get: 1, 'local-get': 1 },
    channels: 1,
  });
  expect(r.total.errors, JSON.stringify(r.errorsByCode)).toBe(0);
  expect(r.byOp.create?.count ?? 0).toBeGreaterThan(0);
  expect(r.byOp['local-get']?.count ?? 0).toBeGreaterThan(0);
  expect(r.total.p99Ms).toBeGreaterThan(0);
  // Every success is counted once: per op and in total agree (the labels the loop keeps are complete).
  const perOp = Object.values(r.byOp).reduce((sum, s) => sum + s.count, 0);
  expect(perOp).toBe(r.total.count);
  expect(r.successesPer100Ms.reduce((a, b) => a + b, 0)).toBe(r.total.count);
});

it('measures gaps, buckets and percentiles from the completion timeline', async () => {
  const timeline: DriveResult = {
    elapsedMs: 1_000,
    doneMs: [100, 200, 900, 950],
    latencyMs: [1, 2, 3, 4],
    labels: ['', '', '', ''],
    errors: 0,
    errorsByCode: {},
    errorDoneMs: [],
  };
  expect(longestGapMs(timeline, 0, 1_000)).toEqual({ gapMs: 700, gapStartMs: 200 });
  expect(perBucket(timeline, 500)).toEqual([2, 2]);
  expect(stats(timeline).p50Ms).toBe(3);
  const bounded = await drive({
    concurrencyMax: 4,
    durationMs: 5_000,
    operationsMax: 10,
    op: async (_worker, seq) => (seq % 2 === 0 ? 'even' : undefined),
  });
  expect(bounded.doneMs.length).toBe(10);
  expect(bounded.labels.filter((l) => l === 'even').length).toBe(5);
  expect(bounded.labels.filter((l) => l === '').length).toBe(5);
});
