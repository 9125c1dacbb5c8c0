// Goal: a snapshot's metadata file carries the configuration (voters, learners, contexts), and
// metadata written before membership changes existed (voters only) still reads, as no learners
// and no contexts. Method: round trip, the old form, and malformed fields.
import { describe, expect, it } from 'vitest';
import { index, nodeId, term } from '../../../src/lib/ids.js';
import type { SnapshotMeta } from '../../../src/raft/index.js';
import { parseSnapshotMeta, snapshotMetaJson } from '../../../src/storage/files.js';

describe('snapshot meta JSON', () => {
  it('round-trips the configuration', () => {
    const meta: SnapshotMeta = {
      index: index(9),
      term: term(2),
      voters: [nodeId('n1'), nodeId('n2')],
      learners: [nodeId('n3')],
      contexts: { n1: '{"region":"a"}', n3: '{"region":"b"}' },
    };
    expect(parseSnapshotMeta(snapshotMetaJson(meta))).toEqual(meta);
  });

  it('reads metadata written before learners and contexts as none', () => {
    expect(parseSnapshotMeta('{"index":5,"term":1,"voters":["n1","n2","n3"]}')).toEqual({
      index: 5,
      term: 1,
      voters: ['n1', 'n2', 'n3'],
      learners: [],
      contexts: {},
    });
  });

  it.each([
    ['learners that are not strings', '{"index":5,"term":1,"voters":[],"learners":[3]}'],
    ['contexts that are not strings', '{"index":5,"term":1,"voters":[],"contexts":{"n1":1}}'],
    ['contexts that are an array', '{"index":5,"term":1,"voters":[],"contexts":["a"]}'],
  ])('refuses %s', (_name, text) => {
    expect(parseSnapshotMeta(text)).toBeNull();
  });
});
