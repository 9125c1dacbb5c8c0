/**
 * Goal: cluster/alerts.yml only names metrics the nodes really export, and every rule is
 * well-formed (issue 5). Method: parse the file, scrape GET /metrics of a real node, and look up
 * each metric name an expression uses (histogram _bucket/_sum/_count series by their base name).
 * The media-node rules (issue 16) are among those that must exist.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ProcessCluster, repoRoot } from '../harness/process-cluster.js';

interface Rule {
  alert?: unknown;
  expr?: unknown;
  labels?: { severity?: unknown };
  annotations?: { summary?: unknown };
}

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.launch(1);
});

afterAll(async () => {
  await cluster.stop();
});

it('every alert rule is well-formed and names only exported metrics', async () => {
  const doc = parse(readFileSync(join(repoRoot, 'cluster', 'alerts.yml'), 'utf8')) as {
    groups: Array<{ name: string; rules: Rule[] }>;
  };
  const res = await fetch(`http://${cluster.node('n1').http}/metrics`);
  expect(res.status).toBe(200);
  const exported = new Set([...(await res.text()).matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
  const rules = doc.groups.flatMap((g) => g.rules);
  expect(rules.length).toBeGreaterThanOrEqual(8);
  for (const rule of rules) {
    expect(typeof rule.alert, JSON.stringify(rule)).toBe('string');
    expect(typeof rule.expr, `${String(rule.alert)} has an expr`).toBe('string');
    expect(['page', 'ticket'], `${String(rule.alert)} has a severity`).toContain(rule.labels?.severity);
    expect(typeof rule.annotations?.summary, `${String(rule.alert)} has a summary`).toBe('string');
    const names = [...String(rule.expr).matchAll(/\b((?:room_registry|process|nodejs)_[a-z_]+)\b/g)].map(
      (m) => m[1] ?? '',
    );
    expect(names.length, `${String(rule.alert)} names a metric`).toBeGreaterThan(0);
    for (const n of names)
      expect(exported, `${String(rule.alert)} uses ${n}`).toContain(n.replace(/_(bucket|sum|count)$/, ''));
  }
  // The expiry alerts exist: they are what would have paged in time.
  expect(rules.map((r) => r.alert)).toEqual(
    expect.arrayContaining([
      'RoomRegistrySweeperBacklogGrowing',
      'RoomRegistrySweeperOverdue',
      'RoomRegistryNoLeader',
      'RoomRegistryMemberUnreachable',
      'RoomRegistryBackupStale',
      'RoomRegistryMediaRegionDown',
      'RoomRegistryMediaLeasesExpiringInBulk',
    ]),
  );
});
