// Goal: a membership change means the same thing on every member, so applyConfChange must be a
// pure function that refuses exactly the changes the spec names, and a config entry's bytes must
// decode back to the change or to a reason, never throw. Method: a table of changes against one
// configuration, and a round trip plus malformed inputs for the codec.
import { describe, expect, it } from 'vitest';
import { nodeId } from '../../../src/lib/ids.js';
import {
  type ConfChange,
  type ConfState,
  applyConfChange,
  decodeConfChange,
  encodeConfChange,
} from '../../../src/raft/index.js';

const n = nodeId;
const conf: ConfState = { voters: [n('1'), n('2')], learners: [n('3')], contexts: { '1': 'a', '2': 'b', '3': 'c' } };

describe('applyConfChange', () => {
  it.each<[string, ConfChange, Record<string, unknown> | string]>([
    ['adds a learner with its context', { op: 'addLearner', id: n('4'), context: 'd' }, { learners: ['3', '4'] }],
    ['adds a voter', { op: 'addVoter', id: n('4'), context: 'd' }, { voters: ['1', '2', '4'] }],
    [
      'promotes a learner, keeping its context',
      { op: 'promote', id: n('3'), context: '' },
      { voters: ['1', '2', '3'] },
    ],
    ['removes a voter', { op: 'remove', id: n('2'), context: '' }, { voters: ['1'] }],
    ['removes a learner', { op: 'remove', id: n('3'), context: '' }, { learners: [] }],
    ['refuses adding a voter again', { op: 'addLearner', id: n('1'), context: '' }, '1 is already a voter'],
    ['refuses adding a learner again', { op: 'addVoter', id: n('3'), context: '' }, '3 is already a learner'],
    ['refuses promoting a voter', { op: 'promote', id: n('1'), context: '' }, '1 is not a learner'],
    ['refuses removing a non-member', { op: 'remove', id: n('9'), context: '' }, '9 is not a member'],
  ])('%s', (_name, cc, want) => {
    const r = applyConfChange(conf, cc);
    if (typeof want === 'string') {
      expect(r).toEqual({ ok: false, error: want });
      return;
    }
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.value).toMatchObject(want);
  });

  it('keeps contexts in step with membership', () => {
    const added = applyConfChange(conf, { op: 'addLearner', id: n('4'), context: 'd' });
    expect(added.ok && added.value.contexts).toEqual({ '1': 'a', '2': 'b', '3': 'c', '4': 'd' });
    const promoted = applyConfChange(conf, { op: 'promote', id: n('3'), context: 'c2' });
    expect(promoted.ok && promoted.value.contexts['3']).toBe('c2');
    const removed = applyConfChange(conf, { op: 'remove', id: n('2'), context: '' });
    expect(removed.ok && removed.value.contexts).toEqual({ '1': 'a', '3': 'c' });
  });

  it('refuses removing the last voter', () => {
    const one: ConfState = { voters: [n('1')], learners: [n('2')], contexts: {} };
    expect(applyConfChange(one, { op: 'remove', id: n('1'), context: '' })).toEqual({
      ok: false,
      error: '1 is the last voter',
    });
  });

  it('leaves its input unchanged', () => {
    const before = JSON.stringify(conf);
    applyConfChange(conf, { op: 'remove', id: n('1'), context: '' });
    applyConfChange(conf, { op: 'promote', id: n('3'), context: 'x' });
    expect(JSON.stringify(conf)).toBe(before);
  });
});

describe('config entry codec', () => {
  it('round-trips a change', () => {
    const cc: ConfChange = { op: 'addLearner', id: n('n4'), context: '{"region":"eu","promote":true}' };
    expect(decodeConfChange(encodeConfChange(cc))).toEqual({ ok: true, value: cc });
  });

  it.each([
    ['not JSON', 'not json'],
    ['not an object', '42'],
    ['an unknown op', '{"op":"demote","id":"n1","context":""}'],
    ['no id', '{"op":"remove","id":"","context":""}'],
    ['no context', '{"op":"remove","id":"n1"}'],
  ])('refuses %s as a value', (_name, text) => {
    const r = decodeConfChange(new TextEncoder().encode(text));
    expect(r.ok).toBe(false);
  });
});
