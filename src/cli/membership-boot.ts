import { type ClusterConfig, type MemberConfig, bootstrapMembers } from '../config/cluster-config.js';
import { type NodeId, index, term } from '../lib/ids.js';
import { type MemberContext, encodeMemberContext } from '../node/member-context.js';
import {
  type ConfState,
  type Entry,
  type LogStorage,
  type NodeLogStorage,
  applyConfChange,
  decodeConfChange,
  encodeConfChange,
} from '../raft/index.js';
import { UsageError } from './args.js';

// How a data dir enters the cluster (DESIGN §11): a new cluster's nodes write the same config
// entries 1..n; a joining node writes nothing and waits to be added; a node whose log says it
// is no longer a member refuses to start.

/** memberContextOf: the context a config change carries for a node of the config file. */
export function memberContextOf(m: MemberConfig, promote = false): MemberContext {
  return { region: m.region, grpc: m.grpcAddress, peer: m.peerAddress, http: m.httpAddress, promote };
}

/** memberAddresses: every node of the config file (spares too) by id: where to dial a member without a context. */
export function memberAddresses(cluster: ClusterConfig): ReadonlyMap<NodeId, MemberContext> {
  return new Map(cluster.members.map((m) => [m.id, memberContextOf(m)]));
}

/**
 * bootstrapEntries: the config entries 1..n that found a new cluster, one addVoter per node
 * that is not spare, ids sorted, term 1. Every bootstrap node writes exactly these, so their
 * logs agree from the first index.
 */
export function bootstrapEntries(cluster: ClusterConfig): Entry[] {
  const nodes = [...bootstrapMembers(cluster)].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return nodes.map((m, i) => ({
    index: index(i + 1),
    term: term(1),
    kind: 'config',
    data: encodeConfChange({ op: 'addVoter', id: m.id, context: encodeMemberContext(memberContextOf(m)) }),
  }));
}

/** foundingConf: the configuration a new cluster starts with (the entries of bootstrapEntries, applied; a restore seeds it). */
export function foundingConf(cluster: ClusterConfig): ConfState {
  const nodes = [...bootstrapMembers(cluster)].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    voters: nodes.map((m) => m.id),
    learners: [],
    contexts: Object.fromEntries(nodes.map((m) => [m.id, encodeMemberContext(memberContextOf(m))])),
  };
}

/** logIsEmpty: no entry, no snapshot and no vote: a data dir that has never been part of a cluster. */
export function logIsEmpty(storage: LogStorage): boolean {
  return storage.lastIndex() === 0 && storage.snapshotMeta().index === 0 && storage.initialHardState().term === 0;
}

/** bootstrap writes the founding entries and a hard state that commits them (term 1, no vote). */
export async function bootstrap(storage: NodeLogStorage, cluster: ClusterConfig): Promise<void> {
  const entries = bootstrapEntries(cluster);
  await storage.persist(entries, { term: term(1), vote: null, commit: index(entries.length) });
}

/**
 * legacyVoters: a log written before membership lived in the log (issue 14) has neither a
 * snapshot nor a config entry at index 1; its configuration is the config file's nodes, as
 * it always was. Null for every other log (the core reads its configuration from the log).
 */
export function legacyVoters(storage: NodeLogStorage, cluster: ClusterConfig): NodeId[] | null {
  if (storage.snapshotMeta().index > 0 || storage.lastIndex() === 0) return null;
  const first = storage.entries(index(1), index(2), 1)[0];
  if (first === undefined || first.kind === 'config') return null;
  return bootstrapMembers(cluster).map((m) => m.id);
}

/**
 * appliedConf: the configuration the log holds as committed: its snapshot's, then each config
 * entry up to the commit index (`voters` stands for a legacy log's configuration).
 */
export function appliedConf(storage: LogStorage, voters: readonly NodeId[]): ConfState {
  const snap = storage.snapshotMeta();
  let conf: ConfState =
    snap.index > 0
      ? { voters: snap.voters, learners: snap.learners, contexts: snap.contexts }
      : { voters, learners: [], contexts: {} };
  const commit = Math.min(storage.initialHardState().commit, storage.lastIndex());
  for (let lo = snap.index + 1; lo <= commit;) {
    const batch = storage.entries(index(lo), index(commit + 1), 64 << 20);
    for (const e of batch) {
      if (e.kind !== 'config') continue;
      const cc = decodeConfChange(e.data);
      if (!cc.ok) throw new Error(`config entry ${e.index} is unreadable: ${cc.error}`);
      const next = applyConfChange(conf, cc.value);
      // The core refuses such a change when it applies it too; the configuration stays.
      if (next.ok) conf = next.value;
    }
    lo += batch.length;
  }
  return conf;
}

/**
 * checkMembership refuses to start a node whose log says it is not a member: it was removed
 * (its vote and log must not come back), or the dir belongs to a node the cluster forgot.
 * A log with no configuration yet is a node waiting to be added, which is fine.
 */
export function checkMembership(conf: ConfState, self: NodeId, dataDir: string): void {
  if (conf.voters.length === 0 && conf.learners.length === 0) return;
  if (conf.voters.includes(self) || conf.learners.includes(self)) return;
  throw new UsageError(
    `data dir ${dataDir}: ${self} is not a member of the configuration its log holds ` +
      `(voters [${conf.voters.join(', ')}], learners [${conf.learners.join(', ')}]): it was removed from the cluster. ` +
      'Refusing to start. To bring it back, add it as a new member (members add) and start it with --join on an empty data dir.',
  );
}
