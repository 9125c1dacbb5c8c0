import { Command, CommandResult } from '../gen/roomregistry/command/v1/command.js';
import { Consistency } from '../gen/roomregistry/v1/rooms.js';
import { RegistryError, isRegistryErrorCode } from '../lib/errors.js';
import { encodeMessage } from '../lib/proto-encode.js';
import type { RaftNode } from '../node/node.js';

/**
 * The two ways every API handler reaches the registry, shared by RoomService and
 * MediaNodeService so both write and read by one rule: writes go through Raft (a follower
 * forwards), reads are linearizable unless LOCAL is asked for (DESIGN §1).
 */

/** proposeCommand proposes one command and turns a Failure result into the error it names. */
export async function proposeCommand(
  node: Pick<RaftNode, 'propose'>,
  command: Command,
  deadlineMs: number,
): Promise<CommandResult> {
  const result = CommandResult.decode(await node.propose(encodeMessage(Command, command), deadlineMs));
  if (result.result?.$case === 'failure') {
    const { code, message } = result.result.value;
    throw new RegistryError(isRegistryErrorCode(code) ? code : 'INTERNAL', message);
  }
  return result;
}

/**
 * readAt waits until a linearizable read may be served here and returns its revision; a LOCAL
 * read is served at once, with how stale this node may be.
 */
export async function readAt(
  node: Pick<RaftNode, 'readBarrier' | 'stalenessMs'>,
  appliedIndex: () => number,
  consistency: Consistency,
  deadlineMs: number,
): Promise<{ revision: number; stalenessMs: number }> {
  if (consistency === Consistency.CONSISTENCY_LOCAL)
    return { revision: appliedIndex(), stalenessMs: node.stalenessMs() };
  if (consistency !== Consistency.CONSISTENCY_LINEARIZABLE && consistency !== Consistency.CONSISTENCY_UNSPECIFIED) {
    throw new RegistryError('INVALID_ARGUMENT', `unknown consistency ${String(consistency)}`);
  }
  await node.readBarrier(deadlineMs);
  return { revision: appliedIndex(), stalenessMs: 0 };
}

/** unexpectedResult: a command answered with a result of the wrong kind (a bug, so INTERNAL). */
export function unexpectedResult(result: CommandResult): RegistryError {
  return new RegistryError('INTERNAL', `unexpected command result ${result.result?.$case ?? 'none'}`);
}
