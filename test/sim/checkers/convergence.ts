import type { Cluster } from '../cluster.js';
import type { AckedWrite } from '../clients.js';
import { describeInput } from '../clients.js';
import type { SafetyChecker } from './safety.js';
import { SafetyViolation } from './safety.js';

/**
 * Convergence: once faults heal and every node is back, the cluster must settle (liveness),
 * and then every node must hold the same state, holding every write a client was told
 * succeeded, at the index and term it was acknowledged with.
 */

/** converged: one leader whose term has committed, its whole log committed, and every node applied all of it. */
export function converged(cluster: Cluster): boolean {
  const leaderId = cluster.leader();
  if (leaderId === null) return false;
  const leader = cluster.node(leaderId).core;
  if (leader === null) return false;
  const st = leader.status();
  if (st.commitIndex !== st.lastIndex || leader.termAt(st.commitIndex) !== st.term) return false;
  for (const node of cluster.nodes.values()) {
    if (node.core === null || node.inProgress !== null) return false;
    const ns = node.core.status();
    if (ns.term !== st.term || ns.leader !== leaderId || node.kv.applied !== st.commitIndex) return false;
  }
  return true;
}

/** describeNodes is one line per node, for a convergence failure. */
export function describeNodes(cluster: Cluster): string {
  const lines: string[] = [];
  for (const node of cluster.nodes.values()) {
    const st = node.core?.status();
    if (st === undefined) {
      lines.push(`${node.id}: down`);
      continue;
    }
    const progress = st.progress === null ? '' : ` progress=${JSON.stringify(st.progress)}`;
    lines.push(
      `${node.id}: ${st.role} term=${st.term} leader=${st.leader ?? '-'} commit=${st.commitIndex} applied=${node.kv.applied} ` +
        `snapshot=${st.snapshotIndex} last=${st.lastIndex} busy=${node.inProgress !== null}${progress}`,
    );
  }
  return lines.join('; ');
}

/** checkFinalState: identical state machines everywhere, every acknowledged write among them. */
export function checkFinalState(cluster: Cluster, safety: SafetyChecker, acked: readonly AckedWrite[]): void {
  let reference: { id: string; applied: number; digest: string } | null = null;
  for (const node of cluster.nodes.values()) {
    const digest = node.kv.digest();
    if (reference === null) {
      reference = { id: node.id, applied: node.kv.applied, digest };
      continue;
    }
    if (node.kv.applied !== reference.applied || digest !== reference.digest) {
      throw new SafetyViolation(
        'convergence',
        `${node.id} applied ${node.kv.applied} with ${digest}, ${reference.id} applied ${reference.applied} with ${reference.digest}`,
      );
    }
  }
  const applied = reference?.applied ?? 0;
  for (const w of acked) {
    if (w.index > applied || safety.committedTermAt(w.index) !== w.term) {
      throw new SafetyViolation(
        'acknowledged write lost',
        `${describeInput(w.input)} was acknowledged at ${w.index}/${w.term}, but ${w.index}/${safety.committedTermAt(w.index) ?? '-'} was applied (all nodes at ${applied})`,
      );
    }
  }
}
