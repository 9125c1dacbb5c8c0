import { LIMITS } from '../config/limits.js';
import type { NodeId } from '../lib/ids.js';
import type { Transport } from '../transport/transport.js';
import type { QueuedProposal } from './proposals.js';

/**
 * Forwarder sends a follower's writes to the leader: every write of one turn goes in one
 * Forward call (split at forwardBatchCommandsMax), and each caller gets its own outcome.
 */
export class Forwarder {
  /** inFlightCalls counts Forward calls awaiting the leader (for metrics). */
  inFlightCalls = 0;

  constructor(private readonly transport: Transport) {}

  forward(leader: NodeId, proposals: readonly QueuedProposal[]): void {
    for (let i = 0; i < proposals.length; i += LIMITS.forwardBatchCommandsMax) {
      void this.forwardBatch(leader, proposals.slice(i, i + LIMITS.forwardBatchCommandsMax));
    }
  }

  private async forwardBatch(leader: NodeId, batch: readonly QueuedProposal[]): Promise<void> {
    const deadlineMs = Math.max(...batch.map((p) => p.waiter.deadlineMs));
    this.inFlightCalls++;
    try {
      const outcomes = await this.transport.forward(leader, batch.map((p) => p.payload), deadlineMs);
      outcomes.forEach((o, i) => {
        const waiter = batch[i]?.waiter;
        if (waiter === undefined) return;
        if (o.ok) waiter.resolve(o.result);
        else waiter.reject(o.error);
      });
    } finally {
      this.inFlightCalls--;
    }
  }
}
