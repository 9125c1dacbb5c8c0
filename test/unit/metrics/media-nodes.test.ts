/**
 * Goal: every node exports the media-node series that cluster/alerts.yml and the README name:
 * room_registry_media_nodes{region} (live leases per region, read at scrape time, a region with
 * none left disappears) and room_registry_media_node_leases_expired_total (the replicated count).
 * Method: Metrics over stub sources whose leases change between two scrapes.
 */
import { describe, expect, it } from 'vitest';
import { Metrics, type MetricsSources, countByRegion } from '../../../src/metrics/metrics.js';

function sources(live: () => Array<{ region: string }>, expired: () => number): MetricsSources {
  return {
    raftStatus: () => ({ term: 1, role: 'leader', leader: null, commitIndex: 0, appliedIndex: 0 }) as never,
    rooms: () => 0,
    proposalsInFlight: () => 0,
    readsInFlight: () => 0,
    persistInFlightMs: () => 0,
    roomTotals: () => ({ created: 0, deleted: 0, expired: 0, mediaNodeLeasesExpired: expired() }),
    liveMediaNodes: live,
    quota: () => ({ quotaBytes: 1, usedBytes: 0 }),
    stateBytes: () => ({ records: 0, slabs: 0 }),
    sweeperBacklog: () => ({ rooms: 0, oldestOverdueMs: 0 }),
    peers: () => new Map(),
    peerRefusals: () => ({}),
    peerMalformed: () => 0,
    inboxDropped: () => 0,
  };
}

function series(text: string, name: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .sort();
}

describe('media-node metrics', () => {
  it('count live leases per region at each scrape, and copy the replicated expiry count', async () => {
    let live = [{ region: 'eu' }, { region: 'us' }, { region: 'eu' }];
    let expired = 0;
    const m = new Metrics(
      sources(
        () => live,
        () => expired,
      ),
    );
    const first = (await m.render()).body;
    expect(first).toContain('# TYPE room_registry_media_nodes gauge');
    expect(first).toContain('# TYPE room_registry_media_node_leases_expired_total counter');
    expect(series(first, 'room_registry_media_nodes')).toEqual([
      'room_registry_media_nodes{region="eu"} 2',
      'room_registry_media_nodes{region="us"} 1',
    ]);
    expect(series(first, 'room_registry_media_node_leases_expired_total')).toEqual([
      'room_registry_media_node_leases_expired_total 0',
    ]);

    live = [{ region: 'eu' }];
    expired = 2;
    const second = (await m.render()).body;
    expect(series(second, 'room_registry_media_nodes')).toEqual(['room_registry_media_nodes{region="eu"} 1']);
    expect(series(second, 'room_registry_media_node_leases_expired_total')).toEqual([
      'room_registry_media_node_leases_expired_total 2',
    ]);
  });

  it('declare both series even when no media node was ever seen (the alert rules name them)', async () => {
    const body = (
      await new Metrics(
        sources(
          () => [],
          () => 0,
        ),
      ).render()
    ).body;
    expect(body).toContain('# TYPE room_registry_media_nodes gauge');
    expect(series(body, 'room_registry_media_nodes')).toEqual([]);
    expect(series(body, 'room_registry_media_node_leases_expired_total')).toEqual([
      'room_registry_media_node_leases_expired_total 0',
    ]);
  });

  it('countByRegion keeps "" as a region of its own', () => {
    expect([...countByRegion([{ region: '' }, { region: 'a' }, { region: '' }])]).toEqual([
      ['', 2],
      ['a', 1],
    ]);
  });
});
