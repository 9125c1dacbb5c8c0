/**
 * Branded identifiers and counters, so a term is never passed where an index is expected
 * (STYLE rule 6). Arithmetic yields plain numbers; re-brand with the helpers below.
 */
declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Term is a Raft election term; 0 means "before any election". */
export type Term = Brand<number, 'Term'>;
/** Index is a Raft log position; 0 means "before the first entry". */
export type Index = Brand<number, 'Index'>;
/** NodeId names a cluster member, as in the cluster config ("n1"). */
export type NodeId = Brand<string, 'NodeId'>;

export function term(n: number): Term {
  return n as Term;
}

export function index(n: number): Index {
  return n as Index;
}

export function nodeId(s: string): NodeId {
  return s as NodeId;
}
