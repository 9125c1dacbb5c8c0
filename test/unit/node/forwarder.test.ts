// Goal: a follower's forwarded writes always end, and a transport failure never becomes an
// unhandled rejection (issue 13 finding 8). Method: the Forwarder over transports that throw,
// reject, or answer fewer outcomes than commands; each caller must get an error well before
// its deadline (vitest also fails the run on any unhandled rejection).
import { describe, expect, test } from 'vitest';
import { RegistryError } from '../../../src/lib/errors.js';
import { nodeId } from '../../../src/lib/ids.js';
import { SYSTEM_CLOCK } from '../../../src/node/clock.js';
import { Forwarder } from '../../../src/node/forwarder.js';
import type { QueuedProposal } from '../../../src/node/proposals.js';
import { Waiter } from '../../../src/node/waiter.js';
import type { ForwardOutcome } from '../../../src/transport/peer-handler.js';
import type { Transport } from '../../../src/transport/transport.js';

function transportWhoseForward(forward: Transport['forward']): Transport {
  return { send: () => {}, sendSnapshot: async () => false, forward, connectedPeers: () => [], close: () => {} };
}

function proposals(n: number): QueuedProposal[] {
  return Array.from({ length: n }, () => ({
    payload: new Uint8Array([1]),
    forwarded: false,
    waiter: new Waiter<Uint8Array>(Date.now() + 10_000, 'deadline', SYSTEM_CLOCK),
  }));
}

async function codes(ps: QueuedProposal[]): Promise<string[]> {
  const startMs = Date.now();
  const out = await Promise.all(
    ps.map((p) =>
      p.waiter.promise.then(
        () => 'ok',
        (e: unknown) => (e instanceof RegistryError ? e.code : String(e)),
      ),
    ),
  );
  expect(Date.now() - startMs).toBeLessThan(5_000); // long before the 10 s deadline
  return out;
}

describe('Forwarder', () => {
  test('a transport that throws fails the callers at once', async () => {
    const ps = proposals(2);
    new Forwarder(
      transportWhoseForward(() => {
        throw new Error('forward to unknown member');
      }),
    ).forward(nodeId('b'), ps);
    expect(await codes(ps)).toEqual(['UNAVAILABLE', 'UNAVAILABLE']);
  });

  test('a transport that rejects fails the callers at once', async () => {
    const ps = proposals(2);
    new Forwarder(transportWhoseForward(() => Promise.reject(new Error('socket closed')))).forward(nodeId('b'), ps);
    expect(await codes(ps)).toEqual(['UNAVAILABLE', 'UNAVAILABLE']);
  });

  test('a caller without an outcome in the answer is failed, not left to its deadline', async () => {
    const ps = proposals(2);
    const one: ForwardOutcome[] = [{ ok: true, result: new Uint8Array() }];
    new Forwarder(transportWhoseForward(() => Promise.resolve(one))).forward(nodeId('b'), ps);
    expect(await codes(ps)).toEqual(['ok', 'INTERNAL']);
  });
});
