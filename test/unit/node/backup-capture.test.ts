// Goal: RaftNode.captureBackup (issue 15 item 1) captures on the leader only (elsewhere
// UNAVAILABLE naming the leader), after every acknowledged write, with a meta naming the index
// and term the state is at; it holds the state machine's one capture slot, so snapshots wait
// until it is released, and a second backup waits for the first. Method: three RaftNodes over
// the in-memory twins (harness.ts), the KvMachine.
import { afterEach, expect, test } from 'vitest';
import { RegistryError } from '../../../src/lib/errors.js';
import { index, term } from '../../../src/lib/ids.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { SYSTEM_CLOCK } from '../../../src/node/clock.js';
import { MemoryNodeStorage, MemorySnapshotStore } from '../../../src/node/memory-storage.js';
import { Snapshotter } from '../../../src/node/snapshotter.js';
import { type Harness, cluster, enc, ids, soon, until } from './harness.js';
import { KvMachine } from './kv-machine.js';

let h: Harness | null = null;
afterEach(async () => {
  await h?.stopAll();
  h = null;
});

function read(source: { nextChunk(maxBytes: number): Uint8Array | null }): Map<string, string> {
  const parts: Uint8Array[] = [];
  for (let c = source.nextChunk(1 << 20); c !== null; c = source.nextChunk(1 << 20)) parts.push(c);
  return new Map(JSON.parse(new TextDecoder().decode(Buffer.concat(parts))) as Array<[string, string]>);
}

test('a follower refuses with the leader hint; the leader captures every acknowledged write', async () => {
  h = await cluster();
  const leader = h.leader();
  const follower = h.members.find((m) => m !== leader);
  if (follower === undefined) throw new Error('no follower');
  const refused: unknown = await follower.node.captureBackup(soon()).catch((e: unknown) => e);
  expect(refused).toBeInstanceOf(RegistryError);
  expect((refused as RegistryError).code).toBe('UNAVAILABLE');
  expect((refused as RegistryError).leaderId).toBe(leader.node.id);

  for (let i = 0; i < 20; i++) await follower.node.propose(enc(`k${i}=v${i}`), soon());
  const capture = await leader.node.captureBackup(soon());
  try {
    const state = read(capture.source);
    for (let i = 0; i < 20; i++) expect(state.get(`k${i}`)).toBe(`v${i}`);
    expect(capture.meta.index).toBeGreaterThanOrEqual(leader.kv.applied);
    expect(capture.meta.term).toBe(leader.storage.term(capture.meta.index));
    expect([...capture.meta.voters].sort()).toEqual(['a', 'b', 'c']);
  } finally {
    capture.release();
  }
});

test('snapshots and a second backup wait while a backup holds the capture', async () => {
  h = await cluster(); // snapshotIntervalEntries 50
  const leader = h.leader();
  const held = await leader.node.captureBackup(soon());
  const base = leader.storage.snapshotMeta().index;
  let secondTaken = false;
  const second = leader.node.captureBackup(soon()).then((c) => {
    secondTaken = true;
    return c;
  });
  for (let i = 0; i < 120; i++) await leader.node.propose(enc(`k${i}=v`), soon());
  expect(leader.storage.snapshotMeta().index).toBe(base);
  expect(secondTaken).toBe(false);

  held.release();
  const next = await second;
  held.release(); // idempotent: it does not free the slot the second backup now holds
  expect(held.aborted()).toBe(false);
  expect(next.meta.index).toBeGreaterThan(held.meta.index);
  for (let i = 0; i < 60; i++) await leader.node.propose(enc(`j${i}=v`), soon());
  expect(leader.storage.snapshotMeta().index).toBe(base);
  next.release();
  for (let i = 0; i < 60; i++) await leader.node.propose(enc(`i${i}=v`), soon());
  await until('a snapshot once the backups are released', () => leader.storage.snapshotMeta().index > base);
});

test('installing a snapshot cuts a held backup short instead of waiting for it', async () => {
  const storage = new MemoryNodeStorage();
  const store = new MemorySnapshotStore();
  const kv = new KvMachine();
  const snapshotter = new Snapshotter(storage, store, kv, silentLogger, SYSTEM_CLOCK, () => undefined);
  const held = await snapshotter.captureExclusive(() => ({
    index: index(0),
    term: term(0),
    voters: ids,
    learners: [],
    contexts: {},
  }));
  const meta = { index: index(10), term: term(2), voters: ids, learners: [], contexts: {} };
  await store.save(meta, chunksOf(enc(JSON.stringify([['k', 'v']]))));
  await snapshotter.install(meta); // it would wait forever for the held slot
  expect(held.aborted()).toBe(true);
  expect(kv.map.get('k')).toBe('v');
  expect(storage.snapshotMeta().index).toBe(10);
});

async function* chunksOf(...chunks: Uint8Array[]): AsyncIterable<Uint8Array> {
  await Promise.resolve();
  yield* chunks;
}
