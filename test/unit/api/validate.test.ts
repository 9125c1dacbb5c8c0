/**
 * Goal: text that has no UTF-8 form is refused, never rewritten (issue 12 item 10), and the
 * byte scan that runs before JSON.parse bounds depth and items exactly (item 2). Method: call
 * the validators, decode hand-built protobuf through the strict reader, scan crafted bodies.
 */
import { describe, expect, it } from 'vitest';
import { scanJsonShape, scanProtobufShape } from '../../../src/api/request-scan.js';
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

describe('scanProtobufShape', () => {
  it('passes a valid request and counts top-level fields of every wire type', () => {
    const valid = CreateRoomRequest.encode({
      ...CreateRoomRequest.fromPartial({ name: 'room', emptyTimeout: 300, metadata: 'm'.repeat(1000) }),
    }).finish();
    expect(scanProtobufShape(valid, 10)).toBeNull();
    const names = (n: number): Uint8Array => new Uint8Array(Array.from({ length: n }, () => [0x0a, 0x00]).flat());
    expect(scanProtobufShape(names(10), 10)).toBeNull();
    expect(scanProtobufShape(names(11), 10)).toMatch(/more than 10 fields/);
    const mixed = new Uint8Array([
      0x08, 0x96, 0x01, 0x11, 1, 2, 3, 4, 5, 6, 7, 8, 0x1d, 1, 2, 3, 4, 0x22, 0x02, 0x41, 0x42,
    ]);
    expect(scanProtobufShape(mixed, 4)).toBeNull();
    expect(scanProtobufShape(mixed, 3)).toMatch(/more than 3 fields/);
  });

  it('refuses groups and leaves truncated input to the decoder', () => {
    expect(scanProtobufShape(new Uint8Array([0x0b, 0x0c]), 10)).toMatch(/wire type 3/);
    expect(scanProtobufShape(new Uint8Array([0x0a, 0x80]), 10)).toBeNull();
    expect(scanProtobufShape(new Uint8Array([0x0a, 0x10, 0x41]), 10)).toBeNull();
  });
});
