// Goal: the registry is the one place that says which command needs which format version
// (DESIGN §12), and today every command is version 1, so a cluster of today's builds gates
// nothing. Method: every command kind through commandVersionOf, and the advertised versions.
import { expect, it } from 'vitest';
import { Command } from '../../../src/gen/roomregistry/command/v1/command.js';
import { REGISTRY_VERSIONS, commandVersionOf } from '../../../src/registry/index.js';
import { SNAPSHOT_FORMAT_VERSION } from '../../../src/registry/snapshot-codec.js';
import { cmd } from './commands.js';

it('every command of today needs version 1, and this build advertises command 1 and its snapshot format', () => {
  const all = [cmd.create('a'), cmd.update('a', 'm'), cmd.remove('a'), cmd.occupancy('a', 1), cmd.expire('a')];
  expect(new Set(all.map((c) => c.command?.$case)).size).toBe(5);
  expect(all.map((c) => commandVersionOf(Command.encode(c).finish()))).toEqual([1, 1, 1, 1, 1]);
  expect(commandVersionOf(new Uint8Array([0xff, 0xff]))).toBe(1);
  expect(REGISTRY_VERSIONS).toEqual({ command: 1, snapshot: SNAPSHOT_FORMAT_VERSION });
});
