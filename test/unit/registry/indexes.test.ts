/**
 * Goal: the sorted name index and the expiry index agree with the obvious slow versions.
 * Method: seeded random adds and removes, checked against a sorted array / a full scan.
 */
import { expect, it } from 'vitest';
import { SeededRng } from '../../../src/lib/rng.js';
import { ExpiryIndex } from '../../../src/registry/expiry-index.js';
import { SortedNames } from '../../../src/registry/sorted-names.js';

it('SortedNames matches a sorted array through splits and merges', () => {
  const rng = new SeededRng(7);
  const names = new SortedNames();
  const model = new Set<string>();
  for (let i = 0; i < 20_000; i++) {
    const n = `n${rng.nextInt(5_000)}`;
    if (model.has(n)) {
      names.delete(n);
      model.delete(n);
    } else {
      names.add(n);
      model.add(n);
    }
    if (i % 997 === 0) {
      const sorted = [...model].sort();
      expect(names.after('', sorted.length + 1)).toEqual(sorted);
      const pivot = sorted[rng.nextInt(sorted.length)] ?? '';
      expect(names.after(pivot, 10)).toEqual(sorted.filter((s) => s > pivot).slice(0, 10));
    }
  }
  expect(names.size).toBe(model.size);
});

it('ExpiryIndex finds exactly the due rooms, earliest seconds first', () => {
  const rng = new SeededRng(11);
  const model = new Map<string, number>();
  const index = new ExpiryIndex((name) => model.get(name) ?? Infinity);
  for (let i = 0; i < 5_000; i++) {
    const n = `r${rng.nextInt(800)}`;
    const deadline = rng.nextInt(4) === 0 ? Infinity : rng.nextInt(60_000);
    index.remove(n, model.get(n) ?? Infinity);
    index.add(n, deadline);
    if (deadline === Infinity) model.delete(n);
    else model.set(n, deadline);
    if (rng.nextInt(10) === 0) {
      index.remove(n, model.get(n) ?? Infinity);
      model.delete(n);
    }
  }
  for (const now of [0, 999, 1_000, 30_500, 60_000]) {
    const expected = [...model].filter(([, d]) => d <= now);
    const due = index.due(now, 1e9);
    expect(new Set(due)).toEqual(new Set(expected.map(([n]) => n)));
    const seconds = due.map((n) => Math.floor((model.get(n) ?? 0) / 1000));
    expect(seconds).toEqual([...seconds].sort((a, b) => a - b));
    expect(index.overdue(now).rooms).toBe(expected.length);
  }
  expect(index.size).toBe(model.size);
});
