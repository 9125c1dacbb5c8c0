// Goal: the committed generated code in src/gen matches proto/. Method: regenerate with buf and
// ts-proto (both from npm) into a temp dir and compare every file byte for byte.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, expect, test } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const outDir = mkdtempSync(join(tmpdir(), 'rr-proto-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}

test('src/gen is what `make proto` generates from proto/', () => {
  execFileSync(join(root, 'node_modules', '.bin', 'buf'), ['generate', '--output', outDir], { cwd: root });
  const fresh = join(outDir, 'src', 'gen');
  const committed = join(root, 'src', 'gen');
  const freshFiles = listFiles(fresh)
    .map((f) => relative(fresh, f))
    .sort();
  const committedFiles = listFiles(committed)
    .map((f) => relative(committed, f))
    .sort();
  expect(committedFiles, 'run `make proto` and commit src/gen').toEqual(freshFiles);
  for (const file of freshFiles) {
    const same = readFileSync(join(fresh, file)).equals(readFileSync(join(committed, file)));
    expect(same, `src/gen/${file} is stale: run \`make proto\``).toBe(true);
  }
});
