/**
 * LeaderObserver polls every node's GET /status while a chaos run lasts and counts leader
 * changes: each (term, leader) pair seen for the first time after the first one is a change.
 * It only watches; a node that does not answer (dead, paused) is skipped for that round. It
 * also checks election safety as seen from outside: two nodes claiming leadership of the
 * same term is a violation.
 */
import type { ProcessCluster } from '../harness/process-cluster.js';

/** observePeriodMs: how often /status is polled; shorter than an election, so few leaders are missed. */
const observePeriodMs = 250;

export class LeaderObserver {
  private readonly leaderOfTerm = new Map<number, string>();
  readonly violations: string[] = [];
  private stopping = false;
  private loop: Promise<void> = Promise.resolve();

  constructor(private readonly cluster: ProcessCluster) {}

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
  }

  /** leaderChanges: distinct leaders-of-a-term observed, less the first. */
  leaderChanges(): number {
    return Math.max(0, this.leaderOfTerm.size - 1);
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const statuses = await Promise.all(
        this.cluster.nodes.map((n) => (n.process === null ? null : this.cluster.status(n.id))),
      );
      for (const s of statuses) {
        if (s?.role !== 'leader') continue;
        const seen = this.leaderOfTerm.get(s.term);
        if (seen === undefined) this.leaderOfTerm.set(s.term, s.id);
        else if (seen !== s.id) this.violations.push(`two leaders in term ${s.term}: ${seen} and ${s.id}`);
      }
      await new Promise((r) => setTimeout(r, observePeriodMs));
    }
  }
}
