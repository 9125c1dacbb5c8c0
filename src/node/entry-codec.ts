import { assert } from '../lib/assert.js';
import { type Result, err, ok } from '../lib/result.js';

/**
 * A command entry's bytes: [u8 format = 1][f64 entryTimeMs][payload]. The leader stamps the
 * time when it proposes, so every replica applies the entry with the same clock reading and
 * the state machine never reads a clock of its own (DESIGN §2).
 */
const ENTRY_FORMAT_V1 = 1;
const HEADER_BYTES = 9;

export function encodeCommandEntry(entryTimeMs: number, payload: Uint8Array): Uint8Array {
  assert(Number.isFinite(entryTimeMs) && entryTimeMs >= 0, `entry time ${entryTimeMs} must be a finite, non-negative number`);
  const out = new Uint8Array(HEADER_BYTES + payload.byteLength);
  const view = new DataView(out.buffer);
  view.setUint8(0, ENTRY_FORMAT_V1);
  view.setFloat64(1, entryTimeMs, true);
  out.set(payload, HEADER_BYTES);
  return out;
}

export interface CommandEntry {
  readonly entryTimeMs: number;
  readonly payload: Uint8Array;
}

export function decodeCommandEntry(data: Uint8Array): Result<CommandEntry, string> {
  if (data.byteLength < HEADER_BYTES) return err(`command entry of ${data.byteLength} bytes is shorter than its header`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const format = view.getUint8(0);
  if (format !== ENTRY_FORMAT_V1) return err(`command entry format ${format} is unknown (this node knows ${ENTRY_FORMAT_V1})`);
  return ok({ entryTimeMs: view.getFloat64(1, true), payload: data.subarray(HEADER_BYTES) });
}
