// Goal: every command is checked before it is proposed, whether a local caller (the API) or a
// follower's Forward call brought it (issue 12 item 4): over commandBytesMax or refused by the
// validator, it fails alone with INVALID_ARGUMENT and never reaches the log. Method: one
// RaftNode over the in-memory twins, a validator that refuses one payload, and the KV machine.
import { afterEach, expect, test } from 'vitest';
import { LIMITS } from '../../../src/config/limits.js';
import { RegistryError } from '../../../src/lib/errors.js';
import { nodeId } from '../../../src/lib/ids.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { SeededRng } from '../../../src/lib/rng.js';
import { MemoryNodeStorage, MemorySnapshotStore } from '../../../src/node/memory-storage.js';
import { RaftNode } from '../../../src/node/node.js';
import { MemoryNetwork } from '../../../src/transport/memory-transport.js';
import { KvMachine } from './kv-machine.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
let node: RaftNode | null = null;
afterEach(async () => {
  await node?.stop();
});

test('a command too big or refused by the validator fails alone, local or forwarded', async () => {
  const id = nodeId('a');
  const network = new MemoryNetwork();
  const kv = new KvMachine();
  const n = new RaftNode({
    id,
    voters: [id],
    storage: new MemoryNodeStorage(),
    snapshots: new MemorySnapshotStore(),
    stateMachine: kv,
    transport: network.transportFor(id),
    logger: silentLogger,
    random: new SeededRng(1),
    tickIntervalMs: 5,
    validateCommand: (p) =>
      new TextDecoder().decode(p).startsWith('bad')
        ? new RegistryError('INVALID_ARGUMENT', 'refused by the validator')
        : null,
  });
  node = n;
  network.register(id, n);
  n.start();
  for (const endMs = Date.now() + 5_000; n.status().role !== 'leader';) {
    if (Date.now() > endMs) throw new Error('no leader');
    await new Promise((r) => setTimeout(r, 5));
  }
  const deadlineMs = (): number => Date.now() + 2_000;
  const tooBig = new Uint8Array(LIMITS.commandBytesMax + 1).fill(0x61);
  await expect(n.propose(tooBig, deadlineMs())).rejects.toMatchObject({
    code: 'INVALID_ARGUMENT',
    message: expect.stringContaining('commandBytesMax') as unknown,
  });
  await expect(n.propose(enc('bad=1'), deadlineMs())).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  const outcomes = await n.forward([enc('bad=2'), tooBig, enc('k=v')], deadlineMs());
  expect(outcomes.map((o) => (o.ok ? 'ok' : o.error.code))).toEqual(['INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'ok']);
  expect([...kv.map.keys()]).toEqual(['k']); // only the good command reached the log
});
