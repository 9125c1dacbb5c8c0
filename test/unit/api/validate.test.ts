/**
 * Goal: text that has no UTF-8 form is refused, never rewritten (issue 12 item 10), and the
 * byte scan that runs before JSON.parse bounds depth and items exactly (item 2). Method: call
 * the validators, decode hand-built protobuf through the strict reader, scan crafted bodies.
 */
import { describe, expect, it } from 'vitest';
import { scanJsonShape, scanProtobufShape } from '../../../src/api/request-scan.js';
import { SESSION_CALL_FIELDS } from '../../../src/api/grpc-session.js';
import {
  API_LIMITS,
  requestIdOf,
  strictReader,
  uniqueNames,
  utf8Bytes,
  validateMetadata,
  validateNames,
  validateNodeId,
  validatePageSize,
  validateRequestId,
  validateRoomName,
  validateTimeout,
} from '../../../src/api/validate.js';
import { CreateRoomRequest, ListRoomsRequest, SessionRequest } from '../../../src/gen/roomregistry/v1/rooms.js';
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

  it("walks a Session request's wrapped call and counts its fields against the same bound", () => {
    const wrapped = (names: number): Uint8Array =>
      SessionRequest.encode({
        id: 1,
        timeoutMs: 100,
        request: { $case: 'listRooms', value: ListRoomsRequest.fromPartial({ names: Array(names).fill('') }) },
      }).finish();
    // id, timeout_ms and the call are 3 fields; the wrapped ListRooms adds one per name.
    expect(scanProtobufShape(wrapped(7), 10, SESSION_CALL_FIELDS)).toBeNull();
    expect(scanProtobufShape(wrapped(8), 10, SESSION_CALL_FIELDS)).toMatch(/more than 10 fields/);
    expect(scanProtobufShape(wrapped(8), 10)).toBeNull();
    // The oneof's numbers in rooms.proto are the ones the scan walks.
    const tag = (r: SessionRequest['request']): number =>
      (SessionRequest.encode({ id: 0, timeoutMs: 0, request: r }).finish()[0] ?? 0) >> 3;
    expect(tag({ $case: 'createRoom', value: CreateRoomRequest.fromPartial({}) })).toBe(10);
    expect(tag({ $case: 'listMediaNodes', value: { region: '', consistency: 0 } })).toBe(17);
  });
});

describe('field limits', () => {
  const invalid = (f: () => unknown): void => {
    expect(f).toThrow(RegistryError);
    try {
      f();
    } catch (e) {
      expect((e as RegistryError).code).toBe('INVALID_ARGUMENT');
    }
  };

  it('counts UTF-8 bytes, not UTF-16 units', () => {
    expect(utf8Bytes('abc')).toBe(3);
    expect(utf8Bytes('é')).toBe(2);
    expect(utf8Bytes('😀')).toBe(4);
    // As an encoder writes them: a lone surrogate becomes U+FFFD.
    for (const s of ['\ud800', 'a\udc00b', '😀\ud83d'])
      expect(utf8Bytes(s)).toBe(new TextEncoder().encode(s).byteLength);
  });

  it('bounds names in bytes: the limit passes, one byte more and empty do not', () => {
    expect(() => validateRoomName('r'.repeat(API_LIMITS.roomNameBytesMax))).not.toThrow();
    invalid(() => validateRoomName('r'.repeat(API_LIMITS.roomNameBytesMax + 1)));
    invalid(() => validateRoomName('é'.repeat(API_LIMITS.roomNameBytesMax / 2 + 1)));
    invalid(() => validateRoomName(''));
  });

  it('bounds metadata, node ids and request ids in bytes', () => {
    expect(() => validateMetadata('m'.repeat(API_LIMITS.metadataBytesMax))).not.toThrow();
    invalid(() => validateMetadata('m'.repeat(API_LIMITS.metadataBytesMax + 1)));
    expect(() => validateNodeId('n'.repeat(API_LIMITS.nodeIdBytesMax))).not.toThrow();
    invalid(() => validateNodeId('n'.repeat(API_LIMITS.nodeIdBytesMax + 1)));
    expect(() => validateRequestId('')).not.toThrow();
    expect(() => validateRequestId('q'.repeat(API_LIMITS.requestIdBytesMax))).not.toThrow();
    invalid(() => validateRequestId('q'.repeat(API_LIMITS.requestIdBytesMax + 1)));
    invalid(() => validateRequestId('\ud800'));
  });

  it('takes timeouts as whole seconds in range', () => {
    expect(() => validateTimeout(0, 'empty_timeout')).not.toThrow();
    expect(() => validateTimeout(API_LIMITS.timeoutSecondsMax, 'empty_timeout')).not.toThrow();
    invalid(() => validateTimeout(API_LIMITS.timeoutSecondsMax + 1, 'empty_timeout'));
    invalid(() => validateTimeout(-1, 'empty_timeout'));
    invalid(() => validateTimeout(1.5, 'empty_timeout'));
  });

  it('defaults a page size of 0 and bounds the rest', () => {
    expect(validatePageSize(0)).toBe(API_LIMITS.listPageSizeDefault);
    expect(validatePageSize(API_LIMITS.listPageSizeMax)).toBe(API_LIMITS.listPageSizeMax);
    invalid(() => validatePageSize(API_LIMITS.listPageSizeMax + 1));
    invalid(() => validatePageSize(-1));
  });

  it('bounds a names list by count and each name by bytes; repeated names are one', () => {
    expect(() => validateNames(Array.from({ length: API_LIMITS.listNamesMax }, (_, i) => `r${i}`))).not.toThrow();
    invalid(() => validateNames(Array.from({ length: API_LIMITS.listNamesMax + 1 }, (_, i) => `r${i}`)));
    invalid(() => validateNames(['r'.repeat(API_LIMITS.roomNameBytesMax + 1)]));
    expect(uniqueNames(['b', 'a', 'b', 'a', 'c'])).toEqual(['b', 'a', 'c']);
  });
});

describe('requestIdOf', () => {
  it('takes the body first, then the header, and nothing that is not one string', () => {
    expect(requestIdOf('from-body', 'from-header')).toBe('from-body');
    expect(requestIdOf('', 'from-header')).toBe('from-header');
    expect(requestIdOf(undefined, 'from-header')).toBe('from-header');
    expect(requestIdOf(undefined, ['a', 'b'])).toBe('');
    expect(requestIdOf(undefined, Buffer.from('x'))).toBe('');
    expect(requestIdOf(undefined, undefined)).toBe('');
  });

  it('never cuts a key short, so a too-long one is refused rather than confused with another', () => {
    const long = 'k'.repeat(API_LIMITS.requestIdBytesMax + 10);
    expect(requestIdOf(undefined, long)).toBe(long);
    expect(() => validateRequestId(requestIdOf(undefined, long))).toThrow(RegistryError);
  });
});
