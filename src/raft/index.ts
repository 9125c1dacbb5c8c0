/**
 * The Raft core's public surface. Pure: no timers, sockets, files, clocks or Math.random
 * (enforced by test/unit/purity.test.ts). Start with core.ts.
 */
export { RaftCore, type RaftStatus } from './core.js';
export type { ConfChangeError, ProposeError, Proposed, ReadIndexError, TransferError } from './raft.js';
export {
  CONF_CHANGE_OPS,
  type ConfChange,
  type ConfChangeOp,
  applyConfChange,
  decodeConfChange,
  describeConfChange,
  encodeConfChange,
  isMember,
} from './conf-change.js';
export type { Ready } from './ready.js';
export { readyIsEmpty } from './ready.js';
export { type RaftConfig, type RaftConfigDefaults, RAFT_DEFAULTS, validateRaftConfig } from './config.js';
export { type LogStorage, MemoryLogStorage } from './log-storage.js';
export type { NodeLogStorage, NodeSnapshotStore, SnapshotSource, StateMachine } from './seams.js';
export { type InstallSnapshot, type Message, type MessageType, MESSAGE_TYPES, isResponse } from './messages.js';
export type {
  ConfState,
  Entry,
  EntryKind,
  HardState,
  ReadContext,
  ReadState,
  Role,
  SnapshotMeta,
  SoftState,
} from './types.js';
export { EMPTY_CONF_STATE, EMPTY_HARD_STATE, ENTRY_KINDS, ROLES } from './types.js';
export * from './describe.js';
