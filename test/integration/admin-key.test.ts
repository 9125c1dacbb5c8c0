/**
 * Goal: admin operations need an admin key (issue 12, "Also deliver"): TransferLeadership with
 * a token of an ordinary API key, even one with every room grant, fails PERMISSION_DENIED and
 * leaves the leader in place; with a key the config lists in `adminKeys` it moves leadership;
 * each attempt is logged (who, what, when, outcome). Method: a real 3-node cluster whose
 * config adds an admin key; RoomClient calls; the leader's log file.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { RoomClient } from '../../src/client/room-client.js';
import { ProcessCluster, waitUntil } from '../harness/process-cluster.js';

const adminKey = 'opskey';
const adminSecret = 'ops-secret-ops-secret-ops-secret-0001';

let cluster: ProcessCluster | null = null;
afterAll(async () => {
  await cluster?.stop();
});

describe('TransferLeadership', () => {
  it('needs an admin key, and every attempt is logged', async () => {
    const c = await ProcessCluster.create(3);
    cluster = c;
    const config = JSON.parse(readFileSync(c.configFile, 'utf8')) as { apiKeys: Record<string, string> } & Record<string, unknown>;
    config.apiKeys[adminKey] = adminSecret;
    config['adminKeys'] = [adminKey];
    writeFileSync(c.configFile, JSON.stringify(config));
    c.startAll();
    const leader = await c.waitForLeader();
    const target = c.nodes.find((n) => n.id !== leader)?.id ?? '';

    const ordinary = c.client(leader);
    const denied = await ordinary.transferLeadership(target).then(
      () => null,
      (e: grpc.ServiceError) => e,
    );
    expect(denied?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(denied?.details).toMatch(/admin API key/);
    expect(await c.waitForLeader()).toBe(leader);

    const admin = new RoomClient(c.node(leader).grpc, { apiKey: adminKey, apiSecret: adminSecret });
    try {
      expect((await admin.transferLeadership(target)).to).toBe(target);
    } finally {
      admin.close();
    }
    await waitUntil(`${target} leads`, async () => (await c.waitForLeader()) === target);

    const audit = readFileSync(c.node(leader).logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"event":"admin_operation"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(audit).toHaveLength(2);
    expect(audit[0]).toMatchObject({ apiKey: c.apiKey, operation: 'TransferLeadership', to: target, outcome: 'PERMISSION_DENIED' });
    expect(audit[1]).toMatchObject({ apiKey: adminKey, operation: 'TransferLeadership', to: target, outcome: 'OK' });
    expect(typeof audit[1]?.['ts']).toBe('string');
    expect(c.unexpectedExits).toEqual([]);
  });
});
