/**
 * Goal: `room-registry nodes list` reads its flags as the other client commands do and prints a
 * media node a line with the columns the README names (issue 16 item 4). Method: parseNodesArgs
 * on good and bad command lines, and mediaNodesTable on a hand-made reply at a fixed clock.
 */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/cli/args.js';
import { mediaNodesTable, parseNodesArgs } from '../../../src/cli/nodes.js';
import { Consistency, MediaNode } from '../../../src/gen/roomregistry/v1/rooms.js';

const NOW_MS = 1_700_000_000_000;

describe('nodes list arguments', () => {
  it('reads --region and --local, with the connection flags of rooms', () => {
    const q = parseNodesArgs(['list', '--region', 'eu-west', '--local', '--url', 'grpcs://h:1', '--timeout-ms=900']);
    expect([q.region, q.consistency, q.json]).toEqual(['eu-west', Consistency.CONSISTENCY_LOCAL, false]);
    expect([q.flags['url'], q.flags['timeout-ms']]).toEqual(['grpcs://h:1', 900]);
  });

  it('defaults to every region, a linearizable read and a table', () => {
    const q = parseNodesArgs(['list']);
    expect([q.region, q.consistency, q.json]).toEqual(['', Consistency.CONSISTENCY_LINEARIZABLE, false]);
    expect(parseNodesArgs(['list', '--json']).json).toBe(true);
  });

  it('refuses another subcommand, an unknown flag, a flag without its value, and arguments', () => {
    for (const argv of [[], ['show'], ['list', '--node-id', 'x'], ['list', '--region'], ['list', 'sfu-1']])
      expect(() => parseNodesArgs(argv), argv.join(' ')).toThrow(UsageError);
  });
});

describe('nodes list table', () => {
  it('shows node, region, cpu, clients, rooms reported, rooms hosted and lease time left', () => {
    const nodes = [
      MediaNode.fromPartial({
        nodeId: 'sfu-a',
        region: 'eu-west',
        stats: { numRooms: 12, numClients: 340, cpuLoad: 0.425 },
        leaseExpiresAtMs: NOW_MS + 7_250,
        ttlSeconds: 10,
        roomsHosted: 9,
      }),
      MediaNode.fromPartial({ nodeId: 'sfu-b', leaseExpiresAtMs: NOW_MS - 5 }),
    ];
    expect(mediaNodesTable({ nodes, revision: 31 }, NOW_MS)).toBe(
      [
        'NODE   REGION   CPU  CLIENTS  ROOMS REPORTED  ROOMS HOSTED  LEASE EXPIRES IN',
        'sfu-a  eu-west  43%  340      12              9             7.3s',
        'sfu-b  -        0%   0        0               0             0.0s',
        '2 media nodes at revision 31',
        '',
      ].join('\n'),
    );
  });

  it('says so when no media node is alive', () => {
    expect(mediaNodesTable({ nodes: [], revision: 4 }, NOW_MS)).toBe('0 media nodes at revision 4\n');
  });
});
