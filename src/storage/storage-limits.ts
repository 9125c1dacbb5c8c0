/**
 * The bounds of src/storage, named once (STYLE rule 7). Each comment gives the trade-off.
 */
export const STORAGE_LIMITS = Object.freeze({
  /**
   * walSegmentBytesMax: a segment is closed and a new one started past this size. Smaller
   * segments free disk sooner after a snapshot; larger ones mean fewer files and renames.
   * 64 MiB holds about 300 000 typical room commands.
   */
  walSegmentBytesMax: 64 << 20,
  /**
   * recordBytesMax: the largest record (one entry, one snapshot chunk). It must exceed the
   * largest command (config LIMITS.commandBytesMax, 1 MiB) with room for framing; a length
   * above it in a file is damage, not a record.
   */
  recordBytesMax: 32 << 20,
});

/**
 * SECTOR_BYTES: the unit a disk writes atomically (512 B on every disk we target; 4 KiB-sector
 * disks write 512 B-aligned runs too). A torn write loses whole sectors: recovery looks for a
 * zeroed one in a damaged record (wal.ts tornAt), and the power-loss layer tears by it.
 */
export const SECTOR_BYTES = 512;
