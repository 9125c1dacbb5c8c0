/**
 * Goal: WatchRooms delivery is bounded and off the apply path (issue 12 item 7): apply only
 * records a change; the hub delivers on a later turn, encodes each event once for all watchers,
 * counts the bytes queued per watcher and ends a live one past its cap with RESOURCE_EXHAUSTED
 * at a revision boundary, caps the watchers, and replays a resuming watcher in steps.
 * Method: a real RoomRegistry driven by the test, a hand-run scheduler and fake sinks whose
 * writes complete only when the test says so.
 */
import { describe, expect, it } from 'vitest';
import { WatchRoomsResponse } from '../../../src/gen/roomregistry/v1/rooms.js';
import type { RegistryError } from '../../../src/lib/errors.js';
import { RoomRegistry, type RoomEvent } from '../../../src/registry/index.js';
import { WatchHub, encodeEvent, type WatchLimits, type WatchSink } from '../../../src/api/watch-hub.js';
import { Driver, cmd } from '../registry/commands.js';

/** FakeSink records writes; `drain` completes the pending ones (a client that reads). */
class FakeSink implements WatchSink {
  readonly written: Uint8Array[] = [];
  private pending: (() => void)[] = [];
  ended: RegistryError | null = null;
  constructor(private readonly autoDrain: boolean) {}
  write(bytes: Uint8Array, done: () => void): void {
    this.written.push(bytes);
    if (this.autoDrain) queueMicrotask(done);
    else this.pending.push(done);
  }
  end(error: RegistryError): void {
    this.ended = error;
  }
  drain(): void {
    const p = this.pending;
    this.pending = [];
    for (const done of p) done();
  }
  events(): string[] {
    return this.written.map((b) => {
      const r = WatchRoomsResponse.decode(b);
      return `${r.type}:${r.room?.name}@${r.revision}`;
    });
  }
}

function setup(limits: Partial<WatchLimits> = {}) {
  const d = new Driver(new RoomRegistry());
  const queued: (() => void)[] = [];
  let encodes = 0;
  const hub = new WatchHub(
    d.registry,
    { watchersMax: 8, watchQueueBytesMax: 1 << 20, watchReplayBatchEventsMax: 64, ...limits },
    (run) => queued.push(run),
    (e: RoomEvent) => {
      encodes++;
      return encodeEvent(e);
    },
  );
  const runScheduled = (): void => {
    while (queued.length > 0) queued.shift()?.();
  };
  return { d, hub, runScheduled, encodes: () => encodes };
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe('WatchHub', () => {
  it('delivers after apply, not inside it, and encodes each event once for every watcher', async () => {
    const { d, hub, runScheduled, encodes } = setup();
    const [a, b] = [new FakeSink(true), new FakeSink(true)];
    expect(hub.add(0, a).ok).toBe(true);
    expect(hub.add(0, b).ok).toBe(true);
    d.apply(cmd.create('r1'));
    d.apply(cmd.update('r1', 'm'));
    d.apply(cmd.remove('r1'));
    expect(a.written).toHaveLength(0); // apply only recorded the changes
    runScheduled();
    expect(a.events()).toEqual(['1:r1@1', '2:r1@2', '3:r1@3']);
    expect(b.written).toHaveLength(3);
    for (let i = 0; i < 3; i++) expect(b.written[i]).toBe(a.written[i]); // the same bytes, shared
    expect(encodes()).toBe(3);
    await settle();
    expect(hub.stats().queuedBytes).toBe(0);
  });

  it('ends a watcher that does not read once its queue passes the cap, at a revision boundary, and keeps serving the others', async () => {
    const { d, hub, runScheduled } = setup({ watchQueueBytesMax: 2_000 });
    const stalled = new FakeSink(false);
    const reader = new FakeSink(true);
    const sw = hub.add(0, stalled);
    hub.add(0, reader);
    d.apply(cmd.create('big'));
    for (let i = 0; i < 20; i++) {
      d.apply(cmd.update('big', 'x'.repeat(300) + i));
      runScheduled();
      await settle();
    }
    expect(stalled.ended?.code).toBe('RESOURCE_EXHAUSTED');
    expect(stalled.ended?.message).toMatch(/watcher too slow/);
    const sent = stalled.written.reduce((n, b) => n + b.byteLength, 0);
    expect(sent).toBeGreaterThan(2_000);
    expect(sent).toBeLessThan(2_000 + 400); // it stopped at the first revision past the cap
    expect(reader.written).toHaveLength(21);
    expect(hub.stats()).toMatchObject({ watchers: 2, cutSlow: 1 });
    // Its slot and bytes stay taken until its stream is gone.
    if (sw.ok) sw.close();
    expect(hub.stats()).toMatchObject({ watchers: 1, queuedBytes: 0 });
  });
});

describe('WatchHub bounds and replay', () => {
  it('refuses watchers past watchersMax with RESOURCE_EXHAUSTED, and takes one again when a slot frees', () => {
    const { hub } = setup({ watchersMax: 2 });
    const first = hub.add(0, new FakeSink(true));
    hub.add(0, new FakeSink(true));
    const third = hub.add(0, new FakeSink(true));
    expect(third.ok === false && third.error.code).toBe('RESOURCE_EXHAUSTED');
    expect(hub.stats().refusedFull).toBe(1);
    if (first.ok) first.close();
    expect(hub.add(0, new FakeSink(true)).ok).toBe(true);
  });

  it('replays a resuming watcher in steps as it drains, then follows live changes without gap or repeat', () => {
    const { d, hub, runScheduled } = setup({ watchQueueBytesMax: 500, watchReplayBatchEventsMax: 4 });
    for (let i = 0; i < 50; i++) d.apply(cmd.create(`r${i}`));
    runScheduled();
    hub.add(0, new FakeSink(true)); // a live watcher, so live delivery runs
    const resuming = new FakeSink(false);
    expect(hub.add(10, resuming).ok).toBe(true);
    expect(resuming.written.length).toBeGreaterThan(0);
    expect(resuming.written.length).toBeLessThan(40); // not all at once: it has not read yet
    for (let i = 0; i < 100 && resuming.written.length < 40; i++) resuming.drain();
    d.apply(cmd.create('late'));
    runScheduled();
    resuming.drain();
    const revisions = resuming.events().map((e) => Number(e.split('@')[1]));
    expect(revisions).toEqual(Array.from({ length: 41 }, (_, i) => 11 + i));
    expect(resuming.ended).toBeNull();
  });

  it('ends watchers OUT_OF_RANGE when a snapshot replaces the history, and refuses a revision already dropped', async () => {
    const { d, hub, runScheduled } = setup();
    const sink = new FakeSink(true);
    hub.add(0, sink);
    d.apply(cmd.create('a'));
    runScheduled();
    const source = new Driver(new RoomRegistry());
    for (let i = 0; i < 5; i++) source.apply(cmd.create(`s${i}`));
    const capture = source.registry.captureSnapshot();
    const chunks: Uint8Array[] = [];
    for (let c = capture.nextChunk(1 << 20); c !== null; c = capture.nextChunk(1 << 20)) chunks.push(c);
    await d.registry.restore(
      (async function* () {
        yield* chunks;
      })(),
    );
    runScheduled();
    expect(sink.ended?.code).toBe('OUT_OF_RANGE');
    const old = hub.add(1, new FakeSink(true));
    expect(old.ok === false && old.error.code).toBe('OUT_OF_RANGE');
  });
});
