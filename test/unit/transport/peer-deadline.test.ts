// Goal: a snapshot stream that stops making progress is abandoned after
// LIMITS.peerCallDeadlineMs, not held for the whole stream deadline (issue 13 finding 8: the
// limit was unused). Method: a real PeerServer; a raw client sends the first chunk of a
// snapshot stream and then nothing; the server must answer with an error in time.
import * as grpc from '@grpc/grpc-js';
import { afterEach, expect, test } from 'vitest';
import { LIMITS } from '../../../src/config/limits.js';
import { encodeMessage } from '../../../src/transport/codec.js';
import { PeerServiceClient } from '../../../src/gen/roomregistry/peer/v1/peer.js';
import { nodeId } from '../../../src/lib/ids.js';
import { PeerAuthenticator, peerMetadata } from '../../../src/transport/peer-auth.js';
import type { PeerHandler } from '../../../src/transport/peer-handler.js';
import { PeerServer } from '../../../src/transport/peer-server.js';

const n1 = nodeId('n1');
const n2 = nodeId('n2');
const secret = 'a-cluster-secret-of-at-least-32-characters';
let closers: Array<() => void> = [];
afterEach(() => {
  for (const c of closers) c();
  closers = [];
});

test('a snapshot stream stalled after its first chunk is failed within peerCallDeadlineMs', async () => {
  const handler: PeerHandler = {
    deliver: () => {},
    receiveSnapshot: async (_m, chunks) => {
      for await (const _ of chunks) {
        /* drain */
      }
      return true;
    },
    forward: async () => [],
  };
  const server = new PeerServer(n1, new PeerAuthenticator('test', secret, [n1, n2]), handler, LIMITS);
  const port = await server.listen('127.0.0.1:0', null);
  const client = new PeerServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  closers.push(
    () => client.close(),
    () => server.close(),
  );
  const startMs = Date.now();
  const outcome = await new Promise<grpc.ServiceError | null>((resolve) => {
    const call = client.installSnapshot(
      peerMetadata({ cluster: 'test', nodeId: n2, secret }),
      { deadline: Date.now() + 60_000 },
      (e) => resolve(e),
    );
    const message = encodeMessage({
      type: 'snapshot',
      from: n2,
      to: n1,
      term: 1 as never,
      snapshot: { index: 5 as never, term: 1 as never, voters: [n1, n2], learners: [], contexts: {} },
    });
    call.write({ message, data: Buffer.from([1, 2, 3]), last: false });
    // ... and nothing more: the stream stays open without progress.
  });
  expect(outcome?.code).toBe(grpc.status.INTERNAL);
  expect(Date.now() - startMs).toBeLessThan(LIMITS.peerCallDeadlineMs + 10_000);
}, 30_000);
