import { LIMITS } from '../config/limits.js';
import { RegistryError } from '../lib/errors.js';
import type { NodeId } from '../lib/ids.js';
import type { Transport } from '../transport/transport.js';
import { splitBatches } from './batches.js';
import type { QueuedProposal } from './proposals.js';

/** FORWARD_COMMAND_OVERHEAD_BYTES: a command's framing in a ForwardRequest (tag and length). */
const FORWARD_COMMAND_OVERHEAD_BYTES = 8;

/**
 * Forwarder sends a follower's writes to the leader: every write of one turn goes in one
 * Forward call (split at forwardBatchCommandsMax commands and forwardBatchBytesMax bytes, so a
 * call always fits in a peer message), and each caller gets its own outcome.
 */
export class Forwarder {
  /** inFlightCalls counts Forward calls awaiting the leader (for metrics). */
  inFlightCalls = 0;

  constructor(private readonly transport: Transport) {}

  forward(leader: NodeId, proposals: readonly QueuedProposal[]): void {
    const batches = splitBatches(
      proposals,
      (p) => p.payload.byteLength + FORWARD_COMMAND_OVERHEAD_BYTES,
      LIMITS.forwardBatchBytesMax,
      LIMITS.forwardBatchCommandsMax,
    );
    for (const batch of batches) {
      // A transport that throws or rejects fails its callers now, never an unhandled rejection.
      void this.forwardBatch(leader, batch).catch((e: unknown) => {
        const error = new RegistryError(
          'UNAVAILABLE',
          `could not forward the write to leader ${leader}: ${String(e)}`,
          { leaderId: leader },
        );
        for (const p of batch) p.waiter.reject(error);
      });
    }
  }

  private async forwardBatch(leader: NodeId, batch: readonly QueuedProposal[]): Promise<void> {
    const deadlineMs = Math.max(...batch.map((p) => p.waiter.deadlineMs));
    this.inFlightCalls++;
    try {
      const outcomes = await this.transport.forward(
        leader,
        batch.map((p) => p.payload),
        deadlineMs,
      );
      batch.forEach((p, i) => {
        const o = outcomes[i];
        if (o === undefined)
          p.waiter.reject(
            new RegistryError(
              'INTERNAL',
              `leader ${leader} answered ${outcomes.length} of ${batch.length} forwarded writes`,
            ),
          );
        else if (o.ok) p.waiter.resolve(o.result);
        else p.waiter.reject(o.error);
      });
    } finally {
      this.inFlightCalls--;
    }
  }
}
