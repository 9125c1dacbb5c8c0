/** Goal: the fault hook's disk rule is bounded, ends for waiting writes when cleared, and cannot be confused with a member. */
import { expect, it } from 'vitest';
import { nodeId } from '../../../src/lib/ids.js';
import { FaultHook, diskStallMsMax } from '../../../src/transport/fault-hook.js';

const members = [nodeId('n1'), nodeId('n2')];

it('reads a disk stall beside peer rules and refuses bad ones with a clear message', () => {
  const f = FaultHook.parse({ n2: { dropOutbound: true }, disk: { stallMs: 5_000 } }, members);
  expect(f.diskStallMs).toBe(5_000);
  expect(f.peers.get(nodeId('n2'))?.dropOutbound).toBe(true);
  expect(() => FaultHook.parse({ disk: { stallMs: diskStallMsMax + 1 } }, members)).toThrow(
    `disk.stallMs must be in 0..${diskStallMsMax}`,
  );
  expect(() => FaultHook.parse({ disk: { stallMs: 'long' } }, members)).toThrow('disk.stallMs');
  expect(() => FaultHook.parse({}, [...members, nodeId('disk')])).toThrow('a member is named "disk"');
});

it('holds a disk write while stalled and lets it go once cleared', async () => {
  const hook = new FaultHook();
  await hook.beforeDiskWrite(); // no stall: at once
  hook.set({ peers: new Map(), diskStallMs: diskStallMsMax });
  let done = false;
  const write = hook.beforeDiskWrite().then(() => {
    done = true;
  });
  await new Promise((r) => setTimeout(r, 50));
  expect(done).toBe(false);
  expect(hook.describe()).toEqual({ disk: { stallMs: diskStallMsMax } });
  hook.clear();
  await write;
  expect(done).toBe(true);
});

it('reads a power cut and hands it to the storage layer, or refuses it without one', () => {
  const f = FaultHook.parse({ disk: { powerLoss: true } }, members);
  expect(f.powerLoss).toBe(true);
  expect(() => FaultHook.parse({ disk: { powerLoss: 'yes' } }, members)).toThrow('disk.powerLoss');
  expect(() => new FaultHook().set(f)).toThrow('needs the storage fault layer');
  let cuts = 0;
  new FaultHook(() => cuts++).set(f);
  expect(cuts).toBe(1);
});
