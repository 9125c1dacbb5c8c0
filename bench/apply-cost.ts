/**
 * apply-cost: the CPU time RoomRegistry.apply spends per command, alone in one process: N
 * CreateRooms (100-byte metadata), then N metadata updates, then N deletes, over several
 * rounds, each on a fresh registry. The commands are encoded before the clock starts; CPU time
 * (process.cpuUsage, GC threads included) rather than wall time, so a busy machine distorts it
 * less. For an A/B, run it in two checkouts one after the other, alternating.
 *
 *   node dist/bench/apply-cost.js [--rooms 200000] [--rounds 4]
 */
import { parseArgs } from 'node:util';
import { index } from '../src/lib/ids.js';
import { RoomRegistry } from '../src/registry/index.js';
import { BENCH_METADATA, encodeCommand, encodeCreateRoom } from './room-commands.js';

const { values } = parseArgs({
  options: { rooms: { type: 'string', default: '200000' }, rounds: { type: 'string', default: '4' } },
});
const rooms = Number(values.rooms);
const rounds = Number(values.rounds);
const names = Array.from({ length: rooms }, (_, i) => `room-${i}`);
const creates = names.map(encodeCreateRoom);
const updates = names.map((name) =>
  encodeCommand({ $case: 'updateRoomMetadata', value: { name, metadata: `${BENCH_METADATA}u` } }),
);
const deletes = names.map((name) => encodeCommand({ $case: 'deleteRoom', value: { name } }));

for (let round = 1; round <= rounds; round++) {
  const registry = new RoomRegistry();
  let at = 0;
  const entryTimeMs = Date.now();
  const microsPerApply = (payloads: readonly Uint8Array[]): number => {
    const start = process.cpuUsage();
    for (const p of payloads) registry.apply(index(++at), p, entryTimeMs);
    const used = process.cpuUsage(start);
    return +((used.user + used.system) / payloads.length).toFixed(2);
  };
  const result = {
    bench: 'apply-cost',
    round,
    rooms,
    createUs: microsPerApply(creates),
    updateUs: microsPerApply(updates),
    deleteUs: microsPerApply(deletes),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
