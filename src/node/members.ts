import type { NodeId } from '../lib/ids.js';
import type { ConfState } from '../raft/index.js';
import type { PeerMember } from '../transport/peer-options.js';
import { type MemberContext, decodeMemberContext } from './member-context.js';

export type MemberRole = 'voter' | 'learner';

/** Member is one member of the applied configuration and where it listens (null: no address known). */
export interface Member {
  readonly id: NodeId;
  readonly role: MemberRole;
  readonly context: MemberContext | null;
}

/**
 * MemberTable is the node's view of the applied configuration (DESIGN §11): the core's voters
 * and learners, with each member's addresses from the context its change carried, falling back
 * to the config file's entry for a member whose context names none (a cluster bootstrapped
 * before contexts, or a context this node cannot read).
 */
export class MemberTable {
  private conf: ConfState = { voters: [], learners: [], contexts: {} };
  private members: readonly Member[] = [];

  constructor(
    readonly selfId: NodeId,
    private readonly fallback: ReadonlyMap<NodeId, MemberContext>,
  ) {}

  /** update takes the applied configuration; returns true when it differs from the last one. */
  update(conf: ConfState): boolean {
    if (sameConf(conf, this.conf)) return false;
    this.conf = conf;
    const member = (id: NodeId, role: MemberRole): Member => ({ id, role, context: this.contextOf(id) });
    this.members = [
      ...conf.voters.map((id) => member(id, 'voter')),
      ...conf.learners.map((id) => member(id, 'learner')),
    ];
    return true;
  }

  all(): readonly Member[] {
    return this.members;
  }

  voters(): readonly NodeId[] {
    return this.conf.voters;
  }

  learners(): readonly NodeId[] {
    return this.conf.learners;
  }

  get(id: NodeId): Member | undefined {
    return this.members.find((m) => m.id === id);
  }

  /** roleOf: a member's role, or 'none' (not yet added, or removed). */
  roleOf(id: NodeId): MemberRole | 'none' {
    return this.get(id)?.role ?? 'none';
  }

  /** empty: no configuration applied yet (a node waiting to be added). */
  empty(): boolean {
    return this.members.length === 0;
  }

  /**
   * peers: whom the transport dials. Before any configuration is applied (a joining node), the
   * nodes of the config file, so it can answer the leader that adds it.
   */
  peers(): PeerMember[] {
    if (this.empty()) return [...this.fallback].map(([id, c]) => ({ id, peerAddress: c.peer }));
    return this.members.flatMap((m) => (m.context === null ? [] : [{ id: m.id, peerAddress: m.context.peer }]));
  }

  private contextOf(id: NodeId): MemberContext | null {
    const text = this.conf.contexts[id];
    if (text !== undefined && text !== '') {
      const decoded = decodeMemberContext(text);
      if (decoded.ok) return decoded.value;
    }
    return this.fallback.get(id) ?? null;
  }
}

function sameConf(a: ConfState, b: ConfState): boolean {
  const sameList = (x: readonly string[], y: readonly string[]): boolean =>
    x.length === y.length && x.every((v, i) => v === y[i]);
  const ak = Object.keys(a.contexts);
  return (
    sameList(a.voters, b.voters) &&
    sameList(a.learners, b.learners) &&
    ak.length === Object.keys(b.contexts).length &&
    ak.every((k) => a.contexts[k] === b.contexts[k])
  );
}
