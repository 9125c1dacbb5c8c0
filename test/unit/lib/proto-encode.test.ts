// Goal: an encode that throws leaves nothing behind in the shared protobuf writer (issue 13
// finding 8). Method: a codec that writes a field and then throws, followed by a real message,
// whose bytes must equal its encoding by a fresh writer.
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { expect, test } from 'vitest';
import { encodeMessage } from '../../../src/lib/proto-encode.js';

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
