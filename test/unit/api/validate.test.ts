/**
 * Goal: text that has no UTF-8 form is refused, never rewritten (issue 12 item 10), and the
 * byte scan that runs before JSON.parse bounds depth and items exactly (item 2). Method: call
 * the validators, decode hand-built protobuf through the strict reader, scan crafted bodies.
 */
import { describe, expect, it } from 'vitest';
import { scanJsonShape } from '../../../src/api/json-scan.js';
import { strictReader, validateMetadata, validateNames, validateRoomName } from '../../../src/api/validate.js';
import { CreateRoomRequest } from '../../../src/gen/roomregistry/v1/rooms.js';
import { RegistryError } from '../../../src/lib/errors.js';

function codeOf(f: () => unknown): string | null {
  try {
    f();
    return null;
  } catch (e) {
    return e instanceof RegistryError ? e.code : 'not a RegistryError';
  }
}

describe('UTF-8', () => {
  it('refuses lone surrogates in names and metadata, accepts pairs and U+FFFD itself', () => {
    expect(codeOf(() => validateRoomName('room\uD800'))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => validateRoomName('\uDC00room'))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => validateRoomName('a\uDC00\uD800b'))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => validateNames(['ok', 'x\uD83D']))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => validateMetadata('{"v":"\uDFFF"}'))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => validateRoomName('smile \uD83D\uDE00'))).toBeNull();
    expect(codeOf(() => validateRoomName('replacement \uFFFD'))).toBeNull();
  });

  it('decodes protobuf strings strictly: invalid bytes are INVALID_ARGUMENT, valid ones pass', () => {
    const encoded = (name: number[]): Uint8Array => new Uint8Array([0x0a, name.length, ...name]);
    expect(codeOf(() => CreateRoomRequest.decode(strictReader(encoded([0x61, 0xff]))))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => CreateRoomRequest.decode(strictReader(encoded([0xed, 0xa0, 0x80]))))).toBe('INVALID_ARGUMENT'); // an encoded surrogate
    expect(codeOf(() => CreateRoomRequest.decode(strictReader(encoded([0xf0, 0x9f, 0x98]))))).toBe('INVALID_ARGUMENT'); // truncated
    expect(CreateRoomRequest.decode(strictReader(encoded([0x61, 0xc3, 0xa9]))).name).toBe('aé');
    expect(CreateRoomRequest.decode(strictReader(encoded([0xef, 0xbf, 0xbd]))).name).toBe('\uFFFD');
  });
});

describe('scanJsonShape', () => {
  const scan = (s: string): string | null => scanJsonShape(Buffer.from(s), 64, 10);
  const nest = (levels: number): string => `${'['.repeat(levels)}${']'.repeat(levels)}`;

  it('allows 64 levels and refuses 65', () => {
    expect(scan(nest(64))).toBeNull();
    expect(scan(nest(65))).toMatch(/deeper than 64/);
    expect(scan(`{"a":${nest(63)}}`)).toBeNull();
    expect(scan(`{"a":${nest(64)}}`)).toMatch(/deeper than 64/);
  });

  it('skips strings, escaped quotes and backslashes included', () => {
    expect(scan(`{"a":"${'['.repeat(100)}"}`)).toBeNull();
    expect(scan(`{"a":"\\"${'['.repeat(100)}"}`)).toBeNull();
    expect(scan(`{"a":"\\\\"}${nest(65)}`)).toMatch(/deeper/); // the string ends after an escaped backslash
    expect(scan(`{"a":"${','.repeat(100)}"}`)).toBeNull();
  });

  it('counts commas and colons', () => {
    expect(scan(`[${'0,'.repeat(11)}0]`)).toMatch(/more than 10 items/);
    expect(scan(`[${'0,'.repeat(10)}0]`)).toBeNull();
    expect(scan(`{${'"k":0,'.repeat(5)}"k":0}`)).toMatch(/more than 10 items/);
  });
});
