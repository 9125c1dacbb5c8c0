// Goal: the fault hook's peer rules cover every kind of peer call (issue 13 finding 8): a node
// that "cannot hear" a peer refuses its snapshot streams and forwarded writes too, not only
// its Raft stream, and an outbound delay holds snapshot streams as it holds Raft batches.
// Method: a real PeerServer on a free local port with a recording handler, and a PeerTransport
// of a second member calling it over gRPC.
import { afterEach, describe, expect, test } from 'vitest';
import { LIMITS } from '../../../src/config/limits.js';
import { type NodeId, nodeId } from '../../../src/lib/ids.js';
import type { InstallSnapshot, Message } from '../../../src/raft/index.js';
import { FaultHook } from '../../../src/transport/fault-hook.js';
import { PeerAuthenticator } from '../../../src/transport/peer-auth.js';
import type { ForwardOutcome, PeerHandler } from '../../../src/transport/peer-handler.js';
import { PeerServer } from '../../../src/transport/peer-server.js';
import { PeerTransport } from '../../../src/transport/transport.js';

const n1 = nodeId('n1');
const n2 = nodeId('n2');
const secret = 'a-cluster-secret-of-at-least-32-characters';

class Recorder implements PeerHandler {
  snapshotsAtMs: number[] = [];
  forwards = 0;
  deliver(_messages: readonly Message[]): void {}
  async receiveSnapshot(_m: InstallSnapshot, chunks: AsyncIterable<Uint8Array>): Promise<boolean> {
    for await (const _ of chunks) {
      /* drain */
    }
    this.snapshotsAtMs.push(Date.now());
    return true;
  }
  async forward(commands: readonly Uint8Array[]): Promise<ForwardOutcome[]> {
    this.forwards++;
    return commands.map(() => ({ ok: true, result: new Uint8Array() }));
  }
}

let closers: Array<() => void> = [];
afterEach(() => {
  for (const c of closers) c();
  closers = [];
});

async function pair(
  serverFaults: FaultHook,
  clientFaults: FaultHook,
): Promise<{ handler: Recorder; transport: PeerTransport }> {
  const handler = new Recorder();
  const server = new PeerServer(n1, new PeerAuthenticator('test', secret, [n1, n2]), handler, LIMITS, serverFaults);
  const port = await server.listen('127.0.0.1:0', null);
  const members = [
    {
      id: n1,
      region: 'r1',
      grpcAddress: '',
      peerAddress: `127.0.0.1:${port}`,
      httpAddress: '',
      adminAddress: null,
      tls: null,
      peerCert: null,
    },
    {
      id: n2,
      region: 'r2',
      grpcAddress: '',
      peerAddress: '127.0.0.1:1',
      httpAddress: '',
      adminAddress: null,
      tls: null,
      peerCert: null,
    },
  ];
  const transport = new PeerTransport(
    n2,
    members,
    { cluster: 'test', nodeId: n2, secret },
    null,
    LIMITS,
    () => {},
    clientFaults,
  );
  closers.push(
    () => transport.close(),
    () => server.close(),
  );
  return { handler, transport };
}

const snapshotMessage: InstallSnapshot = {
  type: 'snapshot',
  from: n2,
  to: n1,
  term: 1 as never,
  snapshot: { index: 5 as never, term: 1 as never, voters: [n1, n2], learners: [], contexts: {} },
};
async function* someBytes(): AsyncIterable<Uint8Array> {
  yield new Uint8Array([1, 2, 3]);
}

function rules(peer: NodeId, rule: Record<string, unknown>): FaultHook {
  const hook = new FaultHook();
  hook.set(FaultHook.parse({ [peer]: rule }, [n1, n2]));
  return hook;
}

describe('fault rules on every peer call', () => {
  test('a node that cannot hear a peer refuses its snapshot stream and its forwarded writes', async () => {
    const { handler, transport } = await pair(rules(n2, { dropInbound: true }), new FaultHook());
    expect(await transport.sendSnapshot(n1, snapshotMessage, someBytes())).toBe(false);
    const outcomes = await transport.forward(n1, [new Uint8Array([9])], Date.now() + 5_000);
    expect(outcomes[0]?.ok).toBe(false);
    expect(handler.snapshotsAtMs).toEqual([]);
    expect(handler.forwards).toBe(0);
  });

  test('calls go through without the rule', async () => {
    const { handler, transport } = await pair(new FaultHook(), new FaultHook());
    expect(await transport.sendSnapshot(n1, snapshotMessage, someBytes())).toBe(true);
    expect((await transport.forward(n1, [new Uint8Array([9])], Date.now() + 5_000))[0]?.ok).toBe(true);
    expect(handler.snapshotsAtMs.length).toBe(1);
  });

  test('an outbound delay holds a snapshot stream', async () => {
    const { handler, transport } = await pair(new FaultHook(), rules(n1, { delayOutboundMs: 500 }));
    const startMs = Date.now();
    expect(await transport.sendSnapshot(n1, snapshotMessage, someBytes())).toBe(true);
    expect(handler.snapshotsAtMs[0]! - startMs).toBeGreaterThanOrEqual(500);
  });
});
