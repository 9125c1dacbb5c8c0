/**
 * Assertions for the transcript tests. A transcript alone can be rubber-stamped by REWRITE=1,
 * so every script also states what must hold with `check` lines; they throw on a mismatch
 * (REWRITE never writes a failing script). `checkInvariants` runs after every command and
 * every stabilize round: Election Safety and State Machine Safety (Raft paper Figure 3).
 */
import { index } from '../../../src/lib/ids.js';
import type { Message } from '../../../src/raft/index.js';
import type { EnvMember, InteractionEnv } from './interaction-env.js';
import type { CommandArgs } from './interaction-script.js';

/**
 * runCheck compares each `key=value` with the member's state. Keys: role term leader vote
 * commit applied first last snapshot transferee (from status(); "-" for none), match.ID next.ID
 * state.ID (the leader's progress), term@I (termAt), sm (applied payloads, comma-joined),
 * read.CTX (its read index or "failed"), proposal readIndex transfer confChange (the last call's
 * outcome: "ok" or the error type), crashed (true|false), voters learners (the applied
 * configuration, comma-joined, "-" for none).
 */
export function runCheck(env: InteractionEnv, m: EnvMember, a: CommandArgs): string[] {
  const keys = a.keys();
  if (keys.length === 0) throw new Error('check: nothing to check');
  const mismatches: string[] = [];
  for (const key of keys) {
    const want = a.str(key) ?? '';
    const got = actual(env, m, key);
    if (got !== want) mismatches.push(`${key}: want ${want}, got ${got}`);
  }
  if (mismatches.length > 0) throw new Error(`check ${m.id} failed: ${mismatches.join('; ')}`);
  return [];
}

function actual(env: InteractionEnv, m: EnvMember, key: string): string {
  if (key === 'crashed') return String(m.core === null);
  const dot = key.indexOf('.');
  if (dot > 0) return dotted(env, m, key.slice(0, dot), key.slice(dot + 1));
  if (key.startsWith('term@')) return String(env.live(m).termAt(index(Number(key.slice(5)))) ?? '-');
  switch (key) {
    case 'sm':
      return m.stateMachine.length === 0 ? '-' : m.stateMachine.join(',');
    case 'proposal':
      return m.lastProposal;
    case 'readIndex':
      return m.lastReadIndex;
    case 'transfer':
      return m.lastTransfer;
    case 'confChange':
      return m.lastConfChange;
    case 'voters':
      return joinedOrDash(env.live(m).confState().voters);
    case 'learners':
      return joinedOrDash(env.live(m).confState().learners);
    default:
      return statusField(env, m, key);
  }
}

function joinedOrDash(ids: readonly string[]): string {
  return ids.length === 0 ? '-' : ids.join(',');
}

function statusField(env: InteractionEnv, m: EnvMember, key: string): string {
  const s = env.live(m).status();
  const fields: Record<string, unknown> = {
    role: s.role,
    term: s.term,
    leader: s.leader,
    vote: s.vote,
    commit: s.commitIndex,
    applied: s.appliedIndex,
    first: s.firstIndex,
    last: s.lastIndex,
    snapshot: s.snapshotIndex,
    transferee: s.leadTransferee,
  };
  if (!(key in fields)) throw new Error(`check: unknown key "${key}"`);
  const v = fields[key];
  return v === null || v === undefined ? '-' : String(v);
}

function dotted(env: InteractionEnv, m: EnvMember, head: string, tail: string): string {
  if (head === 'read') return m.reads.get(tail) ?? '-';
  const p = env.live(m).status().progress?.[tail];
  switch (head) {
    case 'match':
      return p === undefined ? '-' : String(p.match);
    case 'next':
      return p === undefined ? '-' : String(p.next);
    case 'state':
      return p === undefined ? '-' : p.state;
    default:
      throw new Error(`check: unknown key "${head}.${tail}"`);
  }
}

/**
 * runCheckMessages counts the messages matching `from= to= type= reject=` and compares with
 * `count=`; used on the queue (what is in flight now) and on the delivered history.
 */
export function runCheckMessages(msgs: readonly Message[], a: CommandArgs): string[] {
  const from = a.str('from');
  const to = a.str('to');
  const type = a.str('type');
  const reject = a.has('reject') ? a.bool('reject', false) : null;
  const want = a.int('count', -1);
  if (want < 0) throw new Error(`${a.name}: count=N is required`);
  const got = msgs.filter(
    (m) =>
      (from === null || m.from === from) &&
      (to === null || m.to === to) &&
      (type === null || m.type === type) &&
      (reject === null || ('reject' in m && m.reject === reject)),
  ).length;
  if (got !== want) throw new Error(`${a.name} failed: want count=${want}, got ${got}`);
  return [];
}

/**
 * checkInvariants throws when two members lead the same term (Election Safety) or when two
 * running members disagree on a committed entry (Log Matching over committed prefixes). State
 * Machine Safety is checked as entries are applied (InteractionEnv.apply).
 */
export function checkInvariants(env: InteractionEnv): void {
  const live = [...env.members.values()].filter((m) => m.core !== null);
  for (const m of live) {
    const s = env.live(m).status();
    if (s.role !== 'leader') continue;
    const prior = env.leaderOfTerm.get(s.term);
    if (prior !== undefined && prior !== m.id)
      throw new Error(`election safety: ${prior} and ${m.id} both lead term ${s.term}`);
    env.leaderOfTerm.set(s.term, m.id);
  }
  for (const a of live) {
    for (const b of live) {
      if (a.id >= b.id) continue;
      checkCommittedPrefix(env, a, b);
    }
  }
}

function checkCommittedPrefix(env: InteractionEnv, a: EnvMember, b: EnvMember): void {
  const ca = env.live(a);
  const cb = env.live(b);
  const sa = ca.status();
  const sb = cb.status();
  const lo = Math.max(sa.firstIndex, sb.firstIndex);
  const hi = Math.min(sa.commitIndex, sb.commitIndex);
  for (let i = lo; i <= hi; i++) {
    const ta = ca.termAt(index(i));
    const tb = cb.termAt(index(i));
    if (ta !== tb) throw new Error(`log matching: committed entry ${i} has term ${ta} on ${a.id} but ${tb} on ${b.id}`);
  }
}
