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
import { Command } from '../src/gen/roomregistry/command/v1/command.js';
import { index } from '../src/lib/ids.js';
import { RoomRegistry } from '../src/registry/index.js';

const { values } = parseArgs({
  options: { rooms: { type: 'string', default: '200000' }, rounds: { type: 'string', default: '4' } },
});
const rooms = Number(values.rooms);
const rounds = Number(values.rounds);
const metadata = 'm'.repeat(100);

const encode = (command: Command['command']): Uint8Array =>
  Command.encode({ requestId: '', apiKey: '', command }).finish();
const names = Array.from({ length: rooms }, (_, i) => `room-${i}`);
const creates = names.map((name, i) =>
  encode({
    $case: 'createRoom',
    value: {
      name,
      emptyTimeoutS: 86_400,
      departureTimeoutS: 20,
      maxParticipants: 0,
      nodeId: '',
      metadata,
      sid: `RM_${String(i).padStart(12, '0')}`,
      turnPassword: 'x'.repeat(16),
    },
  }),
);
const updates = names.map((name) => encode({ $case: 'updateRoomMetadata', value: { name, metadata: `${metadata}u` } }));
const deletes = names.map((name) => encode({ $case: 'deleteRoom', value: { name } }));

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
