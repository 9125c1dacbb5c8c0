import { assert } from '../lib/assert.js';

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The shape scans run on a request's bytes before it is decoded and refuse what would make the
 * decoder work far longer than any valid request needs (DESIGN §10: no request holds the
 * event loop for more than ~50 ms). Each returns the reason it refuses, or null.
 */

/**
 * scanJsonShape walks a JSON body's bytes once, before JSON.parse, and says why it is refused
 * (or null): nesting deeper than `depthMax`, or more than `itemsMax` commas and colons. JSON.parse
 * recurses per level and allocates per value, so these two bound its time; the scan itself
 * allocates nothing and costs about a millisecond per MiB. Bytes inside strings are skipped
 * (escapes included); anything else malformed is left to JSON.parse.
 */
export function scanJsonShape(bytes: Uint8Array, depthMax: number, itemsMax: number): string | null {
  assert(depthMax > 0 && itemsMax > 0, 'json scan bounds must be positive');
  let depth = 0;
  let items = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
      continue;
    }
    if (b === QUOTE) {
      inString = true;
    } else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
      if (++depth > depthMax) return `the json request nests deeper than ${depthMax} levels`;
    } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
      depth--;
    } else if ((b === COMMA || b === COLON) && ++items > itemsMax) {
      return `the json request has more than ${itemsMax} items`;
    }
  }
  return null;
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

/**
 * scanProtobufShape walks the top-level fields of a protobuf message and refuses more than
 * `fieldsMax` of them, or a wire type our requests never use (groups). 270 000 empty strings fit
 * in 540 KB and take the decoder tens of ms to allocate; a valid request has at most one field
 * per ListRooms name. Truncated input is left to the decoder, which reports it. The fields named
 * in `nested` hold a message that is walked too (a Session request wraps a unary one), and its
 * fields count against the same `fieldsMax`, so wrapping many requests in one buys nothing
 * (one level deep, as the wrapped request's unary method walks it).
 */
export function scanProtobufShape(
  bytes: Uint8Array,
  fieldsMax: number,
  nested: ReadonlySet<number> = NO_NESTED_FIELDS,
): string | null {
  assert(fieldsMax > 0, 'protobuf scan bound must be positive');
  return scanFields(bytes, { fieldsMax, fieldsLeft: fieldsMax }, nested);
}

const NO_NESTED_FIELDS: ReadonlySet<number> = new Set();

/** scanFields walks one message's fields for scanProtobufShape, spending the shared budget. */
function scanFields(
  bytes: Uint8Array,
  budget: { readonly fieldsMax: number; fieldsLeft: number },
  nested: ReadonlySet<number>,
): string | null {
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; shift < 35 && pos < bytes.length; shift += 7) {
      const b = bytes[pos++] as number;
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
    return Number.NaN; // too long or truncated
  };
  while (pos < bytes.length) {
    if (--budget.fieldsLeft < 0) return `the protobuf request has more than ${budget.fieldsMax} fields`;
    const tag = varint();
    if (Number.isNaN(tag)) return null;
    const wireType = tag % 8;
    if (wireType === WIRE_VARINT) {
      while (pos < bytes.length && (bytes[pos++] as number) >= 0x80);
    } else if (wireType === WIRE_FIXED64) {
      pos += 8;
    } else if (wireType === WIRE_LENGTH_DELIMITED) {
      const length = varint();
      if (Number.isNaN(length)) return null;
      const inner = nested.has(Math.floor(tag / 8))
        ? scanFields(bytes.subarray(pos, pos + length), budget, NO_NESTED_FIELDS)
        : null;
      if (inner !== null) return inner;
      pos += length;
    } else if (wireType === WIRE_FIXED32) {
      pos += 4;
    } else {
      return `the protobuf request uses wire type ${wireType}`;
    }
  }
  return null;
}
