import type { NodeId } from './ids.js';

/**
 * FormatVersions are the newest formats a node can apply (etcd's cluster version, DESIGN §12):
 * `command`, the command kinds the registry applies; `snapshot`, the snapshot stream it
 * restores. A node advertises its own to its peers on every peer call; the leader proposes a
 * command only when every member can apply it, so a mixed-version cluster (a rolling upgrade or
 * a rollback) never commits an entry one member cannot apply.
 */
export interface FormatVersions {
  readonly command: number;
  readonly snapshot: number;
}

/**
 * BASELINE_VERSIONS: what every build of room-registry applies. A member this node has not
 * heard from (or one of a build that advertised nothing) counts as this.
 */
export const BASELINE_VERSIONS: FormatVersions = Object.freeze({ command: 1, snapshot: 1 });

/** LowestVersion: the lowest version among the members, and a member that holds it there (null: none lower than this node). */
export interface LowestVersion {
  readonly version: number;
  readonly heldBackBy: NodeId | null;
}

/** encodeVersions is the text form peers send in metadata: `command=1,snapshot=1`. */
export function encodeVersions(v: FormatVersions): string {
  return `command=${v.command},snapshot=${v.snapshot}`;
}

/** decodeVersions reads encodeVersions' text; null when it is not that (a peer's garbled metadata). */
export function decodeVersions(text: string): FormatVersions | null {
  const m = /^command=(\d{1,6}),snapshot=(\d{1,6})$/.exec(text);
  if (m?.[1] === undefined || m[2] === undefined) return null;
  const command = Number(m[1]);
  const snapshot = Number(m[2]);
  if (command < 1 || snapshot < 1) return null;
  return { command, snapshot };
}
