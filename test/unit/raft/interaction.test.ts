// Goal: pin down the Raft core's observable behaviour, scenario by scenario, as readable
// transcripts (STYLE rule 18, after etcd-raft's interaction tests): every Ready, every message
// and every delivery, in order, so a change in behaviour shows up as a diff reviewed like code.
// Method: each testdata/*.txt script is run through InteractionEnv (interaction-env.ts) and the
// whole regenerated file must equal the file on disk. `REWRITE=1 npx vitest run test/unit/raft`
// writes the new output back instead. A trace alone can be rubber-stamped, so each script also
// carries `check` lines that throw on a wrong state (even under REWRITE), and the env checks
// Election Safety, Log Matching of committed prefixes and State Machine Safety after every step.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { InteractionEnv } from './interaction-env.js';
import { formatScript, parseScript } from './interaction-script.js';

const TESTDATA_DIR = join(import.meta.dirname, 'testdata');
const REWRITE = process.env['REWRITE'] === '1';

/** SCRIPTS are the scenarios that must exist; a missing one fails rather than passing unseen. */
const SCRIPTS = [
  'election',
  'split-vote',
  'prevote',
  'check-quorum',
  'conflict-backoff',
  'figure8',
  'snapshot',
  'leader-transfer',
  'read-index',
  'pipelining',
  'conf-add-learner',
  'conf-promote',
  'conf-remove-follower',
  'conf-remove-leader',
  'conf-remove-leader-lagging',
  'conf-commit-hint',
  'conf-hint-stands-down',
  'conf-learner-lease-lapses',
  'conf-removed-no-campaign',
  'conf-one-in-flight',
  'conf-new-leader-noop',
  'conf-learner-read-index',
  'conf-snapshot-learner',
  'conf-remove-two-voters',
  'sole-voter-term',
] as const;

/** TRACE_TAIL_LINES is how much of the transcript so far a failure shows, to see what led to it. */
const TRACE_TAIL_LINES = 60;

/** runFile runs one script and returns its regenerated text. */
function runFile(path: string): string {
  const script = parseScript(readFileSync(path, 'utf8'));
  const env = new InteractionEnv();
  const outputs: string[][] = [];
  for (const b of script.blocks) {
    try {
      outputs.push(env.run(b.command));
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      const sofar = script.blocks.slice(0, outputs.length).flatMap((d, k) => [d.command, ...(outputs[k] ?? [])]);
      const tail = sofar.slice(-TRACE_TAIL_LINES).join('\n');
      throw new Error(`${path}:${b.lineNumber}: ${b.command}: ${msg}\n--- transcript so far (tail) ---\n${tail}`, {
        cause: e,
      });
    }
  }
  return formatScript(script, outputs);
}

describe('raft interaction transcripts', () => {
  test.each(SCRIPTS)('testdata/%s.txt exists and asserts with check lines', (name) => {
    const path = join(TESTDATA_DIR, `${name}.txt`);
    expect(existsSync(path), `${path} is missing`).toBe(true);
    const script = parseScript(readFileSync(path, 'utf8'));
    expect(script.blocks.length).toBeGreaterThan(0);
    expect(script.blocks[0]?.preamble.some((l) => l.startsWith('#'))).toBe(true);
    expect(script.blocks.filter((b) => b.command.startsWith('check')).length).toBeGreaterThan(0);
  });

  const files = existsSync(TESTDATA_DIR)
    ? readdirSync(TESTDATA_DIR)
        .filter((f) => f.endsWith('.txt'))
        .sort()
    : [];
  test.each(files)('%s', (file) => {
    const path = join(TESTDATA_DIR, file);
    const regenerated = runFile(path);
    if (REWRITE) writeFileSync(path, regenerated);
    else expect(regenerated).toBe(readFileSync(path, 'utf8'));
  });
});
