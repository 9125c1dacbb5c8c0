/**
 * Room names as UTF-8 bytes (issue 17): the room table and the indexes beside it keep no name
 * strings; they compare and hash the names' bytes where the records hold them. A name given as
 * a string (a lookup, a page token's "after" name) is encoded once into a reused NameKey.
 */

/**
 * SlotNames orders rooms, named by their slots, by their names' UTF-8 bytes (the room table):
 * byte order, which is code-point order, not JS string order (UTF-16 code units).
 */
export interface SlotNames {
  compareSlots(a: number, b: number): number;
  /** compareSlotTo orders slot's name against key's bytes. */
  compareSlotTo(slot: number, key: NameKey): number;
}

/** NameKey is a name encoded into a reused buffer, so a lookup allocates nothing. */
export class NameKey {
  bytes = Buffer.allocUnsafe(1024);
  length = 0;

  /** set encodes `name` (a lone surrogate as U+FFFD, as the records' encoder does). */
  set(name: string): this {
    const n = name.length;
    if (n * 3 > this.bytes.byteLength) this.bytes = Buffer.allocUnsafe(n * 3);
    // ASCII by hand: on short names the native encoder's call costs more than this loop.
    for (let i = 0; i < n; i++) {
      const c = name.charCodeAt(i);
      if (c >= 0x80) {
        this.length = this.bytes.write(name, 0, 'utf8');
        return this;
      }
      this.bytes[i] = c;
    }
    this.length = n;
    return this;
  }
}

/** compareBytes orders a[aStart, aEnd) against b[bStart, bEnd) bytewise (a prefix first). */
export function compareBytes(
  a: Uint8Array,
  aStart: number,
  aEnd: number,
  b: Uint8Array,
  bStart: number,
  bEnd: number,
): number {
  const n = Math.min(aEnd - aStart, bEnd - bStart);
  for (let i = 0; i < n; i++) {
    const d = (a[aStart + i] ?? 0) - (b[bStart + i] ?? 0);
    if (d !== 0) return d;
  }
  return aEnd - aStart - (bEnd - bStart);
}

/** FNV_OFFSET_BASIS: FNV-1a's starting value, hashBytes's default seed. */
const FNV_OFFSET_BASIS = 0x811c9dc5;

/**
 * hashBytes is FNV-1a over bytes[start, end) with murmur3's final mix, so the low bits (the
 * probe start) spread too; a 32-bit signed integer, as an Int32Array keeps it. `seed` replaces
 * FNV's starting value, to hash a key of a number and bytes (the dedup table's API key id and
 * request id) without joining them first.
 */
export function hashBytes(bytes: Uint8Array, start: number, end: number, seed = FNV_OFFSET_BASIS): number {
  let h = seed;
  for (let i = start; i < end; i++) h = Math.imul(h ^ (bytes[i] ?? 0), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
