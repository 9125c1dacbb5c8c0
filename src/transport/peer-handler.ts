import type { RegistryError } from '../lib/errors.js';
import type { NodeId } from '../lib/ids.js';
import type { FormatVersions } from '../lib/versions.js';
import type { InstallSnapshot, Message } from '../raft/index.js';

/** ForwardOutcome is one forwarded command's end: the state machine's result or an error. */
export type ForwardOutcome =
  { readonly ok: true; readonly result: Uint8Array } | { readonly ok: false; readonly error: RegistryError };

/** PeerHandler is what the node offers the peer server: everything arrives authenticated. */
export interface PeerHandler {
  /** deliver queues Raft messages for the next turn of the node's loop. */
  deliver(messages: readonly Message[]): void;
  /** receiveSnapshot stores the streamed bytes, then steps the message; true when stored. */
  receiveSnapshot(message: InstallSnapshot, chunks: AsyncIterable<Uint8Array>): Promise<boolean>;
  /** forward proposes a follower's commands here (the leader) and resolves when each ends. */
  forward(commands: readonly Uint8Array[], deadlineMs: number): Promise<ForwardOutcome[]>;
  /**
   * peerVersions: an authenticated call from `peer` advertised the formats it applies (a build
   * that advertises none counts as BASELINE_VERSIONS); null when its Raft stream ended.
   * `onStream`: the call is its Raft stream (only that one's end is reported, so only it may
   * start the peer's current versions; another call updates them only while that stream lives).
   */
  peerVersions?(peer: NodeId, versions: FormatVersions | null, onStream: boolean): void;
}
