/**
 * Binary searches over ascending arrays of strings or numbers (compared with `<`, so strings
 * by UTF-16 code units: the same order on every replica).
 */

/** lowerBound is the first position whose value is not below x (a.length when none). */
export function lowerBound<T extends string | number>(a: readonly T[], x: T): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((a[mid] as T) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** upperBound is the first position whose value is above x (a.length when none). */
export function upperBound<T extends string | number>(a: readonly T[], x: T): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((a[mid] as T) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
