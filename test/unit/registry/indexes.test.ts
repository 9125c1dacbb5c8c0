/**
 * Goal: the sorted name index and the expiry index agree with the obvious slow versions.
 * Method: seeded random adds and removes, checked against a sorted array / a full scan. The
 * indexes hold slots; here a slot is a position in a list of names.
 */
import { expect, it } from 'vitest';
import { SeededRng } from '../../../src/lib/rng.js';
import { ExpiryIndex } from '../../../src/registry/expiry-index.js';
import type { NameKey, SlotNames } from '../../../src/registry/name-bytes.js';
import { SortedNames } from '../../../src/registry/sorted-names.js';

/** NameList names slot i with names[i] and orders slots by UTF-8 bytes, as the room table does. */
class NameList implements SlotNames {
  constructor(readonly names: readonly string[]) {}
  compareSlots(a: number, b: number): number {
    return Buffer.compare(Buffer.from(this.names[a] ?? ''), Buffer.from(this.names[b] ?? ''));
  }
  compareSlotTo(slot: number, key: NameKey): number {
    return Buffer.compare(Buffer.from(this.names[slot] ?? ''), key.bytes.subarray(0, key.length));
  }
}

it('SortedNames matches a sorted array through splits and merges', () => {
  const rng = new SeededRng(7);
  const list = new NameList(Array.from({ length: 5_000 }, (_, i) => `n${i}`));
  const names = new SortedNames(list);
  const model = new Set<number>();
  const namesOf = (slots: Iterable<number>): string[] => [...slots].map((s) => list.names[s] ?? '');
  for (let i = 0; i < 20_000; i++) {
    const slot = rng.nextInt(5_000);
    if (model.has(slot)) {
      names.delete(slot);
      model.delete(slot);
    } else {
      names.add(slot);
      model.add(slot);
    }
    if (i % 997 === 0) {
      const sorted = namesOf(model).sort();
      expect(namesOf(names.after('', sorted.length + 1))).toEqual(sorted);
      const pivot = sorted[rng.nextInt(sorted.length)] ?? '';
      expect(namesOf(names.after(pivot, 10))).toEqual(sorted.filter((s) => s > pivot).slice(0, 10));
    }
  }
  expect(names.size).toBe(model.size);
  const filled = new SortedNames(list);
  filled.fill(Int32Array.from(model));
  expect(filled.after('', model.size + 1)).toEqual(names.after('', model.size + 1));
});

it('ExpiryIndex finds exactly the due ids, earliest seconds first', () => {
  const rng = new SeededRng(11);
  const model = new Map<number, number>();
  const index = new ExpiryIndex((id) => model.get(id) ?? Infinity);
  for (let i = 0; i < 5_000; i++) {
    const id = rng.nextInt(800);
    const deadline = rng.nextInt(4) === 0 ? Infinity : rng.nextInt(60_000);
    index.remove(id, model.get(id) ?? Infinity);
    index.add(id, deadline);
    if (deadline === Infinity) model.delete(id);
    else model.set(id, deadline);
    if (rng.nextInt(10) === 0) {
      index.remove(id, model.get(id) ?? Infinity);
      model.delete(id);
    }
  }
  for (const now of [0, 999, 1_000, 30_500, 60_000]) {
    const expected = [...model].filter(([, d]) => d <= now);
    const due = index.due(now, 1e9);
    expect(new Set(due)).toEqual(new Set(expected.map(([id]) => id)));
    const seconds = due.map((id) => Math.floor((model.get(id) ?? 0) / 1000));
    expect(seconds).toEqual([...seconds].sort((a, b) => a - b));
    expect(index.overdue(now).rooms).toBe(expected.length);
  }
  expect(index.size).toBe(model.size);
});
