import { type Index, type NodeId, index } from '../lib/ids.js';

/** quorumSize is the smallest majority of `voterCount` members. */
export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

export type VoteResult = 'won' | 'lost' | 'pending';

/** voteResult counts granted and rejected votes among `voters`; missing answers are pending. */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const q = quorumSize(voters.length);
  if (granted >= q) return 'won';
  if (voters.length - rejected < q) return 'lost';
  return 'pending';
}

/** quorumMin is the largest value that a majority of `values` is at or above (e.g. the commit index). */
export function quorumMin(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => b - a);
  const v = sorted[quorumSize(values.length) - 1];
  return v ?? 0;
}

/** committedIndex is quorumMin over match indexes. */
export function committedIndex(matches: readonly Index[]): Index {
  return index(quorumMin(matches));
}
