/**
 * Goal: README's tour "Follow a CreateRoom" names files that exist where it says (issue 19), so a rename
 * cannot leave a newcomer following a dead path. Method: every backticked path in that section (a name with a
 * slash) must exist under the repository root, and the tour must name a file of each layer it walks through.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

function tourSection(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('## Follow a CreateRoom');
  expect(start, 'README has the tour').toBeGreaterThanOrEqual(0);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

it('names only paths that exist, in every layer a CreateRoom crosses', () => {
  const paths = [...tourSection().matchAll(/`([\w./-]+\/[\w./-]+)`/g)].map((m) => m[1] ?? '');
  expect(paths.length).toBeGreaterThan(20);
  const missing = paths.filter((p) => !existsSync(join(root, p)));
  expect(missing).toEqual([]);
  for (const layer of ['src/api/', 'src/node/', 'src/raft/', 'src/storage/', 'src/transport/', 'src/registry/'])
    expect(
      paths.some((p) => p.startsWith(layer)),
      layer,
    ).toBe(true);
});
