import { unreachable } from '../lib/assert.js';
import type { Message } from './messages.js';
import type { Ready } from './ready.js';
import { decodeConfChange, describeConfChange } from './conf-change.js';
import type { Entry, HardState, SnapshotMeta } from './types.js';

/**
 * Text forms of the core's data, shared by the transcript tests, the simulator's traces and
 * the node's debug logs, so every trace of the same event reads the same.
 */
export function describeEntry(e: Entry): string {
  const body = e.kind === 'noop' ? 'noop' : e.kind === 'config' ? describeConfigData(e.data) : describeBytes(e.data);
  return `${e.index}/${e.term} ${body}`;
}

function describeConfigData(data: Uint8Array): string {
  const cc = decodeConfChange(data);
  return cc.ok ? `config(${describeConfChange(cc.value)})` : `config(unreadable: ${cc.error})`;
}

export function describeEntries(entries: readonly Entry[]): string {
  return `[${entries.map(describeEntry).join(', ')}]`;
}

/** describeBytes shows printable payloads as text and others as a length. */
export function describeBytes(data: Uint8Array): string {
  const printable = data.every((b) => b >= 0x20 && b < 0x7f);
  return printable ? JSON.stringify(new TextDecoder().decode(data)) : `<${data.byteLength} bytes>`;
}

export function describeHardState(hs: HardState): string {
  return `term=${hs.term} vote=${hs.vote ?? '-'} commit=${hs.commit}`;
}

export function describeSnapshot(s: SnapshotMeta): string {
  const learners = s.learners.length > 0 ? ` learners=${s.learners.join(',')}` : '';
  return `snapshot(index=${s.index} term=${s.term} voters=${s.voters.join(',')}${learners})`;
}

export function describeMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} term=${m.term}`;
  switch (m.type) {
    case 'preVote':
    case 'vote':
      return `${head} last=${m.lastLogIndex}/${m.lastLogTerm}${m.transfer ? ' transfer' : ''}`;
    case 'preVoteResp':
    case 'voteResp':
      return `${head} ${m.reject ? 'reject' : 'grant'}`;
    case 'append':
      return `${head} prev=${m.prevLogIndex}/${m.prevLogTerm} commit=${m.commit} entries=${describeEntries(m.entries)}`;
    case 'appendResp':
      return m.reject
        ? `${head} reject index=${m.index} hint=${m.hintIndex}/${m.hintTerm}`
        : `${head} index=${m.index}`;
    case 'heartbeat':
      return `${head} commit=${m.commit} readSeq=${m.readSeq}`;
    case 'heartbeatResp':
      return `${head} readSeq=${m.readSeq}`;
    case 'snapshot':
      return `${head} ${describeSnapshot(m.snapshot)}`;
    case 'timeoutNow':
      return head;
    case 'readIndex':
      return `${head} contexts=${m.contexts.join(',')}`;
    case 'readIndexResp':
      return `${head} contexts=${m.contexts.join(',')} ${m.reject ? 'reject' : `index=${m.index}`}`;
    default:
      return unreachable(m);
  }
}

/** describeReady renders a Ready as indented lines, skipping empty parts. */
export function describeReady(rd: Ready): string[] {
  const lines: string[] = [];
  if (rd.softState !== null) lines.push(`  role=${rd.softState.role} leader=${rd.softState.leader ?? '-'}`);
  if (rd.hardState !== null) lines.push(`  hardState ${describeHardState(rd.hardState)}`);
  if (rd.snapshot !== null) lines.push(`  install ${describeSnapshot(rd.snapshot)}`);
  if (rd.entries.length > 0) lines.push(`  persist ${describeEntries(rd.entries)}`);
  for (const m of rd.messages) lines.push(`  send ${describeMessage(m)}`);
  for (const m of rd.messagesAfterPersist) lines.push(`  send-after-persist ${describeMessage(m)}`);
  if (rd.committed.length > 0) lines.push(`  apply ${describeEntries(rd.committed)}`);
  for (const rs of rd.readStates) lines.push(`  read ${rs.context} at ${rs.index}`);
  for (const ctx of rd.readsFailed) lines.push(`  read ${ctx} failed`);
  if (rd.snapshotWanted) lines.push('  snapshot wanted');
  return lines;
}
