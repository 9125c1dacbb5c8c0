import type { Index, NodeId, Term } from '../../src/lib/ids.js';
import type { Result } from '../../src/lib/result.js';
import type { SeededRng } from '../../src/lib/rng.js';
import type { Entry, ProposeError, Proposed } from '../../src/raft/index.js';
import type { Cluster, ClusterHooks } from './cluster.js';
import type { WorkloadOptions } from './faults.js';
import { type SimKv, decodeKvCommand, encodeKvCommand } from './kv.js';
import type { Trace } from './trace.js';

/**
 * Clients: a closed-loop workload of a few clients, each with at most one operation
 * outstanding, that records a history for the linearizability checker. Outcomes follow what
 * a real client could know, never the simulator's omniscience:
 * - a write is ok when the node it was proposed at applies the same (index, term); it failed
 *   when that node applies a different term there or refused the proposal; anything else
 *   (the node crashed, installed a snapshot over it, or the deadline passed) is unknown;
 * - a read is ok when the node's ReadState index is applied, and is then served from that
 *   node's state machine; a read that fails or times out is dropped (reads have no effect).
 * Unknown writes are settled once the healed cluster has converged, when every entry that will
 * ever commit has been applied: a write whose unique value was never applied had no effect and
 * leaves the history; one that was applied returns at the step it was first applied anywhere
 * (from then on every linearizable read must see it). That is what a client would have seen
 * had its reply not been lost, so the history gets tighter, never looser, and the search stays
 * small.
 */

/** KvInput is one operation as the history and the model see it. */
export type KvInput =
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly op: 'append'; readonly key: string; readonly value: string }
  | { readonly op: 'read'; readonly key: string };

/** HistoryOp: returnTime is +Infinity for a write whose outcome is unknown; output is the value a read saw. */
export interface HistoryOp {
  readonly clientId: number;
  readonly input: KvInput;
  readonly callTime: number;
  readonly output: string | null;
  readonly returnTime: number;
}

interface ActiveOp {
  readonly id: number;
  readonly input: KvInput;
  readonly node: NodeId;
  readonly callStep: number;
  /** accepted: where the proposal was appended; the op waits for that node to apply it. */
  accepted: { readonly index: Index; readonly term: Term } | null;
}

interface Client {
  readonly id: number;
  nextStep: number;
  leaderHint: NodeId | null;
  op: ActiveOp | null;
}

/** RETRY_BACKOFF_STEPS: a client waits this long after a refused or failed operation (two ticks). */
const RETRY_BACKOFF_STEPS = 20;

export interface WorkloadStats {
  writesOk: number;
  writesFailed: number;
  writesUnknown: number;
  /** unknownNeverApplied: unknown writes that turned out to have had no effect. */
  unknownNeverApplied: number;
  readsOk: number;
  readsDropped: number;
}

/** AckedWrite is a write a client was told succeeded: it must be applied everywhere, at (index, term). */
export interface AckedWrite {
  readonly index: Index;
  readonly term: Term;
  readonly input: KvInput;
}

export class Workload implements ClusterHooks {
  readonly history: HistoryOp[] = [];
  readonly acked: AckedWrite[] = [];
  readonly stats: WorkloadStats = { writesOk: 0, writesFailed: 0, writesUnknown: 0, unknownNeverApplied: 0, readsOk: 0, readsDropped: 0 };
  private readonly clients: Client[] = [];
  /** unknown holds writes with no outcome yet; `settleUnknown` moves them into the history. */
  private readonly unknown: HistoryOp[] = [];
  /** firstApplied maps a write's unique value to the step any node first applied it. */
  private readonly firstApplied = new Map<string, number>();
  private opSeq = 0;
  private now = 0;
  /** issuing: false once the faulty phase ends; outstanding operations still finish. */
  issuing = true;

  constructor(
    private readonly opts: WorkloadOptions,
    private readonly rng: SeededRng,
    private readonly cluster: Cluster,
    private readonly trace: Trace,
  ) {
    for (let id = 0; id < opts.clients; id++) this.clients.push({ id, nextStep: rng.nextInt(50), leaderHint: null, op: null });
  }

  get outstanding(): number {
    return this.clients.filter((c) => c.op !== null).length;
  }

  /** step starts new operations and expires overdue ones. */
  step(now: number): void {
    this.now = now;
    for (const c of this.clients) {
      if (c.op !== null && now - c.op.callStep >= this.opts.opDeadlineSteps) this.expire(c, c.op);
      if (c.op === null && this.issuing && now >= c.nextStep) this.issue(c);
    }
  }

  /**
   * finish ends the run after convergence: every write still outstanding is unknown, every read
   * dropped, and each unknown write is settled by whether its value was ever applied.
   */
  finish(): void {
    for (const c of this.clients) if (c.op !== null) this.expire(c, c.op);
    for (const op of this.unknown) {
      const value = op.input.op === 'read' ? undefined : op.input.value;
      const appliedAt = value === undefined ? undefined : this.firstApplied.get(value);
      if (appliedAt === undefined) {
        this.stats.unknownNeverApplied++;
        continue;
      }
      this.history.push({ ...op, returnTime: Math.max(appliedAt, op.callTime) });
    }
    this.unknown.length = 0;
  }

  // ClusterHooks: what nodes apply decides the writes waiting there.

  applied(id: NodeId, e: Entry): void {
    if (e.kind === 'command') {
      const value = decodeKvCommand(e.data).value;
      if (!this.firstApplied.has(value)) this.firstApplied.set(value, this.now);
    }
    for (const c of this.clients) {
      const op = c.op;
      if (op === null || op.accepted === null || op.node !== id || op.accepted.index !== e.index) continue;
      if (e.term === op.accepted.term) this.writeOk(c, op);
      else this.writeFailed(c, op, `index ${e.index} holds term ${e.term}`);
    }
  }

  restored(id: NodeId, at: Index): void {
    for (const c of this.clients) {
      const op = c.op;
      if (op !== null && op.accepted !== null && op.node === id && op.accepted.index <= at) this.writeUnknown(c, op, `snapshot ${at} covers it`);
    }
  }

  crashed(id: NodeId): void {
    for (const c of this.clients) {
      const op = c.op;
      if (op !== null && op.accepted !== null && op.node === id) this.writeUnknown(c, op, 'node crashed');
    }
  }

  private issue(c: Client): void {
    const key = `k${this.rng.nextInt(this.opts.keys)}`;
    const id = ++this.opSeq;
    const r = this.rng.nextFloat();
    let input: KvInput;
    if (r < this.opts.readFraction) input = { op: 'read', key };
    else input = { op: r < (1 + this.opts.readFraction) / 2 ? 'put' : 'append', key, value: `c${c.id}.${id}` };
    // Any member serves a linearizable read, so reads go anywhere; writes prefer the last leader seen.
    const node = input.op === 'read' ? this.rng.pick(this.cluster.ids) : this.chooseNode(c);
    const op: ActiveOp = { id, input, node, callStep: this.now, accepted: null };
    c.op = op;
    if (this.trace.enabled) this.trace.add(`client ${c.id} -> ${node}: ${describeInput(input)} (op ${id})`);
    const submitted =
      input.op === 'read'
        ? this.cluster.submit(node, { kind: 'read', context: `c${c.id}.${id}`, done: (kv) => this.onRead(c, op, kv) })
        : this.cluster.submit(node, { kind: 'propose', data: encodeKvCommand(input), done: (res) => this.onProposed(c, op, res) });
    if (!submitted) {
      c.leaderHint = null;
      this.failOrDrop(c, op, 'node is down');
    }
  }

  private chooseNode(c: Client): NodeId {
    if (c.leaderHint !== null && this.rng.chance(this.opts.leaderHintProbability)) return c.leaderHint;
    return this.rng.pick(this.cluster.ids);
  }

  private onProposed(c: Client, op: ActiveOp, res: Result<Proposed, ProposeError> | null): void {
    if (c.op !== op) return; // it expired meanwhile and is already recorded as unknown
    if (res === null) return this.writeFailed(c, op, 'node crashed before proposing');
    if (!res.ok) {
      const e = res.error;
      if (e.type === 'notLeader') c.leaderHint = e.leader;
      return this.writeFailed(c, op, `propose: ${e.type}`);
    }
    c.leaderHint = op.node;
    op.accepted = { index: res.value.index, term: res.value.term };
    if (this.trace.enabled) this.trace.add(`client ${c.id}: op ${op.id} appended at ${res.value.index}/${res.value.term} on ${op.node}`);
  }

  private onRead(c: Client, op: ActiveOp, kv: SimKv | null): void {
    if (c.op !== op) return;
    if (kv === null) return this.failOrDrop(c, op, 'read failed');
    const value = kv.get(op.input.key);
    this.history.push({ clientId: c.id, input: op.input, callTime: op.callStep, output: value, returnTime: this.now });
    this.stats.readsOk++;
    if (this.trace.enabled) this.trace.add(`client ${c.id}: op ${op.id} read ${op.input.key} = ${JSON.stringify(value)} at ${kv.applied} on ${op.node}`);
    this.done(c);
  }

  private writeOk(c: Client, op: ActiveOp): void {
    const accepted = op.accepted;
    if (accepted === null) return;
    this.history.push({ clientId: c.id, input: op.input, callTime: op.callStep, output: null, returnTime: this.now });
    this.acked.push({ index: accepted.index, term: accepted.term, input: op.input });
    this.stats.writesOk++;
    if (this.trace.enabled) this.trace.add(`client ${c.id}: op ${op.id} ok at ${accepted.index}/${accepted.term}`);
    this.done(c);
  }

  private writeFailed(c: Client, op: ActiveOp, why: string): void {
    this.stats.writesFailed++;
    if (this.trace.enabled) this.trace.add(`client ${c.id}: op ${op.id} failed (${why})`);
    this.done(c, true);
  }

  private writeUnknown(c: Client, op: ActiveOp, why: string): void {
    this.unknown.push({ clientId: c.id, input: op.input, callTime: op.callStep, output: null, returnTime: Number.POSITIVE_INFINITY });
    this.stats.writesUnknown++;
    if (this.trace.enabled) this.trace.add(`client ${c.id}: op ${op.id} unknown (${why})`);
    this.done(c);
  }

  private failOrDrop(c: Client, op: ActiveOp, why: string): void {
    if (op.input.op !== 'read') return this.writeFailed(c, op, why);
    this.stats.readsDropped++;
    if (this.trace.enabled) this.trace.add(`client ${c.id}: op ${op.id} read dropped (${why})`);
    this.done(c, true);
  }

  private expire(c: Client, op: ActiveOp): void {
    c.leaderHint = null;
    if (op.input.op === 'read') this.failOrDrop(c, op, 'deadline');
    else this.writeUnknown(c, op, 'deadline');
  }

  /** done frees the client; after a refusal it backs off, as a real client retrying would. */
  private done(c: Client, refused = false): void {
    c.op = null;
    c.nextStep = this.now + (refused ? RETRY_BACKOFF_STEPS : 0) + this.rng.nextInt(this.opts.thinkStepsMax + 1);
  }
}

export function describeInput(input: KvInput): string {
  return input.op === 'read' ? `read ${input.key}` : `${input.op} ${input.key} ${input.value}`;
}
