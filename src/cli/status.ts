import { type IncomingMessage, get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { loadClusterConfig, type MemberConfig } from '../config/cluster-config.js';
import type { NodeStatus } from '../api/http-server.js';
import type { ClientTls } from '../client/endpoint.js';
import { type ParsedFlags, UsageError, optionalString, requireString } from './args.js';
import { CONNECTION_FLAGS, clientTlsFlags, connect, printJson, printTable } from './rooms.js';
import { formatTable } from './table.js';

export const STATUS_FLAGS = {
  ...CONNECTION_FLAGS,
  config: { kind: 'string', help: 'cluster config file (JSON): show every node (over HTTP /status)' },
  'wait-leader-ms': { kind: 'number', help: 'wait up to this long for an elected leader that all live nodes agree on' },
  json: { kind: 'boolean', help: 'print the statuses as JSON instead of a table' },
} as const;

const statusFetchTimeoutMs = 1_000;
/** statusBodyBytesMax: a /status body is a few hundred bytes; a larger answer is not a node's. */
const statusBodyBytesMax = 64 << 10;

type Row = { id: string; http: string; status: NodeStatus | null; error: string | null };

/**
 * statusCommand prints every node's /status and exits non-zero when there is no leader; with
 * --url it asks that one node over gRPC (ClusterService.Status) instead.
 */
export async function statusCommand(flags: ParsedFlags): Promise<number> {
  if (optionalString(flags, 'url') !== undefined) return grpcStatus(flags);
  const file = requireString(flags, 'config');
  const loaded = loadClusterConfig(file);
  if (!loaded.ok) throw new UsageError(`${loaded.error.file}: ${loaded.error.problem}`);
  const waitMs = typeof flags['wait-leader-ms'] === 'number' ? flags['wait-leader-ms'] : 0;
  const untilMs = Date.now() + waitMs;
  // Nodes whose entry names `tls` serve https: trust --ca-file (or the system roots) for them.
  const anyTls = loaded.value.members.some((m) => m.tls !== null);
  if (!anyTls && (optionalString(flags, 'ca-file') !== undefined || optionalString(flags, 'cert-file') !== undefined)) {
    throw new UsageError(`--ca-file/--cert-file: no node of ${file} names tls`);
  }
  const tls = anyTls ? clientTlsFlags(flags, 'https://status') : null;
  for (;;) {
    const rows = await Promise.all(loaded.value.members.map((m) => fetchStatus(m, tls)));
    const leader = agreedLeader(rows);
    if (leader !== null || Date.now() >= untilMs) {
      if (flags['json'] === true) printJson({ leader, nodes: rows }, '');
      else printRows(rows, leader);
      return leader === null ? 1 : 0;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function fetchStatus(m: MemberConfig, tls: ClientTls | null): Promise<Row> {
  const http = `${m.tls === null ? 'http' : 'https'}://${m.httpAddress}`;
  try {
    return {
      id: m.id,
      http,
      status: JSON.parse(await getText(`${http}/status`, m.tls === null ? null : tls)) as NodeStatus,
      error: null,
    };
  } catch (e) {
    return { id: m.id, http, status: null, error: (e as Error).message };
  }
}

/** getText GETs a small body over http or https (trusting tls.ca), within statusFetchTimeoutMs. */
function getText(url: string, tls: ClientTls | null): Promise<string> {
  return new Promise((resolve, reject) => {
    const options = {
      timeout: statusFetchTimeoutMs,
      ...(tls === null ? {} : { ca: tls.ca ?? undefined, cert: tls.cert, key: tls.key }),
    };
    const onResponse = (res: IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        if (body.length > statusBodyBytesMax) res.destroy(new Error('status body too large'));
      });
      res.on('end', () => resolve(body));
      res.on('error', reject);
    };
    const req = url.startsWith('https:') ? httpsGet(url, options, onResponse) : httpGet(url, options, onResponse);
    req.on('timeout', () => req.destroy(new Error(`no answer within ${statusFetchTimeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** agreedLeader: the leader every reachable member names, when one of them is that leader (a node waiting to be added has no say). */
function agreedLeader(rows: readonly Row[]): string | null {
  const live = rows.filter((r) => r.status !== null && r.status.memberRole !== 'none');
  const leaders = new Set(live.map((r) => r.status?.leader ?? null));
  if (leaders.size !== 1) return null;
  const leader = [...leaders][0] ?? null;
  return live.some((r) => r.status?.role === 'leader' && r.id === leader) ? leader : null;
}

const STATUS_HEADERS = ['ID', 'HTTP', 'ROLE', 'MEMBER', 'TERM', 'LEADER', 'COMMIT', 'APPLIED', 'ROOMS'];

function printRows(rows: readonly Row[], leader: string | null): void {
  const cells = rows.map((r) =>
    r.status === null
      ? [r.id, r.http, `DOWN (${r.error ?? 'no answer'})`]
      : [
          r.id,
          r.http,
          r.status.role,
          r.status.memberRole,
          r.status.term,
          r.status.leader ?? '-',
          r.status.commitIndex,
          r.status.appliedIndex,
          r.status.rooms,
        ].map(String),
  );
  process.stdout.write(
    formatTable(STATUS_HEADERS, cells) + (leader === null ? 'no agreed leader\n' : `leader: ${leader}\n`),
  );
}

const GRPC_STATUS_HEADERS = ['ID', 'REGION', 'ROLE', 'MEMBER', 'TERM', 'LEADER', 'COMMIT', 'APPLIED', 'ROOMS'];

async function grpcStatus(flags: ParsedFlags): Promise<number> {
  const client = connect(flags);
  try {
    const s = await client.status();
    const cells = [
      [
        s.id,
        s.region,
        s.role,
        s.memberRole,
        s.term,
        s.leader === '' ? '-' : s.leader,
        s.commitIndex,
        s.appliedIndex,
        s.rooms,
      ].map(String),
    ];
    (flags['json'] === true ? printJson : printTable)(s, formatTable(GRPC_STATUS_HEADERS, cells));
    return s.leader === '' ? 1 : 0;
  } finally {
    client.close();
  }
}
