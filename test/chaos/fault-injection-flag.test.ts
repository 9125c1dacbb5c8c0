/**
 * Goal: the peer fault hook is test-only. A node started without --enable-fault-injection has
 * no /debug/faults endpoint at all, so no request can partition a production node; with the
 * flag the endpoint takes, shows and clears rules, and refuses rules it cannot understand.
 * Method: one-node clusters of real processes from the built CLI, plain HTTP requests.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ProcessCluster } from '../harness/process-cluster.js';

const clusters: ProcessCluster[] = [];

async function oneNode(extraArgs: readonly string[]): Promise<string> {
  const c = await ProcessCluster.create(1, extraArgs);
  clusters.push(c);
  c.startAll();
  await c.waitForLeader();
  return `http://${c.node('n1').http}/debug/faults`;
}

afterEach(async () => {
  await Promise.all(clusters.splice(0).map((c) => c.stop()));
});

describe('the fault injection endpoint', () => {
  it('does not exist without --enable-fault-injection', async () => {
    const url = await oneNode([]);
    const put = await fetch(url, { method: 'PUT', body: JSON.stringify({ n1: { dropOutbound: true } }) });
    expect(put.ok).toBe(false);
    expect(put.status).toBe(405);
    const get = await fetch(url);
    expect(get.status).toBe(404);
    const del = await fetch(url, { method: 'DELETE' });
    expect(del.ok).toBe(false);
  });

  it('takes, shows and clears rules with the flag, and refuses bad ones', async () => {
    const url = await oneNode(['--enable-fault-injection']);
    const put = await fetch(url, { method: 'PUT', body: JSON.stringify({ n1: { delayOutboundMs: 50 } }) });
    expect(put.status).toBe(200);
    expect(await (await fetch(url)).json()).toEqual({
      n1: { dropOutbound: false, dropInbound: false, delayOutboundMs: 50 },
    });
    const unknownPeer = await fetch(url, { method: 'PUT', body: JSON.stringify({ n9: { dropOutbound: true } }) });
    expect(unknownPeer.status).toBe(400);
    const tooLong = await fetch(url, { method: 'PUT', body: JSON.stringify({ n1: { delayOutboundMs: 10_000_000 } }) });
    expect(tooLong.status).toBe(400);
    expect((await fetch(url, { method: 'DELETE' })).status).toBe(200);
    expect(await (await fetch(url)).json()).toEqual({});
  });
});
