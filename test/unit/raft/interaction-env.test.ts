// Goal: the transcript machinery itself is trustworthy, so a passing transcript means what it
// says: the file format round-trips byte for byte, a wrong `check` fails (it cannot be
// rewritten away), misspelled options are rejected instead of ignored, the invariant checks
// fire, message filters pick what they claim, and a run is deterministic. Method: small inline
// scripts through InteractionEnv and the script parser.
import { describe, expect, test } from 'vitest';
import { nodeId, term } from '../../../src/lib/ids.js';
import { InteractionEnv } from './interaction-env.js';
import { formatScript, parseScript } from './interaction-script.js';

function run(env: InteractionEnv, lines: string): string[] {
  return lines
    .trim()
    .split('\n')
    .flatMap((l) => env.run(l.trim()));
}

const ELECT = 'add-nodes 3\ncampaign 1\nstabilize';

describe('script format', () => {
  test('formatting a parsed script with its own outputs reproduces it exactly', () => {
    const text =
      '# what it shows\n\nadd-nodes 3\n----\nok\n\n# next\n\ncampaign 1\n----\n1 ticked 3 times\n  x\n\n# trailer\n';
    const script = parseScript(text);
    expect(script.blocks.map((b) => b.command)).toEqual(['add-nodes 3', 'campaign 1']);
    expect(script.blocks[1]?.lineNumber).toBe(9);
    expect(
      formatScript(
        script,
        script.blocks.map((b) => b.expected),
      ),
    ).toBe(text);
  });

  test('a command without recorded output parses with none, so the comparison fails', () => {
    const script = parseScript('add-nodes 3\n\ncampaign 1\n');
    expect(script.blocks.map((b) => b.expected)).toEqual([[], []]);
    expect(formatScript(script, [['ok'], ['ok']])).toBe('add-nodes 3\n----\nok\n\ncampaign 1\n----\nok\n');
  });

  test('output may not contain a blank line, which would end its block', () => {
    const script = parseScript('status 1\n');
    expect(() => formatScript(script, [['a', '', 'b']])).toThrow(/blank output line/);
  });
});

describe('checks cannot be rubber-stamped', () => {
  test('a matching check prints ok and a wrong one throws naming the key', () => {
    const env = new InteractionEnv();
    run(env, ELECT);
    expect(env.run('check 1 role=leader term=1 commit=1')).toEqual(['ok']);
    expect(() => env.run('check 1 role=leader term=2')).toThrow(/term: want 2, got 1/);
    expect(() => env.run('check 2 nonsense=1')).toThrow(/unknown key/);
  });

  test('message counts are checked on the queue and on the delivered history', () => {
    const env = new InteractionEnv();
    run(env, 'add-nodes 3\ncampaign 1\nprocess-ready 1');
    expect(env.run('check-queued from=1 type=preVote count=2')).toEqual(['ok']);
    expect(() => env.run('check-queued type=preVote count=1')).toThrow(/want count=1, got 2/);
    run(env, 'deliver-msgs 2');
    expect(env.run('check-delivered to=2 count=1')).toEqual(['ok']);
    expect(() => env.run('check-delivered count=0')).toThrow(/got 1/);
  });

  test('misspelled options and unknown commands are errors', () => {
    const env = new InteractionEnv();
    expect(() => env.run('add-nodes 3 prevote=false')).toThrow(/unknown option\(s\) prevote/);
    expect(() => env.run('elect 1')).toThrow(/unknown command/);
  });
});

describe('invariants are checked after every command', () => {
  test('a second leader recorded for a term fails Election Safety', () => {
    const env = new InteractionEnv();
    run(env, ELECT);
    env.leaderOfTerm.set(1, nodeId('3'));
    expect(() => env.run('status 1')).toThrow(/election safety: 3 and 1 both lead term 1/);
  });

  test('a conflicting application fails State Machine Safety', () => {
    const env = new InteractionEnv();
    run(env, ELECT);
    env.appliedLog.set(2, { term: term(1), text: 'other' });
    run(env, 'propose 1 mine');
    expect(() => env.run('stabilize')).toThrow(/state machine safety/);
  });
});

describe('message delivery', () => {
  test('drop= removes messages unseen; from= and type= narrow what is delivered', () => {
    const env = new InteractionEnv();
    run(env, 'add-nodes 3 preVote=false\ncampaign 1\ncampaign 2\nprocess-ready 1 2');
    const out = env.run('deliver-msgs 3 from=1 drop=(2)');
    expect(out).toEqual([
      '  dropped 1->2 vote term=1 last=0/0',
      '> 3 receiving messages',
      '  1->3 vote term=1 last=0/0',
    ]);
    expect(env.queue.map((m) => `${m.from}->${m.to}`)).toEqual(['2->1', '2->3']);
    expect(env.run('deliver-msgs type=appendResp')).toEqual(['ok']);
    expect(env.queue).toHaveLength(2);
  });

  test('messages to a crashed member are dropped; a restart rebuilds it from storage', () => {
    const env = new InteractionEnv();
    run(env, `${ELECT}\npropose 1 a\nstabilize\ncrash 3\npropose 1 b\nprocess-ready 1`);
    expect(env.run('deliver-msgs 3')).toEqual([
      '> 3 receiving messages',
      '  1->3 append term=1 prev=2/1 commit=2 entries=[3/1 "b"] DROPPED (crashed)',
    ]);
    run(env, 'restart 3\nprocess-ready 3');
    expect(env.run('check 3 role=follower term=1 commit=2 applied=2 sm=a')).toEqual(['ok']);
  });
});

test('the same script gives the same transcript twice (seeded jitter, no hidden state)', () => {
  const script = `${ELECT}\npropose 1 a\nstabilize\npartition (1)\ntick-all 25\nstabilize\nheal\ntick-all 5\nstabilize`;
  expect(run(new InteractionEnv(), script)).toEqual(run(new InteractionEnv(), script));
});
