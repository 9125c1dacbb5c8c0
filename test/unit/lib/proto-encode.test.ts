// Goal: an encode that throws leaves nothing behind in the shared protobuf writer (issue 13
// finding 8), and withEncoded (the room table's copy-free encode, issue 17) hands out exactly
// one message's bytes each time. Method: a codec that writes a field and then throws, followed
// by a real message, whose bytes must equal its encoding by a fresh writer.
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { expect, test } from 'vitest';
import { encodeMessage, withEncoded } from '../../../src/lib/proto-encode.js';

const oneField = {
  encode(message: { n: number }, writer: BinaryWriter = new BinaryWriter()): BinaryWriter {
    return writer.uint32(8).int32(message.n);
  },
};

const breaksHalfway = {
  encode(_message: unknown, writer: BinaryWriter = new BinaryWriter()): BinaryWriter {
    writer.uint32(8).int32(7);
    throw new Error('bad field value');
  },
};

test('a message encoded after a failed encode carries none of its bytes', () => {
  expect(() => encodeMessage(breaksHalfway, {})).toThrow('bad field value');
  expect(encodeMessage(oneField, { n: 42 })).toEqual(oneField.encode({ n: 42 }).finish());
});

test('withEncoded hands out one message at a time, also after a failed encode', () => {
  const fresh = (n: number): Uint8Array => oneField.encode({ n }).finish();
  expect(withEncoded(oneField, { n: 300 }, (b) => Uint8Array.from(b))).toEqual(fresh(300));
  expect(withEncoded(oneField, { n: 1 }, (b) => Uint8Array.from(b))).toEqual(fresh(1));
  expect(() => withEncoded(breaksHalfway, {}, () => 0)).toThrow('bad field value');
  expect(withEncoded(oneField, { n: 5 }, (b) => Uint8Array.from(b))).toEqual(fresh(5));
  // A callback that throws still leaves the writer empty for the next message.
  expect(() =>
    withEncoded(oneField, { n: 9 }, () => {
      throw new Error('no room');
    }),
  ).toThrow('no room');
  expect(encodeMessage(oneField, { n: 6 })).toEqual(fresh(6));
});
