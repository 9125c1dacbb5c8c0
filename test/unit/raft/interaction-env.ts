/**
 * InteractionEnv is the command interpreter behind the Raft transcript tests (STYLE rule 18):
 * a handful of RaftCore members over MemoryLogStorage, a message queue the script delivers by
 * hand, and a toy state machine (the list of applied command payloads). Every Ready is carried
 * out as ready.ts prescribes (persist, queue messages, apply, snapshot, advance) and printed
 * with the shared describe* forms, so a transcript is the exact story of what the core did.
 *
 * Commands, one per line (see COMMANDS below for the dispatch table):
 *   add-nodes N [electionTicks=E] [heartbeatTicks=H] [preVote=B] [checkQuorum=B]
 *               [snapshotInterval=K] [inflight=M] [maxAppendBytes=B] [maxUncommittedBytes=U] [seed=S]
 *                                    start a fresh cluster of members "1".."N"
 *   add-node ID [voters=(ids)]       start one more member on empty storage (a joiner); its
 *                                    configuration before index 1 is the cluster's unless given
 *   propose-conf-change ID OP TARGET [context=C]   OP: addLearner addVoter promote remove
 *   campaign ID                      tick a non-leader until it starts a (pre-)campaign
 *   tick ID [n] | tick-all [n]
 *   propose ID DATA | read-index ID CTX | transfer-leadership FROM TO
 *   process-ready ID... | process-ready-all
 *   deliver-msgs [ID...] [from=(ids)] [type=T] [drop=(ids)]
 *   stabilize                        process Readys and deliver until nothing is left
 *   partition (ids) (ids)... | heal  messages between groups are dropped on delivery
 *   crash ID | restart ID            restart rebuilds the member from its storage
 *   crash-mid-persist ID             take a Ready, send its `messages` (they may leave before
 *                                    persist), then crash before anything of it is durable
 *   report-unreachable FROM TO | report-snapshot FROM TO [delivered=B]
 *   status ID | log ID | queue
 *   check ID key=value... | check-queued / check-delivered [filter] count=N | reset-delivered
 * The check commands live in interaction-checks.ts; they throw on a mismatch, even under REWRITE.
 */
import { type Index, type NodeId, type Term, index, nodeId } from '../../../src/lib/ids.js';
import { SeededRng } from '../../../src/lib/rng.js';
import {
  CONF_CHANGE_OPS,
  type ConfChangeOp,
  type Entry,
  type Message,
  MemoryLogStorage,
  RAFT_DEFAULTS,
  type RaftConfig,
  RaftCore,
  type Ready,
  type SnapshotMeta,
  describeEntry,
  describeMessage,
  describeReady,
  describeSnapshot,
} from '../../../src/raft/index.js';
import { checkInvariants, runCheck, runCheckMessages } from './interaction-checks.js';
import { CommandArgs, parseGroup } from './interaction-script.js';

/** EnvMember is one simulated server: its durable storage survives crash; the core does not. */
export interface EnvMember {
  readonly id: NodeId;
  readonly storage: MemoryLogStorage;
  /** core is null while the member is crashed. */
  core: RaftCore | null;
  restarts: number;
  /** stateMachine holds the payloads of the applied command entries, in order. */
  stateMachine: string[];
  appliedIndex: Index;
  /** reads maps a ReadIndex context to its read index, or "failed". */
  readonly reads: Map<string, string>;
  /** lastProposal, lastReadIndex, lastTransfer: the outcome of the latest such call, for `check`. */
  lastProposal: string;
  lastReadIndex: string;
  lastTransfer: string;
  lastConfChange: string;
  /** voters is the configuration before index 1 this member starts from (RaftConfig.voters). */
  readonly voters: readonly NodeId[];
}

/** AppliedRecord is what the first member to apply an index applied; all others must agree. */
interface AppliedRecord {
  readonly term: Term;
  readonly text: string;
}

/** STABILIZE_ROUNDS_MAX bounds `stabilize`, so a livelock fails instead of hanging. */
const STABILIZE_ROUNDS_MAX = 1000;

/**
 * TRANSCRIPT_ELECTION_TICKS: the transcripts' own election timeout (etcd's testdata uses 10 too), a parameter of
 * the scripts like `electionTicks=`, so that they read the same whatever production's RAFT_DEFAULTS says.
 */
const TRANSCRIPT_ELECTION_TICKS = 10;

type Command = (env: InteractionEnv, args: CommandArgs) => string[];

const COMMANDS: Readonly<Record<string, Command>> = {
  'add-nodes': (env, a) => env.addNodes(a),
  'add-node': (env, a) => env.addNode(nodeId(required(a.positional[0], 'ID')), a.list('voters')?.map(nodeId) ?? null),
  'propose-conf-change': (env, a) =>
    env.proposeConfChange(
      env.member(a.positional[0]),
      confChangeOp(a.positional[1]),
      nodeId(required(a.positional[2], 'TARGET')),
      a.str('context') ?? '',
    ),
  campaign: (env, a) => env.campaign(env.member(a.positional[0])),
  tick: (env, a) => env.tick(env.member(a.positional[0]), countArg(a.positional[1])),
  'tick-all': (env, a) => env.tickAll(countArg(a.positional[0])),
  propose: (env, a) => env.propose(env.member(a.positional[0]), required(a.positional[1], 'DATA')),
  'read-index': (env, a) => env.readIndex(env.member(a.positional[0]), required(a.positional[1], 'CTX')),
  // The target may be any id, so that a transfer to a non-member can be shown refused.
  'transfer-leadership': (env, a) => env.transfer(env.member(a.positional[0]), nodeId(required(a.positional[1], 'TO'))),
  'process-ready': (env, a) => a.positional.flatMap((id) => env.processReady(env.member(id))),
  'process-ready-all': (env) => env.processReadyAll(),
  'crash-mid-persist': (env, a) => env.crashMidPersist(env.member(a.positional[0])),
  'deliver-msgs': (env, a) => env.deliverMsgs(a),
  stabilize: (env) => env.stabilize(),
  partition: (env, a) => env.partition(a.positional.map((g) => parseGroup(g).map((id) => env.member(id).id))),
  heal: (env) => env.heal(),
  crash: (env, a) => env.crash(env.member(a.positional[0])),
  restart: (env, a) => env.restart(env.member(a.positional[0])),
  'report-unreachable': (env, a) => env.reportUnreachable(env.member(a.positional[0]), env.member(a.positional[1])),
  'report-snapshot': (env, a) =>
    env.reportSnapshot(env.member(a.positional[0]), env.member(a.positional[1]), a.bool('delivered', true)),
  status: (env, a) => env.status(env.member(a.positional[0])),
  log: (env, a) => env.log(env.member(a.positional[0])),
  queue: (env) => (env.queue.length === 0 ? ['(empty)'] : env.queue.map(describeMessage)),
  check: (env, a) => runCheck(env, env.member(a.positional[0]), a),
  'check-queued': (env, a) => runCheckMessages(env.queue, a),
  'check-delivered': (env, a) => runCheckMessages(env.delivered, a),
  'reset-delivered': (env) => {
    env.delivered.length = 0;
    return [];
  },
};

export class InteractionEnv {
  readonly members = new Map<NodeId, EnvMember>();
  /** queue holds sent messages not yet delivered or dropped, oldest first. */
  readonly queue: Message[] = [];
  /** delivered holds the messages stepped into a member since the last reset-delivered. */
  readonly delivered: Message[] = [];
  /** partitions: when set, a message whose ends sit in different groups is dropped on delivery. */
  private partitions: NodeId[][] | null = null;
  /** snapshots holds each taken snapshot's state machine, keyed "index/term" (the transport's bytes). */
  private readonly snapshots = new Map<string, readonly string[]>();
  /** appliedLog records the first application of every index, to catch divergent state machines. */
  readonly appliedLog = new Map<number, AppliedRecord>();
  /** leaderOfTerm records who led each term, to catch two leaders in one term. */
  readonly leaderOfTerm = new Map<number, NodeId>();
  private configBase: Omit<RaftConfig, 'id' | 'storage' | 'random'> | null = null;
  private seed = 1;

  /** run executes one command line and returns its output lines ("ok" when it prints nothing). */
  run(line: string): string[] {
    const args = CommandArgs.parse(line);
    const command = Object.hasOwn(COMMANDS, args.name) ? COMMANDS[args.name] : undefined;
    if (command === undefined) throw new Error(`unknown command "${args.name}"`);
    const out = command(this, args);
    if (args.name !== 'check') args.assertAllUsed();
    checkInvariants(this);
    return out.length === 0 ? ['ok'] : out;
  }

  member(id: string | undefined): EnvMember {
    const m = id === undefined ? undefined : this.members.get(nodeId(id));
    if (m === undefined) throw new Error(`no member "${id}"`);
    return m;
  }

  live(m: EnvMember): RaftCore {
    if (m.core === null) throw new Error(`member ${m.id} is crashed`);
    return m.core;
  }

  // ---- Setup -------------------------------------------------------------------------------

  addNodes(a: CommandArgs): string[] {
    this.reset();
    const n = Number(required(a.positional[0], 'N'));
    const electionTimeoutTicks = a.int('electionTicks', TRANSCRIPT_ELECTION_TICKS);
    this.seed = a.int('seed', 1);
    const voters = Array.from({ length: n }, (_, k) => nodeId(String(k + 1)));
    this.configBase = {
      ...RAFT_DEFAULTS,
      voters,
      electionTimeoutTicks,
      heartbeatIntervalTicks: a.int('heartbeatTicks', RAFT_DEFAULTS.heartbeatIntervalTicks),
      preVote: a.bool('preVote', RAFT_DEFAULTS.preVote),
      checkQuorum: a.bool('checkQuorum', RAFT_DEFAULTS.checkQuorum),
      snapshotIntervalEntries: a.int('snapshotInterval', RAFT_DEFAULTS.snapshotIntervalEntries),
      inflightAppendsMax: a.int('inflight', RAFT_DEFAULTS.inflightAppendsMax),
      appendBytesPerMessageMax: a.int('maxAppendBytes', RAFT_DEFAULTS.appendBytesPerMessageMax),
      uncommittedBytesMax: a.int('maxUncommittedBytes', RAFT_DEFAULTS.uncommittedBytesMax),
      snapshotRetryTicks: Math.max(RAFT_DEFAULTS.snapshotRetryTicks, 10 * electionTimeoutTicks),
    };
    for (const id of voters) this.startMember(id, voters);
    return [];
  }

  /** addNode starts a member on empty storage that the cluster does not know yet. */
  addNode(id: NodeId, voters: readonly NodeId[] | null): string[] {
    if (this.configBase === null) throw new Error('add-nodes first');
    if (this.members.has(id)) throw new Error(`add-node: ${id} exists`);
    this.startMember(id, voters ?? this.configBase.voters);
    return [];
  }

  private startMember(id: NodeId, voters: readonly NodeId[]): void {
    const m: EnvMember = {
      id,
      storage: new MemoryLogStorage(),
      core: null,
      restarts: 0,
      stateMachine: [],
      appliedIndex: index(0),
      reads: new Map(),
      lastProposal: '-',
      lastReadIndex: '-',
      lastTransfer: '-',
      lastConfChange: '-',
      voters,
    };
    m.core = this.newCore(m);
    this.members.set(id, m);
  }

  /** reset forgets the whole cluster, so one script can compare two configurations. */
  private reset(): void {
    this.members.clear();
    this.queue.length = 0;
    this.delivered.length = 0;
    this.partitions = null;
    this.snapshots.clear();
    this.appliedLog.clear();
    this.leaderOfTerm.clear();
  }

  private newCore(m: EnvMember): RaftCore {
    if (this.configBase === null) throw new Error('add-nodes first');
    // Each member (and each restart) gets its own fixed stream, so jitter is deterministic.
    const random = new SeededRng(this.seed * 1_000_003 + Number(m.id) * 101 + m.restarts);
    return new RaftCore({ ...this.configBase, voters: m.voters, id: m.id, storage: m.storage, random });
  }

  // ---- Time and elections ------------------------------------------------------------------

  /**
   * campaign ticks a member until its randomized election timeout fires and it starts a new
   * (pre-)campaign: a follower changes role; a (pre)candidate, whose Ready must be handled
   * first, shows a fresh Ready with its new requests.
   */
  campaign(m: EnvMember): string[] {
    const core = this.live(m);
    const before = core.status();
    if (before.role === 'leader') throw new Error(`campaign: ${m.id} leads already`);
    if (core.hasReady()) throw new Error(`campaign: process ${m.id}'s Ready first`);
    const limit = 2 * (this.configBase?.electionTimeoutTicks ?? 0);
    for (let ticks = 1; ticks <= limit; ticks++) {
      core.tick();
      const s = core.status();
      if (s.role !== before.role || s.term !== before.term || core.hasReady()) {
        return [`${m.id} ticked ${ticks} times: role=${s.role} term=${s.term}`];
      }
    }
    throw new Error(`campaign: ${m.id} did not campaign within ${limit} ticks`);
  }

  tick(m: EnvMember, n: number): string[] {
    const core = this.live(m);
    for (let k = 0; k < n; k++) core.tick();
    return [];
  }

  tickAll(n: number): string[] {
    for (let k = 0; k < n; k++) for (const m of this.members.values()) m.core?.tick();
    return [];
  }

  // ---- Client calls ------------------------------------------------------------------------

  propose(m: EnvMember, data: string): string[] {
    const r = this.live(m).propose(new TextEncoder().encode(data));
    if (r.ok) {
      m.lastProposal = 'ok';
      return [`proposed at ${r.value.index}/${r.value.term}`];
    }
    const e = r.error;
    m.lastProposal = e.type;
    switch (e.type) {
      case 'notLeader':
        return [`refused: notLeader leader=${e.leader ?? '-'}`];
      case 'transferring':
        return [`refused: transferring to=${e.to}`];
      case 'overloaded':
        return [`refused: overloaded ${e.uncommittedEntries}/${e.limit}`];
      case 'overloadedBytes':
        return [`refused: overloadedBytes ${e.uncommittedBytes}/${e.limitBytes}`];
    }
  }

  proposeConfChange(m: EnvMember, op: ConfChangeOp, id: NodeId, context: string): string[] {
    const r = this.live(m).proposeConfChange({ op, id, context });
    if (r.ok) {
      m.lastConfChange = 'ok';
      return [`proposed at ${r.value.index}/${r.value.term}`];
    }
    const e = r.error;
    m.lastConfChange = e.type;
    switch (e.type) {
      case 'notLeader':
        return [`refused: notLeader leader=${e.leader ?? '-'}`];
      case 'transferring':
        return [`refused: transferring to=${e.to}`];
      case 'changeInFlight':
        return [`refused: changeInFlight index=${e.index}`];
      case 'invalid':
        return [`refused: invalid (${e.reason})`];
    }
  }

  readIndex(m: EnvMember, context: string): string[] {
    const r = this.live(m).readIndex(context);
    m.lastReadIndex = r.ok ? 'ok' : r.error.type;
    return r.ok ? [] : [`refused: ${r.error.type}`];
  }

  transfer(from: EnvMember, to: NodeId): string[] {
    const r = this.live(from).transferLeadership(to);
    if (r.ok) {
      from.lastTransfer = 'ok';
      return [];
    }
    from.lastTransfer = r.error.type;
    return r.error.type === 'notLeader'
      ? [`refused: notLeader leader=${r.error.leader ?? '-'}`]
      : [`refused: unknownMember ${r.error.id}`];
  }

  reportUnreachable(from: EnvMember, to: EnvMember): string[] {
    this.live(from).reportUnreachable(to.id);
    return [];
  }

  reportSnapshot(from: EnvMember, to: EnvMember, delivered: boolean): string[] {
    this.live(from).reportSnapshot(to.id, delivered);
    return [];
  }

  // ---- Ready handling ----------------------------------------------------------------------

  /** processReady carries out one Ready in the order ready.ts documents, printing it first. */
  processReady(m: EnvMember): string[] {
    const core = this.live(m);
    if (!core.hasReady()) return [];
    const rd = core.ready();
    const lines = [`> ${m.id} handling Ready`, ...describeReady(rd)];
    this.persist(m, rd);
    this.queue.push(...rd.messages, ...rd.messagesAfterPersist);
    for (const e of rd.committed) this.apply(m, e);
    for (const rs of rd.readStates) m.reads.set(rs.context, String(rs.index));
    for (const ctx of rd.readsFailed) m.reads.set(ctx, 'failed');
    if (rd.snapshotWanted) lines.push(`  compacted to ${describeSnapshot(this.takeSnapshot(m))}`);
    core.advance();
    return lines;
  }

  /** crashMidPersist is a power cut while a Ready's persist is in flight: only `messages` went out. */
  crashMidPersist(m: EnvMember): string[] {
    const rd = this.live(m).ready();
    this.queue.push(...rd.messages);
    m.core = null;
    return [`> ${m.id} handling Ready, crashing before it is persisted`, ...describeReady(rd)];
  }

  processReadyAll(): string[] {
    return [...this.members.values()].flatMap((m) => (m.core === null ? [] : this.processReady(m)));
  }

  private persist(m: EnvMember, rd: Ready): void {
    if (rd.snapshot !== null) {
      const restored = this.snapshots.get(snapshotKey(rd.snapshot));
      if (restored === undefined) throw new Error(`${m.id}: no snapshot data for ${describeSnapshot(rd.snapshot)}`);
      m.storage.applySnapshot(rd.snapshot);
      m.stateMachine = [...restored];
      m.appliedIndex = rd.snapshot.index;
    }
    m.storage.append(rd.entries);
    if (rd.hardState !== null) m.storage.setHardState(rd.hardState);
  }

  private apply(m: EnvMember, e: Entry): void {
    if (e.index !== m.appliedIndex + 1) {
      throw new Error(`${m.id} applies ${describeEntry(e)} after ${m.appliedIndex}: not contiguous`);
    }
    const text = e.kind === 'noop' ? '' : new TextDecoder().decode(e.data);
    const first = this.appliedLog.get(e.index);
    if (first === undefined) this.appliedLog.set(e.index, { term: e.term, text });
    else if (first.term !== e.term || first.text !== text) {
      throw new Error(
        `state machine safety: ${m.id} applies ${describeEntry(e)} where another applied term ${first.term}`,
      );
    }
    if (e.kind === 'command') m.stateMachine.push(text);
    m.appliedIndex = e.index;
  }

  /** takeSnapshot snapshots the state machine at its applied index and compacts the log there. */
  private takeSnapshot(m: EnvMember): SnapshotMeta {
    const t = m.storage.term(m.appliedIndex);
    if (t === null) throw new Error(`${m.id}: no term at applied index ${m.appliedIndex}`);
    // The core's configuration is the one applied with the entry at appliedIndex.
    const meta: SnapshotMeta = { index: m.appliedIndex, term: t, ...this.live(m).confState() };
    this.snapshots.set(snapshotKey(meta), [...m.stateMachine]);
    m.storage.compact(meta);
    return meta;
  }

  // ---- Network -----------------------------------------------------------------------------

  /**
   * deliverMsgs steps queued messages into their recipients. Positional ids pick recipients
   * (all when none are given), `from=` and `type=` narrow the pick, and `drop=` first removes
   * the picked messages to those ids without delivering them. Recipients take their messages in id order, each in
   * send order.
   */
  deliverMsgs(a: CommandArgs): string[] {
    const to = a.positional.map((id) => this.member(id).id);
    const from = a.list('from')?.map((id) => this.member(id).id) ?? null;
    const type = a.str('type');
    const drop = a.list('drop')?.map((id) => this.member(id).id) ?? [];
    const matches = (msg: Message): boolean =>
      (from === null || from.includes(msg.from)) && (type === null || msg.type === type);
    const lines: string[] = [];
    for (const msg of this.take((msg) => matches(msg) && drop.includes(msg.to))) {
      lines.push(`  dropped ${describeMessage(msg)}`);
    }
    const picked = (msg: Message): boolean => matches(msg) && (to.length === 0 || to.includes(msg.to));
    lines.push(...this.deliver(this.take(picked)));
    return lines;
  }

  /** take removes and returns the queued messages `pick` selects, keeping the rest in order. */
  private take(pick: (m: Message) => boolean): Message[] {
    const taken = this.queue.filter(pick);
    const kept = this.queue.filter((m) => !pick(m));
    this.queue.length = 0;
    this.queue.push(...kept);
    return taken;
  }

  private deliver(msgs: readonly Message[]): string[] {
    const lines: string[] = [];
    for (const m of this.members.values()) {
      const mine = msgs.filter((msg) => msg.to === m.id);
      if (mine.length === 0) continue;
      lines.push(`> ${m.id} receiving messages`);
      for (const msg of mine) {
        const why = m.core === null ? 'crashed' : this.partitioned(msg) ? 'partitioned' : null;
        if (why !== null) {
          lines.push(`  ${describeMessage(msg)} DROPPED (${why})`);
          continue;
        }
        lines.push(`  ${describeMessage(msg)}`);
        this.delivered.push(msg);
        this.live(m).step(msg);
      }
    }
    return lines;
  }

  private partitioned(msg: Message): boolean {
    if (this.partitions === null) return false;
    const groupOf = (id: NodeId): number => this.partitions?.findIndex((g) => g.includes(id)) ?? -1;
    return groupOf(msg.from) !== groupOf(msg.to);
  }

  /** stabilize alternates process-ready-all and deliver-all until no member has anything to do. */
  stabilize(): string[] {
    const lines: string[] = [];
    for (let round = 0; round < STABILIZE_ROUNDS_MAX; round++) {
      const ready = this.processReadyAll();
      const msgs = this.take(() => true);
      if (ready.length === 0 && msgs.length === 0) return lines;
      lines.push(...ready, ...this.deliver(msgs));
      checkInvariants(this);
    }
    throw new Error(`stabilize: still busy after ${STABILIZE_ROUNDS_MAX} rounds`);
  }

  /** partition splits the cluster; members named in no group form one more group together. */
  partition(groups: NodeId[][]): string[] {
    const named = new Set(groups.flat());
    const rest = [...this.members.keys()].filter((id) => !named.has(id));
    this.partitions = rest.length > 0 ? [...groups, rest] : groups;
    return [`partitioned ${this.partitions.map((g) => `(${g.join(' ')})`).join(' ')}`];
  }

  heal(): string[] {
    this.partitions = null;
    return [];
  }

  // ---- Crashes -----------------------------------------------------------------------------

  /** crash drops the core; whatever it had not handed out in a Ready is lost, storage stays. */
  crash(m: EnvMember): string[] {
    this.live(m);
    m.core = null;
    return [];
  }

  /** restart rebuilds the core from storage and the state machine from the storage's snapshot. */
  restart(m: EnvMember): string[] {
    if (m.core !== null) throw new Error(`restart: ${m.id} is running`);
    m.restarts++;
    const snap = m.storage.snapshotMeta();
    m.stateMachine = snap.index === 0 ? [] : [...(this.snapshots.get(snapshotKey(snap)) ?? [])];
    m.appliedIndex = snap.index;
    m.reads.clear();
    m.core = this.newCore(m);
    return this.status(m);
  }

  // ---- Inspection --------------------------------------------------------------------------

  status(m: EnvMember): string[] {
    if (m.core === null) return [`${m.id}: crashed`];
    const s = m.core.status();
    const head =
      `${m.id}: role=${s.role} term=${s.term} leader=${s.leader ?? '-'} vote=${s.vote ?? '-'} ` +
      `commit=${s.commitIndex} applied=${s.appliedIndex} first=${s.firstIndex} last=${s.lastIndex}` +
      (s.snapshotIndex > 0 ? ` snapshot=${s.snapshotIndex}` : '') +
      (s.leadTransferee !== null ? ` transferee=${s.leadTransferee}` : '');
    const lines = [head];
    for (const [id, p] of Object.entries(s.progress ?? {})) {
      if (id !== m.id) lines.push(`  ${id}: match=${p.match} next=${p.next} state=${p.state}`);
    }
    return lines;
  }

  /** log prints the durable log, then any entries the core holds that are not durable yet. */
  log(m: EnvMember): string[] {
    const st = m.storage;
    const lines: string[] = [];
    const snap = st.snapshotMeta();
    if (snap.index > 0) lines.push(describeSnapshot(snap));
    const stored = st.entries(st.firstIndex(), index(st.lastIndex() + 1), Number.MAX_SAFE_INTEGER);
    lines.push(...stored.map(describeEntry));
    const last = m.core?.status().lastIndex ?? st.lastIndex();
    for (let i = st.lastIndex() + 1; i <= last; i++) lines.push(`${i}/${m.core?.termAt(index(i))} (unstable)`);
    return lines.length === 0 ? ['(empty)'] : lines;
  }
}

function snapshotKey(meta: SnapshotMeta): string {
  return `${meta.index}/${meta.term}`;
}

function required(v: string | undefined, what: string): string {
  if (v === undefined) throw new Error(`missing ${what}`);
  return v;
}

function confChangeOp(v: string | undefined): ConfChangeOp {
  const op = CONF_CHANGE_OPS.find((o) => o === v);
  if (op === undefined) throw new Error(`bad conf change op ${v}: one of ${CONF_CHANGE_OPS.join(' ')}`);
  return op;
}

function countArg(v: string | undefined): number {
  const n = v === undefined ? 1 : Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`bad tick count ${v}`);
  return n;
}
