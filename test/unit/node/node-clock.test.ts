/**
 * Goal: RaftNode reads time, timers and turns only from its injected NodeClock, and a failed
 * turn goes to its onFatal hook instead of ending the process (issue 13: the simulator drives
 * the real node). Method: one member on the simulator's SimScheduler, whose clock stands far
 * from the wall clock; the node must elect itself on simulated ticks, stamp entries with the
 * simulated time, time out a read on a simulated deadline, and report a failed log write to
 * onFatal. Before the injection the node stamped Date.now, ticked on real timers (so it never
 * became leader here) and called process.exit.
 */
import { expect, test } from 'vitest';
import { RegistryError } from '../../../src/lib/errors.js';
import { nodeId } from '../../../src/lib/ids.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { SeededRng } from '../../../src/lib/rng.js';
import { MemoryNodeStorage, MemorySnapshotStore } from '../../../src/node/memory-storage.js';
import { RaftNode } from '../../../src/node/node.js';
import type { Entry, HardState } from '../../../src/raft/index.js';
import { MemoryNetwork } from '../../../src/transport/memory-transport.js';
import { SimScheduler } from '../../sim/scheduler.js';
import { KvMachine } from './kv-machine.js';

/** START_STEP: the simulated clock starts here (ms since the epoch: 1970), far from Date.now. */
const START_STEP = 1_000_000;
/** STEPS_MAX: how long the test lets simulated time run before it gives up on a condition. */
const STEPS_MAX = 5_000;

class BreakableStorage extends MemoryNodeStorage {
  broken = false;

  override persist(entries: readonly Entry[], hardState: HardState | null): Promise<void> {
    if (this.broken) return Promise.reject(new Error('disk gone'));
    return super.persist(entries, hardState);
  }
}

test('the node runs on its injected clock and reports a failed turn to onFatal', async () => {
  const scheduler = new SimScheduler();
  const clock = scheduler.process('n1');
  const id = nodeId('n1');
  const storage = new BreakableStorage([id]);
  const machine = new KvMachine();
  const fatal: unknown[] = [];
  const node = new RaftNode({
    id,
    voters: [id],
    storage,
    snapshots: new MemorySnapshotStore(),
    stateMachine: machine,
    transport: new MemoryNetwork().transportFor(id),
    logger: silentLogger,
    random: new SeededRng(1),
    clock,
    onFatal: (e) => fatal.push(e),
    tickIntervalMs: 10,
  });
  let step = START_STEP;
  const runUntil = async (done: () => boolean): Promise<void> => {
    for (const end = step + STEPS_MAX; !done() && step < end;) await scheduler.runStep(++step);
  };
  node.start();
  await runUntil(() => node.status().role === 'leader');
  expect(node.status().role).toBe('leader');

  let written = false;
  const write = node.propose(new TextEncoder().encode('a=1'), clock.nowMs() + 1000).then(() => (written = true));
  const proposedAtMs = clock.nowMs();
  await runUntil(() => written);
  await write;
  // Stamped in the turn after the proposal, in simulated time (the wall clock reads ~1.7e12).
  const [entryTimeMs] = machine.appliedTimesMs;
  expect(entryTimeMs !== undefined && entryTimeMs >= proposedAtMs && entryTimeMs <= clock.nowMs()).toBe(true);

  storage.broken = true;
  const lost = node.propose(new TextEncoder().encode('b=2'), clock.nowMs() + 1000).catch((e: unknown) => e);
  await runUntil(() => fatal.length > 0);
  expect(fatal).toEqual([new Error('disk gone')]);
  // The broken node never answers: the caller's simulated deadline does.
  let refused: unknown = null;
  void lost.then((e) => (refused = e));
  await runUntil(() => refused !== null);
  expect(refused).toBeInstanceOf(RegistryError);
  expect((refused as RegistryError).code).toBe('DEADLINE_EXCEEDED');
});
