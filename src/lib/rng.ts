/**
 * Rng is the only source of randomness the pure layers see. The simulator injects one seeded
 * generator for a whole run, so a seed replays exactly; the node injects a crypto-seeded one.
 */
export interface Rng {
  /** nextInt returns an integer in [0, maxExclusive). */
  nextInt(maxExclusive: number): number;
  /** nextFloat returns a number in [0, 1). */
  nextFloat(): number;
}

/**
 * SeededRng is xoshiro128** seeded through splitmix32: fast, small state, and good enough
 * statistical quality for fault schedules and election jitter. Not for secrets.
 */
export class SeededRng implements Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    let x = seed >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    this.s0 >>>= 0;
    this.s1 >>>= 0;
    this.s2 >>>= 0;
    return result;
  }

  nextFloat(): number {
    return this.nextUint32() / 0x1_0000_0000;
  }

  nextInt(maxExclusive: number): number {
    if (!(maxExclusive >= 1)) throw new RangeError(`nextInt: maxExclusive must be >= 1, got ${maxExclusive}`);
    return Math.floor(this.nextFloat() * maxExclusive);
  }

  /** chance returns true with probability p. */
  chance(p: number): boolean {
    return this.nextFloat() < p;
  }

  /** pick returns a uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    const item = items[this.nextInt(items.length)];
    if (item === undefined) throw new RangeError('pick: empty array');
    return item;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
