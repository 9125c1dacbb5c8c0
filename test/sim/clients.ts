import type { Index, NodeId, Term } from '../../src/lib/ids.js';
import type { SeededRng } from '../../src/lib/rng.js';
import { RegistryError } from '../../src/lib/errors.js';
import { decodeCommandEntry } from '../../src/node/entry-codec.js';
import type { Entry } from '../../src/raft/index.js';
import type { AckedEntry } from './checkers/convergence.js';
import { type HistoryVerdict, checkHistory } from './checkers/history.js';
import type { Cluster, ClusterHooks } from './cluster.js';
import type { WorkloadOptions } from './faults.js';
import { SimKv, decodeKvCommand, encodeKvCommand } from './kv.js';
import { MS_PER_STEP } from './scheduler.js';
import type { Trace } from './trace.js';

/**
 * Clients: a closed-loop workload of a few clients, each with at most one operation
 * outstanding, that records a history for the linearizability checker. Outcomes follow what
 * a real client could know, never the simulator's omniscience:
 * - a write is ok when RaftNode.propose resolves (the entry applied where it was proposed,
 *   or at the leader it was forwarded to); a refusal, a node that crashed, or a passed
 *   deadline leave it unknown (RaftNode's errors do not all say whether the write applied);
 * - a read is ok when RaftNode.readBarrier resolves, and is then served from that node's state
 *   machine; a read that fails or times out is dropped (reads have no effect).
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

export class Workload implements ClusterHooks {
  readonly history: HistoryOp[] = [];
  readonly acked: AckedEntry[] = [];
  readonly stats: WorkloadStats = {
    writesOk: 0,
    writesFailed: 0,
    writesUnknown: 0,
    unknownNeverApplied: 0,
    readsOk: 0,
    readsDropped: 0,
  };
  private readonly clients: Client[] = [];
  /** unknown holds writes with no outcome yet; `settleUnknown` moves them into the history. */
  private readonly unknown: HistoryOp[] = [];
  /** firstApplied maps a write's unique value to the step any node first applied it, and where. */
  private readonly firstApplied = new Map<string, { step: number; index: Index; term: Term }>();
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
    for (let id = 0; id < opts.clients; id++)
      this.clients.push({ id, nextStep: rng.nextInt(50), leaderHint: null, op: null });
  }

  get outstanding(): number {
    return this.clients.filter((c) => c.op !== null).length;
  }

  checkHistory(budgetMs: number): HistoryVerdict {
    return checkHistory(this.history, budgetMs);
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
      this.history.push({ ...op, returnTime: Math.max(appliedAt.step, op.callTime) });
    }
    this.unknown.length = 0;
  }

  // ClusterHooks: what nodes apply settles unknown writes later; a crash ends what waited there.

  applied(_id: NodeId, e: Entry): void {
    if (e.kind !== 'command') return;
    const decoded = decodeCommandEntry(e.data);
    if (!decoded.ok) return;
    const value = decodeKvCommand(decoded.value.payload).value;
    if (!this.firstApplied.has(value)) this.firstApplied.set(value, { step: this.now, index: e.index, term: e.term });
  }

  restored(): void {}

  crashed(id: NodeId): void {
    for (const c of this.clients) {
      const op = c.op;
      if (op === null || op.node !== id) continue;
      if (op.input.op === 'read') this.failOrDrop(c, op, 'node crashed');
      else this.writeUnknown(c, op, 'node crashed');
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
    const op: ActiveOp = { id, input, node, callStep: this.now };
    c.op = op;
    if (this.trace.enabled) this.trace.add(`client ${c.id} -> ${node}: ${describeInput(input)} (op ${id})`);
    const deadlineMs = (this.now + this.opts.opDeadlineSteps) * MS_PER_STEP;
    const submitted =
      input.op === 'read'
        ? this.cluster.call(node, async (raft, machine) => {
            const at = await raft.readBarrier(deadlineMs);
            return { at, value: machine instanceof SimKv ? machine.get(input.key) : null };
          })
        : this.cluster.call(node, (raft) => raft.propose(encodeKvCommand(input), deadlineMs));
    if (submitted === null) {
      c.leaderHint = null;
      this.failOrDrop(c, op, 'node is down');
      return;
    }
    submitted.then(
      (v) =>
        this.cluster.guard(() => (v instanceof Uint8Array ? this.writeOk(c, op) : this.onRead(c, op, v.at, v.value))),
      (e: unknown) => this.cluster.guard(() => this.onRefused(c, op, e)),
    );
  }

  private chooseNode(c: Client): NodeId {
    if (c.leaderHint !== null && this.rng.chance(this.opts.leaderHintProbability)) return c.leaderHint;
    return this.rng.pick(this.cluster.ids);
  }

  private onRefused(c: Client, op: ActiveOp, e: unknown): void {
    if (c.op !== op) return; // it expired meanwhile and is already recorded
    const leader = e instanceof RegistryError ? e.leaderId : undefined;
    c.leaderHint = leader ?? null;
    const why = e instanceof RegistryError ? `${e.code}: ${e.message}` : String(e);
    if (op.input.op === 'read') return this.failOrDrop(c, op, why);
    this.stats.writesFailed++;
    this.writeUnknown(c, op, why, true);
  }

  private onRead(c: Client, op: ActiveOp, at: Index, value: string | null): void {
    if (c.op !== op) return;
    this.history.push({ clientId: c.id, input: op.input, callTime: op.callStep, output: value, returnTime: this.now });
    this.stats.readsOk++;
    if (this.trace.enabled)
      this.trace.add(
        `client ${c.id}: op ${op.id} read ${op.input.key} = ${JSON.stringify(value)} at ${at} on ${op.node}`,
      );
    this.done(c);
  }

  private writeOk(c: Client, op: ActiveOp): void {
    if (c.op !== op || op.input.op === 'read') return;
    const at = this.firstApplied.get(op.input.value);
    if (at === undefined) throw new Error(`op ${op.id} acknowledged but never applied anywhere`);
    this.history.push({ clientId: c.id, input: op.input, callTime: op.callStep, output: null, returnTime: this.now });
    this.acked.push({ index: at.index, term: at.term, what: describeInput(op.input) });
    this.stats.writesOk++;
    if (this.trace.enabled) this.trace.add(`client ${c.id}: op ${op.id} ok at ${at.index}/${at.term}`);
    this.done(c);
  }

  private writeFailed(c: Client, op: ActiveOp, why: string): void {
    this.stats.writesFailed++;
    if (this.trace.enabled) this.trace.add(`client ${c.id}: op ${op.id} failed (${why})`);
    this.done(c, true);
  }

  private writeUnknown(c: Client, op: ActiveOp, why: string, refused = false): void {
    this.unknown.push({
      clientId: c.id,
      input: op.input,
      callTime: op.callStep,
      output: null,
      returnTime: Number.POSITIVE_INFINITY,
    });
    this.stats.writesUnknown++;
    if (this.trace.enabled) this.trace.add(`client ${c.id}: op ${op.id} unknown (${why})`);
    this.done(c, refused);
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
