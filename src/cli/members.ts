import type { ServiceError } from '@grpc/grpc-js';
import { status as grpcStatus } from '@grpc/grpc-js';
import { LEADER_HINT_KEY } from '../api/grpc-errors.js';
import { RoomClient } from '../client/room-client.js';
import { loadClusterConfig } from '../config/cluster-config.js';
import type { ListMembersResponse, Member } from '../gen/roomregistry/v1/rooms.js';
import { type ParsedFlags, UsageError, optionalString, parseFlags, requireString } from './args.js';
import { CONNECTION_FLAGS, clientTlsFlags, printJson } from './rooms.js';
import { formatTable } from './table.js';

const MEMBERS_FLAGS = {
  ...CONNECTION_FLAGS,
  id: { kind: 'string', help: 'add: the new member’s node id' },
  region: { kind: 'string', help: 'add: its region' },
  grpc: { kind: 'string', help: 'add: its public gRPC address, host:port' },
  peer: { kind: 'string', help: 'add: its peer (Raft) address, host:port' },
  http: { kind: 'string', help: 'add: its HTTP address, host:port' },
  learner: { kind: 'boolean', help: 'add: keep it a learner (default: promoted to voter once caught up)' },
  'wait-ms': { kind: 'number', help: 'add: wait up to this long until it is a voter (a learner: caught up)' },
  json: { kind: 'boolean', help: 'list: print the reply as JSON' },
} as const;

export const MEMBERS_USAGE = `  room-registry members list [--json]
  room-registry members add --id ID --region R --grpc H:P --peer H:P --http H:P [--learner] [--wait-ms N]
  room-registry members promote ID
  room-registry members remove ID
    admin key required; any node will do: the CLI follows the leader hint of a node that is not the leader.
    connection: --url host:port --api-key K --api-secret S, or --config FILE (tries its nodes in turn)
`;

/** leaderHopsMax: leader hints followed before giving up (an election moves the leader at most a few times). */
const leaderHopsMax = 3;
/**
 * leaderWaitMs: how long a change waits while no node names a leader (an election: a
 * two-voter cluster whose new member lags can lose its leader to CheckQuorum for a moment).
 */
const leaderWaitMs = 15_000;
/** caughtUpLagMax: with add --learner --wait-ms, a learner this close to the leader's last index counts as caught up. */
const caughtUpLagMax = 1_000;
const waitPollMs = 200;

/** membersCommand runs one `members` subcommand on the leader (found from any node). */
export async function membersCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { flags, positional } = parseFlags(rest, MEMBERS_FLAGS);
  const cluster = new LeaderFinder(flags);
  const timeoutMs = typeof flags['timeout-ms'] === 'number' ? flags['timeout-ms'] : undefined;
  try {
    switch (sub) {
      case 'list': {
        const r = await cluster.list(timeoutMs);
        if (flags['json'] === true) return printJson(r, '');
        process.stdout.write(membersTable(r));
        return 0;
      }
      case 'add':
        return await add(cluster, flags, timeoutMs);
      case 'promote': {
        const id = onlyId(positional);
        const r = await cluster.onLeader((c) => c.promoteMember(id, timeoutMs));
        process.stdout.write(`promoted ${id} to voter (applied at index ${r.index})\n`);
        return 0;
      }
      case 'remove': {
        const id = onlyId(positional);
        const r = await cluster.onLeader((c) => c.removeMember(id, timeoutMs));
        process.stdout.write(`removed ${id} (applied at index ${r.index}); it leaves the cluster and exits\n`);
        return 0;
      }
      default:
        throw new UsageError(`unknown members command "${String(sub)}"; use list, add, promote or remove`);
    }
  } catch (e) {
    if (e instanceof UsageError || !isServiceError(e)) throw e;
    const leader = e.metadata?.get(LEADER_HINT_KEY)[0];
    process.stderr.write(
      `room-registry: ${e.details} (code ${grpcStatus[e.code] ?? e.code}${leader === undefined ? '' : `, leader ${String(leader)}`})\n`,
    );
    return 1;
  } finally {
    cluster.close();
  }
}

async function add(cluster: LeaderFinder, flags: ParsedFlags, timeoutMs: number | undefined): Promise<number> {
  const req = {
    id: requireString(flags, 'id'),
    region: requireString(flags, 'region'),
    grpc: requireString(flags, 'grpc'),
    peer: requireString(flags, 'peer'),
    http: requireString(flags, 'http'),
    learner: flags['learner'] === true,
  };
  const r = await cluster.onLeader((c) => c.addMember(req, timeoutMs));
  process.stdout.write(
    `added ${req.id} as a learner (applied at index ${r.index})${req.learner ? '' : '; it is promoted to voter once caught up'}\n`,
  );
  const waitMs = typeof flags['wait-ms'] === 'number' ? flags['wait-ms'] : 0;
  if (waitMs <= 0) return 0;
  const untilMs = Date.now() + waitMs;
  for (;;) {
    const m = await cluster.list(timeoutMs).then(
      (l) => l.members.find((x) => x.id === req.id),
      () => undefined,
    );
    const done = req.learner ? m !== undefined && m.progressKnown && m.lag <= caughtUpLagMax : m?.role === 'voter';
    if (done) {
      process.stdout.write(`${req.id} is ${req.learner ? 'caught up' : 'a voter'}\n`);
      return 0;
    }
    if (Date.now() >= untilMs) {
      process.stderr.write(
        `room-registry: ${req.id} is not ${req.learner ? 'caught up' : 'a voter'} after ${waitMs} ms\n`,
      );
      return 1;
    }
    await new Promise((res) => setTimeout(res, waitPollMs));
  }
}

/**
 * LeaderFinder reaches the cluster: --url, or each node of --config in turn, and follows the
 * leader hint of an UNAVAILABLE to the leader's address (from the config, else from the
 * membership the answering node lists).
 */
class LeaderFinder {
  private readonly clients = new Map<string, RoomClient>();
  private readonly candidates: string[];
  private readonly known = new Map<string, string>();
  private readonly credentials: { apiKey: string; apiSecret: string };

  constructor(private readonly flags: ParsedFlags) {
    const url = optionalString(flags, 'url');
    let apiKey = optionalString(flags, 'api-key');
    let apiSecret = optionalString(flags, 'api-secret');
    const configFile = optionalString(flags, 'config');
    const fromConfig: string[] = [];
    if (configFile !== undefined) {
      const loaded = loadClusterConfig(configFile);
      if (!loaded.ok) throw new UsageError(`${loaded.error.file}: ${loaded.error.problem}`);
      for (const m of loaded.value.members) {
        const address = `${m.tls === null ? 'http' : 'https'}://${m.grpcAddress}`;
        this.known.set(m.id, address);
        fromConfig.push(address);
      }
      const firstKey = [...loaded.value.apiKeys][0];
      if (apiKey === undefined && firstKey !== undefined) [apiKey, apiSecret] = firstKey;
    }
    this.candidates = url !== undefined ? [url] : fromConfig;
    if (this.candidates.length === 0) throw new UsageError('--url (or LIVEKIT_URL, or --config) is required');
    if (apiKey === undefined || apiSecret === undefined)
      throw new UsageError(
        '--api-key and --api-secret (or LIVEKIT_API_KEY/LIVEKIT_API_SECRET, or --config) are required',
      );
    this.credentials = { apiKey, apiSecret };
  }

  /** list asks any node, then the leader it names, for the members with the leader's progress. */
  async list(timeoutMs?: number): Promise<ListMembersResponse> {
    const r = await this.onAny((c) => c.listMembers(timeoutMs));
    if (!r.ok) throw r.error;
    this.learn(r.value);
    const leader = r.value.leader;
    if (leader === '' || leader === r.value.answeredBy) return r.value;
    const address = this.known.get(leader);
    if (address === undefined) return r.value;
    return this.client(address)
      .listMembers(timeoutMs)
      .catch(() => r.value);
  }

  /**
   * onLeader runs `call` on a node, following the leader hint of each UNAVAILABLE; while no
   * node names a leader, it asks again every waitPollMs for up to leaderWaitMs.
   */
  async onLeader<T>(call: (c: RoomClient) => Promise<T>): Promise<T> {
    const untilMs = Date.now() + leaderWaitMs;
    let waitingSaid = false;
    for (;;) {
      const r = await this.followingHints(call);
      if (r.ok) return r.value;
      if (r.error.code !== grpcStatus.UNAVAILABLE || Date.now() >= untilMs) throw r.error;
      if (!waitingSaid) process.stderr.write(`room-registry: no leader yet (${r.error.details}); asking again\n`);
      waitingSaid = true;
      await new Promise((res) => setTimeout(res, waitPollMs));
    }
  }

  /** followingHints asks any node, then follows up to leaderHopsMax leader hints. */
  private async followingHints<T>(call: (c: RoomClient) => Promise<T>): Promise<Attempt<T>> {
    let r = await this.onAny(call);
    for (let hop = 0; !r.ok && hop < leaderHopsMax; hop++) {
      const leader = leaderHint(r.error);
      const address = leader === null ? undefined : await this.addressOf(leader, r.address);
      if (address === undefined) return r;
      r = await attempt(address, this.client(address), call);
    }
    return r;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
  }

  /**
   * onAny tries the candidates in turn until one answers with something other than "cannot
   * connect"; the answer may be an error (a leader hint to follow).
   */
  private async onAny<T>(call: (c: RoomClient) => Promise<T>): Promise<Attempt<T>> {
    let last: Attempt<T> | null = null;
    for (const address of this.candidates) {
      last = await attempt(address, this.client(address), call);
      if (last.ok || !unreachable(last.error)) return last;
    }
    if (last === null) throw new UsageError('no node to ask');
    return last;
  }

  private async addressOf(id: string, askedAt: string): Promise<string | undefined> {
    if (!this.known.has(id)) {
      const listed = await this.client(askedAt)
        .listMembers()
        .catch(() => null);
      if (listed !== null) this.learn(listed);
    }
    return this.known.get(id);
  }

  private learn(r: ListMembersResponse): void {
    for (const m of r.members) if (m.grpc !== '' && !this.known.has(m.id)) this.known.set(m.id, m.grpc);
  }

  private client(address: string): RoomClient {
    let c = this.clients.get(address);
    if (c === undefined) {
      c = new RoomClient(address, this.credentials, {}, clientTlsFlags(this.flags, address));
      this.clients.set(address, c);
    }
    return c;
  }
}

type Attempt<T> = { ok: true; value: T; address: string } | { ok: false; error: ServiceError; address: string };

async function attempt<T>(address: string, c: RoomClient, call: (c: RoomClient) => Promise<T>): Promise<Attempt<T>> {
  try {
    return { ok: true, value: await call(c), address };
  } catch (e) {
    if (!isServiceError(e)) throw e;
    return { ok: false, error: e, address };
  }
}

function leaderHint(e: ServiceError): string | null {
  if (e.code !== grpcStatus.UNAVAILABLE) return null;
  const hint = e.metadata?.get(LEADER_HINT_KEY)[0];
  return typeof hint === 'string' && hint !== '' ? hint : null;
}

/** unreachable: the call never reached a node (connection refused, no answer): try the next one. */
function unreachable(e: ServiceError): boolean {
  return (e.code === grpcStatus.UNAVAILABLE && leaderHint(e) === null) || e.code === grpcStatus.DEADLINE_EXCEEDED;
}

function isServiceError(e: unknown): e is ServiceError {
  return typeof e === 'object' && e !== null && 'code' in e && 'details' in e;
}

function onlyId(positional: readonly string[]): string {
  if (positional.length !== 1 || positional[0] === undefined) throw new UsageError('give exactly one member id');
  return positional[0];
}

const MEMBER_HEADERS = ['ID', 'REGION', 'GRPC', 'PEER', 'HTTP', 'ROLE', 'MATCH', 'LAG', 'REACHABLE'];

function membersTable(r: ListMembersResponse): string {
  const cells = r.members.map((m: Member) => [
    m.id + (m.id === r.leader ? ' (leader)' : ''),
    m.region,
    m.grpc,
    m.peer,
    m.http,
    m.role + (m.role === 'learner' && m.promote ? ' (to promote)' : ''),
    m.progressKnown ? String(m.match) : '-',
    m.progressKnown ? String(m.lag) : '-',
    m.progressKnown ? (m.reachable ? 'yes' : 'no') : '-',
  ]);
  const footer =
    r.leader === ''
      ? 'no leader known\n'
      : r.leader === r.answeredBy
        ? ''
        : `(progress unknown: answered by ${r.answeredBy}, not the leader)\n`;
  return formatTable(MEMBER_HEADERS, cells) + footer;
}
