/**
 * Goal: media-node requests and commands are held to named limits (issue 16; DESIGN §10): a
 * heartbeat's node id, region, ttl and cpu load, the sweeper's lease batch, and a per-node
 * occupancy share; what the API and the sweeper build passes the one proposal check. Method: the
 * field validators at and past each bound, and encoded commands into validateCommandBytes.
 */
import { describe, expect, it } from 'vitest';
import {
  API_LIMITS,
  leaseTtlSeconds,
  validateCommandBytes,
  validateMediaNodeId,
  validateMediaNodeStats,
  validateRegion,
} from '../../../src/api/validate.js';
import { Command } from '../../../src/gen/roomregistry/command/v1/command.js';
import { RegistryError } from '../../../src/lib/errors.js';
import { SWEEPER_LIMITS } from '../../../src/sweeper/sweeper.js';

function invalid(fn: () => unknown): void {
  expect(fn).toThrow(RegistryError);
  try {
    fn();
  } catch (e) {
    expect((e as RegistryError).code).toBe('INVALID_ARGUMENT');
  }
}

const stats = { numRooms: 3, numClients: 40, cpuLoad: 0.25 };

function heartbeat(patch: Partial<{ nodeId: string; region: string; ttlS: number; cpuLoad: number }> = {}): Command {
  return {
    requestId: '',
    apiKey: '',
    command: {
      $case: 'mediaNodeHeartbeat',
      value: {
        nodeId: patch.nodeId ?? 'sfu-1',
        region: patch.region ?? 'eu-west',
        ttlS: patch.ttlS ?? 10,
        stats: { ...stats, cpuLoad: patch.cpuLoad ?? stats.cpuLoad },
      },
    },
  };
}

const expireNodes = (nodeIds: string[]): Command => ({
  requestId: '',
  apiKey: '',
  command: { $case: 'expireMediaNodes', value: { nodeIds } },
});

const share = (name: string, nodeId: string): Command => ({
  requestId: 'r',
  apiKey: 'k',
  command: { $case: 'updateOccupancyShare', value: { name, nodeId, numParticipants: 3, numPublishers: 1 } },
});

const encode = (c: Command): Uint8Array => Command.encode(c).finish();

describe('media-node fields', () => {
  it('a node id is non-empty, valid UTF-8 and at most nodeIdBytesMax bytes', () => {
    expect(() => validateMediaNodeId('n'.repeat(API_LIMITS.nodeIdBytesMax))).not.toThrow();
    invalid(() => validateMediaNodeId(''));
    invalid(() => validateMediaNodeId('n'.repeat(API_LIMITS.nodeIdBytesMax + 1)));
    invalid(() => validateMediaNodeId('sfu-\ud800'));
  });

  it('a region may be empty, and is at most mediaNodeRegionBytesMax bytes of UTF-8', () => {
    expect(API_LIMITS.mediaNodeRegionBytesMax).toBe(64);
    expect(() => validateRegion('')).not.toThrow();
    expect(() => validateRegion('é'.repeat(32))).not.toThrow(); // 64 bytes
    invalid(() => validateRegion('é'.repeat(32) + 'x'));
    invalid(() => validateRegion('eu-\udc00'));
  });

  it('a ttl of 0 is the default, 1..300 is kept, anything else refused', () => {
    expect(leaseTtlSeconds(0)).toBe(API_LIMITS.leaseTtlSecondsDefault);
    expect(API_LIMITS.leaseTtlSecondsDefault).toBe(10);
    expect(leaseTtlSeconds(1)).toBe(1);
    expect(leaseTtlSeconds(API_LIMITS.leaseTtlSecondsMax)).toBe(300);
    invalid(() => leaseTtlSeconds(301));
    invalid(() => leaseTtlSeconds(2 ** 32 - 1));
    invalid(() => leaseTtlSeconds(1.5));
  });

  it('cpu_load is a finite fraction', () => {
    for (const cpuLoad of [0, 0.5, 1]) expect(() => validateMediaNodeStats({ ...stats, cpuLoad })).not.toThrow();
    for (const cpuLoad of [-0.01, 1.01, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])
      invalid(() => validateMediaNodeStats({ ...stats, cpuLoad }));
  });
});

describe('validateCommandBytes for media-node commands', () => {
  it('accepts what the API and the sweeper propose', () => {
    const fullBatch = Array.from({ length: SWEEPER_LIMITS.sweepBatchMediaNodesMax }, (_, i) => `sfu-${i}`);
    for (const c of [
      heartbeat(),
      heartbeat({ region: '', ttlS: 1, cpuLoad: 0 }),
      heartbeat({ ttlS: 300, cpuLoad: 1 }),
      expireNodes(fullBatch),
      expireNodes([]),
      share('room', 'sfu-1'),
    ])
      expect(validateCommandBytes(encode(c)), JSON.stringify(c.command?.$case)).toBeNull();
  });

  it('refuses what the API would refuse', () => {
    const noStats = heartbeat();
    if (noStats.command?.$case === 'mediaNodeHeartbeat') delete noStats.command.value.stats;
    const refused: Array<[string, Command]> = [
      ['heartbeat without node id', heartbeat({ nodeId: '' })],
      ['heartbeat with a long node id', heartbeat({ nodeId: 'n'.repeat(API_LIMITS.nodeIdBytesMax + 1) })],
      ['heartbeat with a long region', heartbeat({ region: 'r'.repeat(65) })],
      ['heartbeat with ttl 0 (the API resolves it)', heartbeat({ ttlS: 0 })],
      ['heartbeat with ttl 301', heartbeat({ ttlS: 301 })],
      ['heartbeat with cpu above 1', heartbeat({ cpuLoad: 2 })],
      ['heartbeat with NaN cpu', heartbeat({ cpuLoad: Number.NaN })],
      ['heartbeat without stats', noStats],
      [
        'lease batch too big',
        expireNodes(Array.from({ length: SWEEPER_LIMITS.sweepBatchMediaNodesMax + 1 }, (_, i) => `sfu-${i}`)),
      ],
      ['lease batch naming no node', expireNodes(['sfu-1', ''])],
      ['lease batch naming a long id', expireNodes(['n'.repeat(API_LIMITS.nodeIdBytesMax + 1)])],
      ['share without node id', share('room', '')],
      ['share without room', share('', 'sfu-1')],
      ['share of a long room name', share('r'.repeat(API_LIMITS.roomNameBytesMax + 1), 'sfu-1')],
    ];
    for (const [what, c] of refused) expect(validateCommandBytes(encode(c))?.code, what).toBe('INVALID_ARGUMENT');
  });
});
