/**
 * Goal: CreateRoom without a node_id lands on the least-loaded live media node of the receiving
 * node's region, falls back to any region, leaves node_id "" when no node is alive, and gives the
 * same answer for the same leases whatever their order (issue 16 item 3). Method: placeRoom on
 * hand-made candidate lists, each case changing one thing, and on every permutation of a few.
 */
import { describe, expect, it } from 'vitest';
import { type PlacementCandidate, lessLoaded, placeRoom } from '../../../src/api/placement.js';

function node(nodeId: string, region: string, load: Partial<{ cpu: number; hosted: number; clients: number }> = {}) {
  return {
    nodeId,
    region,
    roomsHosted: load.hosted ?? 0,
    stats: { numRooms: 0, numClients: load.clients ?? 0, cpuLoad: load.cpu ?? 0 },
  } satisfies PlacementCandidate;
}

function permutations<T>(xs: readonly T[]): T[][] {
  if (xs.length <= 1) return [[...xs]];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]));
}

describe('placeRoom', () => {
  it('leaves node_id empty when no media node is alive', () => {
    expect(placeRoom([], 'eu')).toBe('');
    expect(placeRoom([], '')).toBe('');
  });

  it("prefers the receiving node's region even when another region is less loaded", () => {
    const nodes = [node('us-1', 'us', { cpu: 0 }), node('eu-1', 'eu', { cpu: 0.9 }), node('eu-2', 'eu', { cpu: 0.5 })];
    expect(placeRoom(nodes, 'eu')).toBe('eu-2');
    expect(placeRoom(nodes, 'us')).toBe('us-1');
  });

  it('falls back to every region when its own has no live node, or it has no region', () => {
    const nodes = [node('us-1', 'us', { cpu: 0.4 }), node('ap-1', 'ap', { cpu: 0.2 })];
    expect(placeRoom(nodes, 'eu')).toBe('ap-1');
    expect(placeRoom(nodes, '')).toBe('ap-1');
  });

  it('does not treat a node without a region as local to a registry node without one', () => {
    // "" is "no preference", not a region: every node counts, and the least loaded wins.
    const nodes = [node('blank', '', { cpu: 0.8 }), node('us-1', 'us', { cpu: 0.1 })];
    expect(placeRoom(nodes, '')).toBe('us-1');
  });

  it('orders by cpu, then rooms hosted, then clients, then node id', () => {
    expect(placeRoom([node('a', 'r', { cpu: 0.6 }), node('b', 'r', { cpu: 0.3 })], 'r')).toBe('b');
    expect(
      placeRoom([node('a', 'r', { cpu: 0.3, hosted: 5 }), node('b', 'r', { cpu: 0.3, hosted: 4, clients: 999 })], 'r'),
    ).toBe('b');
    expect(
      placeRoom(
        [node('a', 'r', { cpu: 0.3, hosted: 4, clients: 10 }), node('b', 'r', { cpu: 0.3, hosted: 4, clients: 9 })],
        'r',
      ),
    ).toBe('b');
    expect(placeRoom([node('b', 'r'), node('a', 'r')], 'r')).toBe('a');
  });

  it('never prefers a node whose cpu_load is not a fraction (a state from another build)', () => {
    for (const cpu of [Number.NaN, -0.5, 1.5, Number.POSITIVE_INFINITY])
      expect(placeRoom([node('odd', 'r', { cpu }), node('busy', 'r', { cpu: 1 })], 'r'), String(cpu)).toBe('busy');
  });

  it('gives the same node for every order of the same leases', () => {
    const nodes = [
      node('n3', 'eu', { cpu: 0.2, hosted: 3 }),
      node('n1', 'eu', { cpu: 0.2, hosted: 3 }),
      node('n2', 'eu', { cpu: 0.2, hosted: 3, clients: 1 }),
      node('n4', 'us', { cpu: 0 }),
      node('n5', 'eu', { cpu: 0.7 }),
    ];
    for (const order of permutations(nodes)) expect(placeRoom(order, 'eu')).toBe('n1');
  });

  it('lessLoaded is a strict total order on distinct node ids', () => {
    const nodes = [
      node('a', 'r', { cpu: 0.1 }),
      node('b', 'r', { cpu: 0.1, hosted: 1 }),
      node('c', 'r', { cpu: 0.1, hosted: 1, clients: 1 }),
      node('d', 'r', { cpu: 0.1, hosted: 1, clients: 1 }),
      node('e', 'r', { cpu: Number.NaN }),
    ];
    for (const x of nodes) {
      expect(lessLoaded(x, x)).toBe(false);
      for (const y of nodes) if (x !== y) expect(lessLoaded(x, y)).toBe(!lessLoaded(y, x));
    }
    expect(
      [...nodes]
        .reverse()
        .sort((x, y) => (lessLoaded(x, y) ? -1 : 1))
        .map((n) => n.nodeId),
    ).toEqual(['a', 'b', 'c', 'd', 'e']);
  });
});
