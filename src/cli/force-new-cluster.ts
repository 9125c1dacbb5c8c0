import { assert } from '../lib/assert.js';
import type { Logger } from '../lib/logger.js';
import { type Index, type NodeId, type Term, index, term } from '../lib/ids.js';
import { type Result, err, ok } from '../lib/result.js';
import {
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type LogStorage,
  type NodeLogStorage,
  applyConfChange,
  encodeConfChange,
  isMember,
} from '../raft/index.js';
import { UsageError } from './args.js';
import { appliedConf, logIsEmpty } from './membership-boot.js';

// `serve --force-new-cluster` (DESIGN §12, issue 15 item 4): after a majority is gone for good,
// one survivor becomes the only voter of its own data. It is done by rewriting the log before the
// node starts, never by a special mode of the core: the node then starts as after any restart, and
// a restart without the flag finds the same configuration, because it is in the log.
//
// The rewrite keeps every entry up to the commit index this node knows (committed, so part of any
// history the lost cluster could have gone on with), drops the entries after it (never known
// committed here: keeping them would guess), and appends committed config entries that remove
// every other member, at a term above every term the log and the hard state hold. That term makes
// the new entries win over anything a lost member still holds at those indexes (its last terms are
// lower), and it keeps the hard state's term at or above the log's last term, as Raft requires.

/** ForceNewPlan is what the rewrite writes: config entries after the kept prefix, and the hard state that commits them. */
export interface ForceNewPlan {
  /** keptIndex: the commit index this node knew; every entry up to it stays. */
  readonly keptIndex: Index;
  /** discardedEntries: the entries after keptIndex, never known committed here, dropped. */
  readonly discardedEntries: number;
  readonly term: Term;
  /** entries: a promote of this node when it is a learner, then a remove of every other member. */
  readonly entries: readonly Entry[];
  readonly removed: readonly NodeId[];
  readonly hardState: HardState;
}

/**
 * planForceNewCluster decides the rewrite for node `self` whose log holds `conf` as its
 * committed configuration (appliedConf). Null when `self` is already the only voter: it elects
 * itself alone, so there is nothing to force and nothing is dropped (a flag left on after the
 * first start then changes nothing until members are added). An error when the log is empty or
 * `self` is not a member: there is nothing of this cluster here to start from.
 */
export function planForceNewCluster(
  storage: LogStorage,
  self: NodeId,
  conf: ConfState,
): Result<ForceNewPlan | null, string> {
  const hs = storage.initialHardState();
  if (logIsEmpty(storage)) return err('the log is empty: there is no surviving data here to start from');
  if (!isMember(conf, self))
    return err(
      `${self} is not a member of the configuration its log holds (voters [${conf.voters.join(', ')}], ` +
        `learners [${conf.learners.join(', ')}]): run it on a surviving member's data dir`,
    );
  if (conf.voters.length === 1 && conf.voters[0] === self) return ok(null);
  const keptIndex = hs.commit;
  const lastIndex = storage.lastIndex();
  assert(keptIndex >= storage.snapshotMeta().index && keptIndex <= lastIndex, 'commit index outside the log');
  const forcedTerm = term(Math.max(hs.term, storage.term(lastIndex) ?? 0) + 1);
  const changes = forcedChanges(conf, self);
  const entries = changes.map((cc, k): Entry => ({
    index: index(keptIndex + 1 + k),
    term: forcedTerm,
    kind: 'config',
    data: encodeConfChange(cc),
  }));
  const last = entries[entries.length - 1];
  assert(last !== undefined, 'a forced configuration with no change');
  return ok({
    keptIndex,
    discardedEntries: lastIndex - keptIndex,
    term: forcedTerm,
    entries,
    removed: changes.filter((cc) => cc.op === 'remove').map((cc) => cc.id),
    hardState: { term: forcedTerm, vote: null, commit: last.index },
  });
}

/**
 * forcedChanges: the changes that leave `self` the only voter of `conf`, one member at a time
 * as every config entry is. A learner is promoted first, so no step removes the last voter.
 */
function forcedChanges(conf: ConfState, self: NodeId): ConfChange[] {
  const changes: ConfChange[] = [];
  if (conf.learners.includes(self)) changes.push({ op: 'promote', id: self, context: '' });
  for (const id of [...conf.voters, ...conf.learners]) if (id !== self) changes.push({ op: 'remove', id, context: '' });
  // Every change must apply, or some member of the new cluster would skip it and disagree.
  let after = conf;
  for (const cc of changes) {
    const next = applyConfChange(after, cc);
    assert(next.ok, () => `forced change ${cc.op} ${cc.id} does not apply: ${next.ok ? '' : next.error}`);
    after = next.value;
  }
  assert(after.voters.length === 1 && after.voters[0] === self && after.learners.length === 0, 'not the only voter');
  return changes;
}

/**
 * writeForceNewCluster makes the plan durable in two steps. First the new term alone (the
 * hard-state file): a term may always go up, and once it is on disk no entry of that term can
 * sit in a log whose hard state is older (the WAL and the hard-state file are written
 * apart). Then the entries and the commit index in one synced WAL write, which replaces the
 * entries after keptIndex. A crash between or during the two leaves at worst uncommitted entries
 * after keptIndex: running the flag again drops them and writes the change at a higher term.
 */
export async function writeForceNewCluster(storage: NodeLogStorage, plan: ForceNewPlan): Promise<void> {
  const was = storage.initialHardState();
  assert(was.commit === plan.keptIndex, 'the log changed since the plan');
  await storage.persist([], { term: plan.term, vote: null, commit: was.commit });
  await storage.persist(plan.entries, plan.hardState);
  assert(storage.lastIndex() === plan.hardState.commit, 'the forced entries are not the end of the log');
}

/**
 * forceNewClusterAtStart is `serve --force-new-cluster` on an opened data dir, before the node
 * starts: it refuses a log that holds nothing of a cluster or leaves this node out, rewrites the
 * log so that this node is the only voter, and says loudly which acknowledged writes may be gone.
 * `voters` is the configuration before index 1 (legacyVoters).
 */
export async function forceNewClusterAtStart(
  storage: NodeLogStorage,
  voters: readonly NodeId[],
  self: NodeId,
  dataDir: string,
  logger: Logger,
): Promise<void> {
  const conf = appliedConf(storage, voters);
  const plan = planForceNewCluster(storage, self, conf);
  if (!plan.ok) throw new UsageError(`--force-new-cluster refused for data dir ${dataDir}: ${plan.error}`);
  if (plan.value === null) {
    logger.warn('force_new_cluster_unneeded', {
      detail: `${self} is already the only voter of its log's configuration: nothing forced, nothing dropped; start it without --force-new-cluster`,
    });
    return;
  }
  const p = plan.value;
  await writeForceNewCluster(storage, p);
  logger.warn('force_new_cluster', {
    keptIndex: p.keptIndex,
    discardedEntries: p.discardedEntries,
    forcedTerm: p.term,
    removed: p.removed,
    detail:
      `${self} is now the only voter (removed ${p.removed.join(', ')} at indexes ${p.keptIndex + 1}..${p.hardState.commit}). ` +
      `Its log is kept through index ${p.keptIndex}, the last entry it knew committed; ${p.discardedEntries} entries after it were dropped. ` +
      `WRITES ACKNOWLEDGED AFTER INDEX ${p.keptIndex} MAY BE LOST. Never start the removed members on their old data dirs again; ` +
      'add fresh members (start them with --join, then members add), and start this node without --force-new-cluster from now on.',
  });
}
