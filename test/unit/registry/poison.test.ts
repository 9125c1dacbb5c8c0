/**
 * Goal: `apply` never throws on an entry it cannot decode or does not know (issue 12 item 4):
 * it records the same failure result on every replica, announces the rejection, and the next
 * entries apply as usual. Method: apply garbage, empty, unknown-kind and truncated payloads to
 * two replicas between ordinary commands and compare results, events and state.
 */
import { describe, expect, it } from 'vitest';
import { Command, CommandResult } from '../../../src/gen/roomregistry/command/v1/command.js';
import { index } from '../../../src/lib/ids.js';
import { RoomRegistry } from '../../../src/registry/index.js';
import { Driver, cmd, digest } from './commands.js';

/** A Command with field 99 (a kind a newer build might add) and nothing this build knows. */
const UNKNOWN_KIND = Uint8Array.of(0x0a, 0x02, 0x72, 0x31, 0x9a, 0x06, 0x02, 0x0a, 0x00);
const POISON: ReadonlyArray<readonly [string, Uint8Array]> = [
  ['empty', new Uint8Array(0)], // decodes as a Command of no kind
  ['garbage', Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)],
  [
    'truncated',
    Command.encode(cmd.create('t', { metadata: 'x'.repeat(100) }))
      .finish()
      .subarray(0, 40),
  ],
  ['unknown kind', UNKNOWN_KIND],
];

describe('RoomRegistry poison entries', () => {
  it('records a deterministic failure for each, announces it, and goes on applying', () => {
    const replicas = [new RoomRegistry(), new RoomRegistry()];
    const seen: string[][] = [[], []];
    replicas.forEach((r, i) => {
      r.events.onRejectedEntry = (at, reason) => seen[i]?.push(`${at}:${reason}`);
    });
    const results: Uint8Array[][] = [[], []];
    let at = 1;
    const applyAll = (payload: Uint8Array): void => {
      replicas.forEach((r, i) => results[i]?.push(r.apply(index(at), payload, 1_700_000_000_000 + at)));
      at++;
    };
    applyAll(Command.encode(cmd.create('before')).finish());
    for (const [, payload] of POISON) applyAll(payload);
    applyAll(Command.encode(cmd.create('after')).finish());
    expect(results[1]).toEqual(results[0]);
    expect(seen[1]).toEqual(seen[0]);
    expect(seen[0]).toEqual(['2:unknown_command', '3:undecodable', '4:undecodable', '5:unknown_command']);
    for (const bytes of (results[0] ?? []).slice(1, 1 + POISON.length)) {
      expect(CommandResult.decode(bytes).result).toMatchObject({
        $case: 'failure',
        value: { code: 'INVALID_ARGUMENT' },
      });
    }
    for (const r of replicas) {
      expect(r.appliedIndex()).toBe(at - 1);
      expect(r.listRooms(['before', 'after']).map((room) => room.name)).toEqual(['before', 'after']);
    }
    expect(digest(replicas[1] ?? new RoomRegistry())).toBe(digest(replicas[0] ?? new RoomRegistry()));
  });

  it('does not remember the request id of a command it does not know', () => {
    const d = new Driver(new RoomRegistry());
    // request_id "r1" and an unknown kind: a retry under a build that knows the kind must apply it.
    expect(CommandResult.decode(d.registry.apply(index(d.next++), UNKNOWN_KIND, d.nowMs)).result?.$case).toBe(
      'failure',
    );
    const create = d.apply(cmd.create('a', { requestId: 'r1' }));
    expect(create.result).toMatchObject({ $case: 'room', value: { created: true } });
  });
});
