/**
 * Goal: admin operations need an admin key (issue 12, "Also deliver"): TransferLeadership with
 * a token of an ordinary API key, even one with every room grant, fails PERMISSION_DENIED and
 * leaves the leader in place; with a key the config lists in `adminKeys` it moves leadership;
 * each attempt is logged (who, what, when, outcome). A node entry naming an `admin` listener
 * serves /metrics there and no longer on its public http listener, where /status stays.
 * Method: a real 3-node cluster whose config adds an admin key and admin listeners;
 * RoomClient calls; the leader's log file; plain HTTP GETs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { RoomClient } from '../../src/client/room-client.js';
import { ProcessCluster, freePort, waitUntil } from '../harness/process-cluster.js';

const adminKey = 'opskey';
const adminSecret = 'ops-secret-ops-secret-ops-secret-0001';

let cluster: ProcessCluster | null = null;
const adminAddresses = new Map<string, string>();
afterAll(async () => {
  await cluster?.stop();
});

describe('TransferLeadership', () => {
  it('needs an admin key, and every attempt is logged', async () => {
    const c = await ProcessCluster.create(3);
    cluster = c;
    const config = JSON.parse(readFileSync(c.configFile, 'utf8')) as {
      apiKeys: Record<string, string>;
      nodes: Array<Record<string, unknown>>;
    } & Record<string, unknown>;
    config.apiKeys[adminKey] = adminSecret;
    config['adminKeys'] = [adminKey];
    for (const n of config.nodes) {
      n['admin'] = `127.0.0.1:${await freePort()}`;
      adminAddresses.set(String(n['id']), String(n['admin']));
    }
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

    const admin = new RoomClient(c.node(leader).grpc, { apiKey: adminKey, apiSecret: adminSecret });
    try {
      expect((await admin.transferLeadership(target)).to).toBe(target);
    } finally {
      admin.close();
    }
    await waitUntil(`${target} leads`, async () => (await c.waitForLeader()) === target);

    const audit = await c.waitForLogEvents(leader, 'admin_operation', 2);
    expect(audit).toHaveLength(2);
    expect(audit[0]).toMatchObject({
      apiKey: c.apiKey,
      operation: 'TransferLeadership',
      to: target,
      outcome: 'PERMISSION_DENIED',
    });
    expect(audit[1]).toMatchObject({ apiKey: adminKey, operation: 'TransferLeadership', to: target, outcome: 'OK' });
    expect(typeof audit[1]?.['ts']).toBe('string');
    expect(c.unexpectedExits).toEqual([]);
  });

  it('serves /metrics on the admin listener only, and /status on both', async () => {
    const c = cluster;
    if (c === null) throw new Error('the first test starts the cluster');
    const adminMetrics = await fetch(`http://${adminAddresses.get('n1') ?? ''}/metrics`);
    expect(adminMetrics.status).toBe(200);
    expect(await adminMetrics.text()).toContain('room_registry_');
    expect((await fetch(`http://${c.node('n1').http}/metrics`)).status).toBe(404);
    expect((await fetch(`http://${c.node('n1').http}/status`)).status).toBe(200);
    expect((await fetch(`http://${adminAddresses.get('n1') ?? ''}/status`)).status).toBe(200);
  });
});

describe('membership RPCs (issue 14)', () => {
  it('need an admin key, and every attempt is logged', async () => {
    const c = cluster;
    if (c === null) throw new Error('the first test starts the cluster');
    const leader = await c.waitForLeader();
    const ordinary = c.client(leader);
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['ListMembers', () => ordinary.listMembers()],
      [
        'AddMember',
        () => ordinary.addMember({ id: 'n9', region: 'r', grpc: 'h:1', peer: 'h:2', http: 'h:3', learner: true }),
      ],
      ['PromoteMember', () => ordinary.promoteMember('n1')],
      ['RemoveMember', () => ordinary.removeMember('n1')],
    ];
    for (const [operation, call] of calls) {
      const denied = await call().then(
        () => null,
        (e: grpc.ServiceError) => e,
      );
      expect(denied?.code, operation).toBe(grpc.status.PERMISSION_DENIED);
    }
    const admin = new RoomClient(c.node(leader).grpc, { apiKey: adminKey, apiSecret: adminSecret });
    try {
      const listed = await admin.listMembers();
      expect(listed.members.map((m) => m.id).sort()).toEqual(['n1', 'n2', 'n3']);
      expect(listed.answeredBy).toBe(leader);
    } finally {
      admin.close();
    }
    const audit = (): Array<Record<string, unknown>> =>
      c.logEvents(leader, 'admin_operation').filter((a) => a['operation'] !== 'TransferLeadership');
    // The node writes its log through a pipe: a record can land after the call it records answered.
    await waitUntil('the five calls are logged', () => Promise.resolve(audit().length >= 5));
    expect(audit().map((a) => `${String(a['operation'])}:${String(a['outcome'])}`)).toEqual([
      'ListMembers:PERMISSION_DENIED',
      'AddMember:PERMISSION_DENIED',
      'PromoteMember:PERMISSION_DENIED',
      'RemoveMember:PERMISSION_DENIED',
      'ListMembers:OK',
    ]);
  });
});
