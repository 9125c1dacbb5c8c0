import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { assert } from './assert.js';

/** ProtoEncoder is the encode half of a ts-proto message type. */
interface ProtoEncoder<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
}

/**
 * sharedWriter is reused by every `encodeMessage`: a fresh writer starts at 128 bytes and
 * regrows (allocating and copying) for each message, which was a fifth of the apply path's
 * time; this one keeps its grown buffer. `finish()` copies the bytes out and resets it, and
 * encoding is synchronous, so no caller ever sees another's bytes.
 */
let sharedWriter = new BinaryWriter();

/** sharedWriterBytesMax: after a larger message (a long room list) the writer is dropped, not kept that big. */
const sharedWriterBytesMax = 1 << 20;

/**
 * encodeMessage encodes one message into a fresh, exactly sized Uint8Array. An encode that
 * throws (a bad field value) leaves its partial bytes in the writer, so the writer is replaced:
 * otherwise the next message would carry them as a prefix.
 */
export function encodeMessage<T>(codec: ProtoEncoder<T>, message: T): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = codec.encode(message, sharedWriter).finish();
  } catch (e) {
    sharedWriter = new BinaryWriter();
    throw e;
  }
  if (bytes.byteLength > sharedWriterBytesMax) sharedWriter = new BinaryWriter();
  return bytes;
}

/**
 * WriterState: the two private fields of @bufbuild/protobuf's BinaryWriter (2.x) that
 * `withEncoded` reads, so a message can be copied straight to where it is kept instead of
 * through `finish()`'s fresh buffer (one malloc'd ArrayBuffer per room write, issue 17).
 * Checked once at load: an upgrade that renames them fails at start-up, never silently.
 */
interface WriterState {
  buffer: Uint8Array;
  pos: number;
}
const probe = new BinaryWriter().uint32(300) as unknown as Partial<WriterState>;
assert(
  probe.buffer instanceof Uint8Array && probe.pos === 2,
  'BinaryWriter no longer keeps its bytes in `buffer` up to `pos`; withEncoded needs another way in',
);

/**
 * withEncoded encodes one message with the shared writer and hands `use` a view of its bytes,
 * valid only during the call (the writer is reset after it; `use` must not encode).
 */
export function withEncoded<T, R>(codec: ProtoEncoder<T>, message: T, use: (bytes: Uint8Array) => R): R {
  try {
    codec.encode(message, sharedWriter);
  } catch (e) {
    sharedWriter = new BinaryWriter(); // as in encodeMessage: its partial bytes must not prefix the next message
    throw e;
  }
  const state = sharedWriter as unknown as WriterState;
  try {
    return use(state.buffer.subarray(0, state.pos));
  } finally {
    state.pos = 0;
    if (state.buffer.byteLength > sharedWriterBytesMax) sharedWriter = new BinaryWriter();
  }
}
