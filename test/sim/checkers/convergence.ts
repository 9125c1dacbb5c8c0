import { type Cluster, coreOf } from '../cluster.js';
import type { Index, Term } from '../../../src/lib/ids.js';
import type { SafetyChecker } from './safety.js';
import { SafetyViolation } from './safety.js';

/**
 * Convergence: once faults heal and every node is back, the cluster must settle (liveness),
 * and then every node must hold the same state, holding every write a client was told
 * succeeded, at the index and term it was acknowledged with.
 */

/** AckedEntry is a write a client was told succeeded: it must be applied everywhere, at (index, term). */
export interface AckedEntry {
  readonly index: Index;
  readonly term: Term;
  readonly what: string;
}

/**
 * converged: one leader whose term has committed, its whole log committed, and every member of
 * its configuration applied all of it (nodes that left or never joined do not count).
 */
export function converged(cluster: Cluster): boolean {
  const leaderId = cluster.leader();
  if (leaderId === null) return false;
  const leader = cluster.node(leaderId).raft;
  if (leader === null) return false;
  const st = leader.status();
  if (st.commitIndex !== st.lastIndex || coreOf(leader).termAt(st.commitIndex) !== st.term) return false;
  for (const node of cluster.members()) {
    const ns = node.status();
    if (ns === null || node.busy) return false;
    if (ns.term !== st.term || ns.leader !== leaderId || ns.appliedIndex !== st.commitIndex) return false;
  }
  return true;
}

/** describeNodes is one line per node, for a convergence failure. */
export function describeNodes(cluster: Cluster): string {
  const lines: string[] = [];
  for (const node of cluster.nodes.values()) {
    if (node.retired) continue;
    const st = node.status();
    if (st === null) {
      lines.push(`${node.id}: down`);
      continue;
    }
    const progress = st.progress === null ? '' : ` progress=${JSON.stringify(st.progress)}`;
    const conf = ` voters=${st.voters.join(',') || '-'} learners=${st.learners.join(',') || '-'}`;
    lines.push(
      `${node.id}: ${st.role} term=${st.term} leader=${st.leader ?? '-'} commit=${st.commitIndex} applied=${st.appliedIndex} ` +
        `snapshot=${st.snapshotIndex} last=${st.lastIndex} busy=${node.busy}${conf}${progress}`,
    );
  }
  return lines.join('; ');
}

/** checkFinalState: identical state machines on every member, every acknowledged write among them. */
export function checkFinalState(cluster: Cluster, safety: SafetyChecker, acked: readonly AckedEntry[]): void {
  let reference: { id: string; applied: number; digest: string } | null = null;
  for (const node of cluster.members()) {
    const digest = node.machine?.digest() ?? '(down)';
    const applied = node.status()?.appliedIndex ?? -1;
    if (reference === null) {
      reference = { id: node.id, applied, digest };
      continue;
    }
    if (applied !== reference.applied || digest !== reference.digest) {
      throw new SafetyViolation(
        'convergence',
        `${node.id} applied ${applied} with ${digest}, ${reference.id} applied ${reference.applied} with ${reference.digest}`,
      );
    }
  }
  const applied = reference?.applied ?? 0;
  for (const w of acked) {
    if (w.index > applied || safety.committedTermAt(w.index) !== w.term) {
      throw new SafetyViolation(
        'acknowledged write lost',
        `${w.what} was acknowledged at ${w.index}/${w.term}, but ${w.index}/${safety.committedTermAt(w.index) ?? '-'} was applied (all nodes at ${applied})`,
      );
    }
  }
}
