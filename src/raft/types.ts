import type { Index, NodeId, Term } from '../lib/ids.js';

/**
 * EntryKind: `command` carries client bytes; `noop` is what a new leader appends to commit its
 * term; `config` carries one membership change (conf-change.ts), which the core applies itself.
 * The order is part of the WAL format (the kind is stored as its position): only append.
 */
export const ENTRY_KINDS = ['command', 'noop', 'config'] as const;
export type EntryKind = (typeof ENTRY_KINDS)[number];

/** Entry is one log position. The core never looks inside `data`. */
export interface Entry {
  readonly index: Index;
  readonly term: Term;
  readonly kind: EntryKind;
  readonly data: Uint8Array;
}

/** HardState is what must be durable before a vote or an append is answered. */
export interface HardState {
  readonly term: Term;
  /** vote is the candidate voted for in `term`, or null. */
  readonly vote: NodeId | null;
  readonly commit: Index;
}

/**
 * ConfState is a cluster configuration: who votes, who only receives the log (learners), and
 * each member's opaque description as the change that added or promoted it carried it (the
 * node keeps its addresses there). The core never looks inside a context.
 */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly contexts: Readonly<Record<string, string>>;
}

export const EMPTY_CONF_STATE: ConfState = Object.freeze({ voters: [], learners: [], contexts: {} });

/**
 * SnapshotMeta identifies a snapshot: the state machine after applying every entry up to and
 * including `index`, and the configuration as applied at `index`. The snapshot's bytes never
 * pass through the core; the transport streams them and the node's snapshot store holds them,
 * keyed by (index, term).
 */
export interface SnapshotMeta extends ConfState {
  readonly index: Index;
  readonly term: Term;
}

/** ReadContext identifies one ReadIndex request (the node batches many client reads into one). */
export type ReadContext = string;

/** ReadState says: once `index` is applied, a read for `context` is linearizable. */
export interface ReadState {
  readonly context: ReadContext;
  readonly index: Index;
}

export const ROLES = ['follower', 'precandidate', 'candidate', 'leader'] as const;
export type Role = (typeof ROLES)[number];

/** SoftState is volatile: who leads and what this node is. Reported when it changes. */
export interface SoftState {
  readonly role: Role;
  readonly leader: NodeId | null;
}

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0 as Term, vote: null, commit: 0 as Index });

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
