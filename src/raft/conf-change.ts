import { type NodeId, nodeId } from '../lib/ids.js';
import { type Result, err, ok } from '../lib/result.js';
import type { ConfState } from './types.js';

/**
 * Membership changes are single-server changes (one member at a time, as hashicorp/raft does),
 * carried by 'config' log entries and applied to the configuration when the core hands the
 * entry out in Ready.committed (etcd-raft style). Any two configurations one change apart share
 * a majority, so at most one change in flight keeps two leaders from being elected in one term.
 *
 * - addLearner: a new member that receives the log but never votes or counts toward a quorum.
 * - addVoter: a new voting member (the node layer adds learners first and promotes them).
 * - promote: a learner becomes a voter.
 * - remove: a voter or learner leaves.
 */
export const CONF_CHANGE_OPS = ['addLearner', 'addVoter', 'promote', 'remove'] as const;
export type ConfChangeOp = (typeof CONF_CHANGE_OPS)[number];

/** ConfChange is one membership change; context '' on promote/remove keeps the member's current one. */
export interface ConfChange {
  readonly op: ConfChangeOp;
  readonly id: NodeId;
  readonly context: string;
}

/** encodeConfChange is a config entry's data: JSON, so a log dump reads it. */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ op: cc.op, id: cc.id, context: cc.context }));
}

export function decodeConfChange(data: Uint8Array): Result<ConfChange, string> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(data));
  } catch (e) {
    return err(`config entry is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof v !== 'object' || v === null) return err('config entry is not an object');
  const o = v as { op?: unknown; id?: unknown; context?: unknown };
  const op = CONF_CHANGE_OPS.find((known) => known === o.op);
  if (op === undefined) return err(`config entry has unknown op ${JSON.stringify(o.op)}`);
  if (typeof o.id !== 'string' || o.id === '') return err('config entry has no member id');
  if (typeof o.context !== 'string') return err('config entry has no context');
  return ok({ op, id: nodeId(o.id), context: o.context });
}

/**
 * applyConfChange returns the configuration after `cc`, or why it does not apply to `conf`.
 * Pure and deterministic: every member applies the same changes in the same order.
 */
export function applyConfChange(conf: ConfState, cc: ConfChange): Result<ConfState, string> {
  const isVoter = conf.voters.includes(cc.id);
  const isLearner = conf.learners.includes(cc.id);
  switch (cc.op) {
    case 'addLearner':
    case 'addVoter': {
      if (isVoter || isLearner) return err(`${cc.id} is already a ${isVoter ? 'voter' : 'learner'}`);
      const contexts = { ...conf.contexts, [cc.id]: cc.context };
      return cc.op === 'addVoter'
        ? ok({ voters: [...conf.voters, cc.id], learners: conf.learners, contexts })
        : ok({ voters: conf.voters, learners: [...conf.learners, cc.id], contexts });
    }
    case 'promote': {
      if (!isLearner) return err(`${cc.id} is not a learner`);
      const contexts = cc.context === '' ? conf.contexts : { ...conf.contexts, [cc.id]: cc.context };
      return ok({ voters: [...conf.voters, cc.id], learners: conf.learners.filter((id) => id !== cc.id), contexts });
    }
    case 'remove': {
      if (!isVoter && !isLearner) return err(`${cc.id} is not a member`);
      if (isVoter && conf.voters.length === 1) return err(`${cc.id} is the last voter`);
      const contexts = Object.fromEntries(Object.entries(conf.contexts).filter(([id]) => id !== cc.id));
      return ok({
        voters: conf.voters.filter((id) => id !== cc.id),
        learners: conf.learners.filter((id) => id !== cc.id),
        contexts,
      });
    }
  }
}

/** isMember: `id` is a voter or a learner of `conf`. */
export function isMember(conf: ConfState, id: NodeId): boolean {
  return conf.voters.includes(id) || conf.learners.includes(id);
}

export function describeConfChange(cc: ConfChange): string {
  return `${cc.op} ${cc.id}${cc.context === '' ? '' : ` ${JSON.stringify(cc.context)}`}`;
}
