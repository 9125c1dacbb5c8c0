import { Command } from '../src/gen/roomregistry/command/v1/command.js';

/** BENCH_METADATA: the 100-byte metadata of the in-process benchmarks' rooms. */
export const BENCH_METADATA = 'm'.repeat(100);

/** encodeCommand encodes one command with no request id, as the in-process benchmarks apply it. */
export function encodeCommand(command: Command['command']): Uint8Array {
  return Command.encode({ requestId: '', apiKey: '', command }).finish();
}

/** encodeCreateRoom: a CreateRoom of the in-process benchmarks (one-day timeout, 100-byte metadata). */
export function encodeCreateRoom(name: string): Uint8Array {
  return encodeCommand({
    $case: 'createRoom',
    value: {
      name,
      emptyTimeoutS: 86_400,
      departureTimeoutS: 20,
      maxParticipants: 0,
      nodeId: '',
      metadata: BENCH_METADATA,
      sid: `RM_${name.slice(-12).padStart(12, '0')}`,
      turnPassword: 'x'.repeat(16),
    },
  });
}
