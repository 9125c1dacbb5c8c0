/**
 * Goal: the one check every proposal passes (issue 12 item 4) accepts every command the API
 * and the sweeper build and refuses, as INVALID_ARGUMENT, anything the API would refuse or
 * could not build. Method: encoded commands straight into validateCommandBytes.
 */
import { describe, expect, it } from 'vitest';
import { validateCommandBytes } from '../../../src/api/validate.js';
import { Command } from '../../../src/gen/roomregistry/command/v1/command.js';
import { SWEEPER_LIMITS } from '../../../src/sweeper/sweeper.js';
import { cmd } from '../registry/commands.js';

const encode = (c: Command): Uint8Array => Command.encode(c).finish();

describe('validateCommandBytes', () => {
  it('accepts what the API and the sweeper propose', () => {
    const names = Array.from({ length: SWEEPER_LIMITS.sweepBatchRoomsMax }, (_, i) => `r${i}`);
    for (const c of [
      cmd.create('a', { metadata: 'x'.repeat(512 * 1024), requestId: 'r'.repeat(128), emptyTimeoutS: 86_400 }),
      cmd.update('a', 'm', 'id'),
      cmd.remove('a'),
      cmd.occupancy('a', 3),
      cmd.expire(...names),
      cmd.setVersion(3),
    ]) {
      expect(validateCommandBytes(encode(c))).toBeNull();
    }
  });

  it('refuses what the API would refuse, and what it could not build', () => {
    const base = cmd.create('a');
    const createWith = (patch: object): Command => ({
      ...base,
      command:
        base.command?.$case === 'createRoom'
          ? { $case: 'createRoom', value: { ...base.command.value, ...patch } }
          : undefined,
    });
    const refused: Array<[string, Uint8Array]> = [
      ['empty', new Uint8Array(0)],
      ['garbage', Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)],
      ['no name', encode(cmd.create(''))],
      ['long name', encode(cmd.update('n'.repeat(257), 'm'))],
      ['big metadata', encode(cmd.update('a', 'x'.repeat(512 * 1024 + 1)))],
      ['long request id', encode(cmd.remove('a', 'r'.repeat(129)))],
      ['timeout over a day', encode(cmd.create('a', { departureTimeoutS: 86_401 }))],
      ['no sid', encode(createWith({ sid: '' }))],
      ['long turn password', encode(createWith({ turnPassword: 'p'.repeat(65) }))],
      [
        'big sweep',
        encode(cmd.expire(...Array.from({ length: SWEEPER_LIMITS.sweepBatchRoomsMax + 1 }, (_, i) => `r${i}`))),
      ],
      ['sweep of no name', encode(cmd.expire('a', ''))],
      ['a command version this build does not apply', encode(cmd.setVersion(4))],
      ['command version 0', encode(cmd.setVersion(0))],
    ];
    for (const [what, bytes] of refused) expect(validateCommandBytes(bytes)?.code, what).toBe('INVALID_ARGUMENT');
  });
});
