// Goal: MemoryLogStorage over its packed log (entry bytes copied into shared slabs) answers
// exactly as a plain Entry[] does through any mix of appends, conflicting suffixes that truncate,
// compactions and snapshot installs; a view of an entry's bytes handed out once keeps those
// bytes whatever comes after; slabs are freed as their entries go, and the per-entry arrays do
// not grow while the log slides forward. Method: seeded random operations checked against a
// plain model after every step, with data from empty to larger than a slab, given to append as
// views of shared batch buffers that the test scribbles over afterwards. A failing seed prints
// PACKED_LOG_SEED=N; `PACKED_LOG_SEED=N npx vitest run test/unit/raft/packed-log.test.ts` reruns it alone.
import { describe, expect, it } from 'vitest';
import { type Term, index, term } from '../../../src/lib/ids.js';
import { SeededRng } from '../../../src/lib/rng.js';
import { MemoryLogStorage } from '../../../src/raft/log-storage.js';
import type { PackedLog } from '../../../src/raft/packed-log.js';
import type { Entry, EntryKind, SnapshotMeta } from '../../../src/raft/types.js';

const SLAB_BYTES = 1 << 20;
const SEED_FROM_ENV = process.env['PACKED_LOG_SEED'];
const SEEDS = SEED_FROM_ENV === undefined ? Array.from({ length: 25 }, (_, k) => k + 1) : [Number(SEED_FROM_ENV)];
const STEPS = 300;
/** VIEWS_KEPT: how many earlier-read views the test re-checks after each step. */
const VIEWS_KEPT = 200;

/** packedOf reaches the storage's private packed log, to recount its slabs after every step. */
function packedOf(s: MemoryLogStorage): PackedLog {
  return (s as unknown as { log: PackedLog }).log;
}

function meta(i: number, t: number): SnapshotMeta {
  return { index: index(i), term: term(t), voters: [], learners: [], contexts: {} };
}

/** Model is the log as a plain array after a snapshot base, holding its own copies of the bytes. */
class Model {
  base = meta(0, 0);
  log: Entry[] = [];

  last(): number {
    return this.base.index + this.log.length;
  }

  term(i: number): Term | null {
    if (i === this.base.index) return this.base.term;
    return this.log[i - this.base.index - 1]?.term ?? null;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const out: Entry[] = [];
    let bytes = 0;
    for (const e of this.log.slice(lo - this.base.index - 1, hi - this.base.index - 1)) {
      bytes += e.data.byteLength;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }
}

/** dataBytes draws a size: mostly a few hundred bytes, sometimes empty, large, or larger than a slab. */
function dataBytes(rng: SeededRng): number {
  const r = rng.nextInt(100);
  if (r < 8) return 0;
  if (r < 78) return 1 + rng.nextInt(600);
  if (r < 95) return 600 + rng.nextInt(20_000);
  if (r < 99) return 100_000 + rng.nextInt(200_000);
  return SLAB_BYTES + rng.nextInt(300_000);
}

/**
 * fillBytes writes a pattern of this entry's tag, so misplaced or overwritten bytes show: every
 * byte of a small entry, and a sample of every large one's (writing each byte of megabytes
 * slowed the test tenfold).
 */
function fillBytes(into: Uint8Array, tag: number): void {
  into.fill(tag & 0xff);
  const stride = into.byteLength > 4096 ? 61 : 1;
  for (let j = 0; j < into.byteLength; j += stride) into[j] = (tag * 131 + j * 7) & 0xff;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

function sameEntries(got: readonly Entry[], want: readonly Entry[]): string | null {
  if (got.length !== want.length) return `${got.length} entries, want ${want.length}`;
  for (let k = 0; k < got.length; k++) {
    const g = got[k];
    const w = want[k];
    if (g === undefined || w === undefined) return `entry ${k} missing`;
    if (g.index !== w.index || g.term !== w.term || g.kind !== w.kind) {
      return `entry ${k}: ${g.index}/${g.term}/${g.kind}, want ${w.index}/${w.term}/${w.kind}`;
    }
    if (!sameBytes(g.data, w.data)) return `entry ${w.index}: data differ (${g.data.byteLength} bytes)`;
  }
  return null;
}

class Run {
  readonly rng: SeededRng;
  readonly storage = new MemoryLogStorage();
  readonly model = new Model();
  /** views: data read earlier with a copy of what they held, re-checked after every step. */
  views: { view: Uint8Array; want: Uint8Array }[] = [];
  tag = 0;
  currentTerm = 1;

  constructor(seed: number) {
    this.rng = new SeededRng(seed);
  }

  step(): void {
    const r = this.rng.nextInt(100);
    if (r < 45) this.append();
    else if (r < 85) this.read();
    else if (r < 97) this.compact();
    else this.installSnapshot();
    this.check();
  }

  /** append writes a batch, from one past the last entry or (a conflicting suffix) from inside the log. */
  append(): void {
    const firstHeld = this.model.base.index + 1;
    const last = this.model.last();
    const from = this.rng.chance(0.7) ? last + 1 : firstHeld + this.rng.nextInt(last + 2 - firstHeld);
    if (from <= last) this.currentTerm++;
    const count = this.rng.chance(0.1) ? 20 + this.rng.nextInt(80) : 1 + this.rng.nextInt(8);
    const sizes = Array.from({ length: count }, () => dataBytes(this.rng));
    // One buffer for the whole batch, as a follower receives them; scribbled over after the append.
    const batch = new Uint8Array(sizes.reduce((a, b) => a + b, 0));
    const entries: Entry[] = [];
    let at = 0;
    sizes.forEach((bytes, k) => {
      const data = batch.subarray(at, at + bytes);
      at += bytes;
      fillBytes(data, ++this.tag);
      const kind: EntryKind = bytes === 0 ? 'noop' : this.rng.chance(0.05) ? 'config' : 'command';
      entries.push({ index: index(from + k), term: term(this.currentTerm), kind, data });
    });
    this.storage.append(entries);
    this.model.log.length = from - this.model.base.index - 1;
    this.model.log.push(...entries.map((e) => ({ ...e, data: e.data.slice() })));
    batch.fill(0xee);
  }

  read(): void {
    const first = this.model.base.index + 1;
    const last = this.model.last();
    const lo = first + this.rng.nextInt(last + 2 - first);
    const hi = lo + this.rng.nextInt(last + 2 - lo);
    const maxBytes = this.rng.chance(0.3) ? Infinity : this.rng.nextInt(3 * SLAB_BYTES);
    const got = this.storage.entries(index(lo), index(hi), maxBytes);
    const diff = sameEntries(got, this.model.entries(lo, hi, maxBytes));
    if (diff !== null) throw new Error(`entries [${lo},${hi}) max ${maxBytes}: ${diff}`);
    for (const e of got) {
      if (this.rng.chance(0.2)) this.views.push({ view: e.data, want: e.data.slice() });
    }
    if (this.views.length > VIEWS_KEPT) this.views = this.views.slice(-VIEWS_KEPT);
  }

  compact(): void {
    const base = this.model.base.index;
    const at = base + this.rng.nextInt(this.model.last() - base + 1);
    const t = this.model.term(at);
    if (t === null) throw new Error(`model has no term at ${at}`);
    this.storage.compact(meta(at, t));
    if (at > base) {
      this.model.log = this.model.log.slice(at - base);
      this.model.base = meta(at, t);
    }
  }

  /** installSnapshot rebases on a snapshot at or past the last entry (the log does not hold its entry). */
  installSnapshot(): void {
    const at = this.model.last() + 1 + this.rng.nextInt(5);
    this.currentTerm++;
    this.storage.applySnapshot(meta(at, this.currentTerm));
    this.model.base = meta(at, this.currentTerm);
    this.model.log = [];
    expect(packedOf(this.storage).slabBytes).toBe(0);
    expect(packedOf(this.storage).capacity).toBe(1024);
  }

  check(): void {
    const s = this.storage;
    const m = this.model;
    expect(s.firstIndex()).toBe(m.base.index + 1);
    expect(s.lastIndex()).toBe(m.last());
    for (let k = 0; k < 4; k++) {
      const i = m.base.index - 1 + this.rng.nextInt(m.log.length + 3);
      if (i >= 0) expect(s.term(index(i)), `term(${i})`).toBe(m.term(i));
    }
    for (const { view, want } of this.views) {
      if (!sameBytes(view, want)) throw new Error(`a view of ${want.byteLength} bytes read earlier changed`);
    }
    const packed = packedOf(s);
    packed.checkInvariants();
    const held = m.log.reduce((a, e) => a + e.data.byteLength, 0);
    // Slabs hold what is held with at most an eighth of each unused, plus the slab being filled
    // and the one the first entry is in (mostly compacted). Space a truncated suffix leaves in a
    // slab that keeps other entries is not counted: these seeds truncate too little to show it.
    expect(packed.slabBytes).toBeLessThanOrEqual((held * 8) / 7 + 2 * SLAB_BYTES);
  }
}

describe('MemoryLogStorage over a packed log', () => {
  for (const seed of SEEDS) {
    it(`matches a plain array, seed ${seed}`, () => {
      const run = new Run(seed);
      for (let step = 0; step < STEPS; step++) {
        try {
          run.step();
        } catch (e) {
          throw new Error(`PACKED_LOG_SEED=${seed} step ${step}: ${e instanceof Error ? e.message : String(e)}`, {
            cause: e,
          });
        }
      }
    });
  }

  it('slides forward without growing its arrays or keeping slabs', () => {
    const s = new MemoryLogStorage();
    const data = new Uint8Array(300).fill(7);
    const heldMax = 100;
    for (let i = 1; i <= 100_000; i++) {
      s.append([{ index: index(i), term: term(1), kind: 'command', data }]);
      if (i > heldMax) s.compact(meta(i - heldMax, 1));
    }
    const packed = packedOf(s);
    expect(s.lastIndex() - s.firstIndex() + 1).toBe(heldMax);
    expect(packed.capacity).toBe(1024);
    expect(packed.slabBytes).toBeLessThanOrEqual(2 * SLAB_BYTES);
    packed.checkInvariants();
  });

  it('keeps the bytes of a truncated suffix in views handed out, and writes after them', () => {
    const s = new MemoryLogStorage();
    const e = (i: number, t: number, fill: number): Entry => ({
      index: index(i),
      term: term(t),
      kind: 'command',
      data: new Uint8Array(100).fill(fill),
    });
    s.append([e(1, 1, 1), e(2, 1, 2), e(3, 1, 3)]);
    const [, old2, old3] = s.entries(index(1), index(4), Infinity);
    s.append([e(2, 2, 9), e(3, 2, 9), e(4, 2, 9)]);
    expect(old2?.data).toEqual(new Uint8Array(100).fill(2));
    expect(old3?.data).toEqual(new Uint8Array(100).fill(3));
    const now = s.entries(index(1), index(5), Infinity);
    expect(now.map((x) => [x.index, x.term, x.data[0]])).toEqual([
      [1, 1, 1],
      [2, 2, 9],
      [3, 2, 9],
      [4, 2, 9],
    ]);
    // maxBytes: at least one entry, and none that would pass it.
    expect(s.entries(index(1), index(5), 0).length).toBe(1);
    expect(s.entries(index(1), index(5), 250).length).toBe(2);
    expect(s.entries(index(2), index(2), 0)).toEqual([]);
  });
});
