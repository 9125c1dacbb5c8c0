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
