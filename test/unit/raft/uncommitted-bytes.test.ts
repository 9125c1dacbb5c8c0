// Goal: a leader bounds what it proposed and has not applied in bytes, not only in entries
// (etcd's MaxUncommittedEntriesSize; issue 12 item 5): past uncommittedBytesMax a proposal is
// refused as overloadedBytes (the node answers RESOURCE_EXHAUSTED), one entry always fits an
// empty window, and applying frees the room. Method: inline interaction scripts.
import { describe, expect, test } from 'vitest';
import { InteractionEnv } from './interaction-env.js';

function run(env: InteractionEnv, lines: string): string[] {
  return lines
    .trim()
    .split('\n')
    .flatMap((l) => env.run(l.trim()));
}

describe('uncommitted bytes', () => {
  test('proposals past uncommittedBytesMax are refused until the window is applied', () => {
    const env = new InteractionEnv();
    run(env, 'add-nodes 3 maxUncommittedBytes=10\ncampaign 1\nstabilize');
    expect(env.run('propose 1 aaaaaaa')).toEqual([expect.stringMatching(/^proposed at /)]);
    expect(env.run('propose 1 bbbbbbb')).toEqual(['refused: overloadedBytes 7/10']);
    expect(env.run('propose 1 ccc')).toEqual([expect.stringMatching(/^proposed at /)]); // 7 + 3 fits exactly
    run(env, 'stabilize');
    expect(env.run('propose 1 bbbbbbb')).toEqual([expect.stringMatching(/^proposed at /)]);
  });

  test('one entry larger than the whole window is still proposed when nothing is pending', () => {
    const env = new InteractionEnv();
    run(env, 'add-nodes 3 maxUncommittedBytes=4\ncampaign 1\nstabilize');
    expect(env.run('propose 1 0123456789')).toEqual([expect.stringMatching(/^proposed at /)]);
    expect(env.run('propose 1 x')).toEqual(['refused: overloadedBytes 10/4']);
  });
});
