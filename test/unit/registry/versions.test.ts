// Goal: the registry is the one place that says which command needs which format version
// (DESIGN §12): the commands of version 1 stay at 1, the media-node commands (issue 16) need 2,
// SetCommandVersion needs 3 or the version it sets, and this build advertises command 3 and
// snapshot format 2. Method: every command kind through commandVersionOf, and the advertised versions.
import { expect, it } from 'vitest';
import { Command } from '../../../src/gen/roomregistry/command/v1/command.js';
import { REGISTRY_VERSIONS, commandVersionOf } from '../../../src/registry/index.js';
import { SNAPSHOT_FORMAT_VERSION } from '../../../src/registry/snapshot-codec.js';
import { cmd } from './commands.js';

it('the commands of version 1 need 1, the media-node commands 2, SetCommandVersion 3 or its version; this build advertises command 3', () => {
  const v1 = [cmd.create('a'), cmd.update('a', 'm'), cmd.remove('a'), cmd.occupancy('a', 1), cmd.expire('a')];
  const v2 = [cmd.heartbeat('m1'), cmd.expireNodes('m1'), cmd.share('a', 'm1', 1)];
  const v3 = [cmd.setVersion(3), cmd.setVersion(1), cmd.setVersion(7)];
  const all = [...v1, ...v2, ...v3];
  expect(new Set(all.map((c) => c.command?.$case)).size).toBe(9);
  const needed = [1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 7];
  expect(all.map((c) => commandVersionOf(Command.encode(c).finish()))).toEqual(needed);
  // Read from the tags alone: the request id and key before the command are skipped.
  const keyed = all.map((c) => Command.encode({ ...c, requestId: 'r-1', apiKey: 'key' }).finish());
  expect(keyed.map(commandVersionOf)).toEqual(needed);
  expect(commandVersionOf(new Uint8Array([0xff, 0xff]))).toBe(1);
  expect(commandVersionOf(Command.encode({ requestId: 'r', apiKey: '', command: undefined }).finish())).toBe(1);
  expect(SNAPSHOT_FORMAT_VERSION).toBe(2);
  expect(REGISTRY_VERSIONS).toEqual({ command: 3, snapshot: 2 });
});
