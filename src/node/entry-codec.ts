import { assert } from '../lib/assert.js';
import { type Result, err, ok } from '../lib/result.js';

/**
 * A command entry's bytes: [u8 format = 2][f64 entryTimeMs][f64 quotaBytes][payload]. The
 * leader stamps the time and its state quota when it proposes, so every replica applies the
 * entry with the same clock reading and the same quota: the state machine reads neither a
 * clock nor a setting of its own (DESIGN §2, §10). Format 1 ([u8 1][f64 entryTimeMs][payload])
 * was written before the quota existed; it still decodes, with no quota (Infinity).
 */
const ENTRY_FORMAT_V1 = 1;
const ENTRY_FORMAT_V2 = 2;
const HEADER_V1_BYTES = 9;
const HEADER_V2_BYTES = 17;

export function encodeCommandEntry(entryTimeMs: number, payload: Uint8Array, quotaBytes: number): Uint8Array {
  assert(
    Number.isFinite(entryTimeMs) && entryTimeMs >= 0,
    `entry time ${entryTimeMs} must be a finite, non-negative number`,
  );
  assert(
    Number.isSafeInteger(quotaBytes) && quotaBytes > 0,
    `state quota ${quotaBytes} must be a positive whole number of bytes`,
  );
  const out = new Uint8Array(HEADER_V2_BYTES + payload.byteLength);
  const view = new DataView(out.buffer);
  view.setUint8(0, ENTRY_FORMAT_V2);
  view.setFloat64(1, entryTimeMs, true);
  view.setFloat64(9, quotaBytes, true);
  out.set(payload, HEADER_V2_BYTES);
  return out;
}

export interface CommandEntry {
  readonly entryTimeMs: number;
  /** quotaBytes: the state quota the leader stamped; Infinity for a format 1 entry. */
  readonly quotaBytes: number;
  readonly payload: Uint8Array;
}

export function decodeCommandEntry(data: Uint8Array): Result<CommandEntry, string> {
  if (data.byteLength < 1) return err('command entry is empty');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const format = view.getUint8(0);
  const headerBytes = format === ENTRY_FORMAT_V1 ? HEADER_V1_BYTES : HEADER_V2_BYTES;
  if (format !== ENTRY_FORMAT_V1 && format !== ENTRY_FORMAT_V2) {
    return err(`command entry format ${format} is unknown (this node knows ${ENTRY_FORMAT_V1} and ${ENTRY_FORMAT_V2})`);
  }
  if (data.byteLength < headerBytes) return err(`command entry of ${data.byteLength} bytes is shorter than its header`);
  const quotaBytes = format === ENTRY_FORMAT_V1 ? Infinity : view.getFloat64(9, true);
  if (!(quotaBytes > 0)) return err(`command entry carries state quota ${quotaBytes}, not a positive number`);
  return ok({ entryTimeMs: view.getFloat64(1, true), quotaBytes, payload: data.subarray(headerBytes) });
}
