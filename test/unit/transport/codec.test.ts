// Goal: every Raft message survives the trip through the peer wire format unchanged, and bytes a peer
// sends that do not make a message are refused as values, never thrown. Method: one sample per message
// type (the table is keyed by MESSAGE_TYPES, so a new type without a sample fails to compile), encoded to
// protobuf bytes and decoded back; then wire messages with the holes the types cannot rule out.
import { describe, expect, it } from 'vitest';
import { EntryKind, RaftMessage } from '../../../src/gen/roomregistry/peer/v1/peer.js';
import { index, nodeId, term } from '../../../src/lib/ids.js';
import { MESSAGE_TYPES, type Message, type MessageType, encodeConfChange } from '../../../src/raft/index.js';
import {
  asBuffer,
  decodeMessage,
  decodeSnapshotMeta,
  encodeMessage,
  encodeSnapshotMeta,
} from '../../../src/transport/codec.js';

const env = { from: nodeId('n1'), to: nodeId('n2'), term: term(7) };
const entries = [
  { index: index(4), term: term(6), kind: 'noop' as const, data: new Uint8Array() },
  { index: index(5), term: term(7), kind: 'command' as const, data: new Uint8Array([1, 2, 3]) },
  {
    index: index(6),
    term: term(7),
    kind: 'config' as const,
    data: encodeConfChange({ op: 'addLearner', id: nodeId('n4'), context: '{"region":"b"}' }),
  },
];

const SAMPLES: { [T in MessageType]: Message & { type: T } } = {
  preVote: { ...env, type: 'preVote', lastLogIndex: index(9), lastLogTerm: term(6), transfer: false },
  preVoteResp: { ...env, type: 'preVoteResp', reject: true, commit: index(9), commitTerm: term(6) },
  vote: { ...env, type: 'vote', lastLogIndex: index(9), lastLogTerm: term(6), transfer: true },
  voteResp: { ...env, type: 'voteResp', reject: false, commit: index(0), commitTerm: term(0) },
  append: { ...env, type: 'append', prevLogIndex: index(3), prevLogTerm: term(5), entries, commit: index(4) },
  appendResp: { ...env, type: 'appendResp', index: index(3), reject: true, hintIndex: index(2), hintTerm: term(4) },
  heartbeat: { ...env, type: 'heartbeat', commit: index(5), readSeq: 12 },
  heartbeatResp: { ...env, type: 'heartbeatResp', readSeq: 12 },
  snapshot: {
    ...env,
    type: 'snapshot',
    snapshot: {
      index: index(100),
      term: term(6),
      voters: [nodeId('n1'), nodeId('n2'), nodeId('n3')],
      learners: [nodeId('n4')],
      contexts: { n1: '{"region":"a"}', n4: '{"region":"b"}' },
    },
  },
  timeoutNow: { ...env, type: 'timeoutNow' },
  readIndex: { ...env, type: 'readIndex', contexts: ['n2:a', 'n2:b'] },
  readIndexResp: { ...env, type: 'readIndexResp', contexts: ['n2:a'], index: index(8), reject: false },
};

function overTheWire(m: Message): ReturnType<typeof decodeMessage> {
  return decodeMessage(RaftMessage.decode(RaftMessage.encode(encodeMessage(m)).finish()));
}

describe('peer codec', () => {
  it.each(MESSAGE_TYPES.map((t) => [t]))('round-trips %s unchanged', (type) => {
    const sample = SAMPLES[type];
    const decoded = overTheWire(sample);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    // Entry payloads come back as Buffers; compare their bytes, and everything else as is.
    expect(JSON.parse(JSON.stringify(decoded.value, bytesAsArrays))).toEqual(
      JSON.parse(JSON.stringify(sample, bytesAsArrays)),
    );
  });

  it('refuses a message without a body, without from or to, or with an entry of an unknown kind', () => {
    const append = encodeMessage(SAMPLES.append);
    expect(decodeMessage({ ...append, body: undefined })).toEqual({ ok: false, error: 'raft message without a body' });
    expect(decodeMessage({ ...append, from: '' })).toEqual({ ok: false, error: 'raft message without from/to' });
    expect(decodeMessage({ ...append, to: '' })).toEqual({ ok: false, error: 'raft message without from/to' });
    if (append.body?.$case !== 'append') throw new Error('the sample is an append');
    const strange = { ...append.body.value.entries[0]!, kind: 42 as EntryKind };
    const body = { $case: 'append' as const, value: { ...append.body.value, entries: [strange] } };
    expect(decodeMessage({ ...append, body })).toEqual({ ok: false, error: 'entry 4 has unknown kind 42' });
  });

  it('refuses a snapshot message without its meta', () => {
    const wire = encodeMessage(SAMPLES.snapshot);
    expect(decodeMessage({ ...wire, body: { $case: 'snapshot', value: { snapshot: undefined } } })).toEqual({
      ok: false,
      error: 'snapshot message without meta',
    });
  });

  it('gives entries of an unspecified kind no default meaning', () => {
    const append = encodeMessage(SAMPLES.append);
    if (append.body?.$case !== 'append') throw new Error('the sample is an append');
    const unspecified = { ...append.body.value.entries[0]!, kind: EntryKind.ENTRY_KIND_UNSPECIFIED };
    const decoded = decodeMessage({
      ...append,
      body: { $case: 'append', value: { ...append.body.value, entries: [unspecified] } },
    });
    expect(decoded.ok).toBe(false);
  });
});

function bytesAsArrays(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return [...value];
  if (typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'Buffer') {
    return (value as { data: number[] }).data;
  }
  return value;
}

describe('snapshot meta and bytes', () => {
  it('round-trips a snapshot meta, voters in order', () => {
    const meta = {
      index: index(100),
      term: term(6),
      voters: [nodeId('n3'), nodeId('n1'), nodeId('n2')],
      learners: [nodeId('n4')],
      contexts: { n4: '{"region":"eu"}' },
    };
    expect(decodeSnapshotMeta(encodeSnapshotMeta(meta))).toEqual(meta);
  });

  it('views bytes as a Buffer without copying them', () => {
    const backing = new Uint8Array([0, 1, 2, 3, 4]);
    const view = backing.subarray(1, 4);
    const b = asBuffer(view);
    expect([...b]).toEqual([1, 2, 3]);
    backing[2] = 9;
    expect(b[1]).toBe(9);
    const already = Buffer.from([7]);
    expect(asBuffer(already)).toBe(already);
  });
});
