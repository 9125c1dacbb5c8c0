import { loadClusterConfig } from '../config/cluster-config.js';
import type { NodeStatus } from '../api/http-server.js';
import { type ParsedFlags, UsageError, optionalString, requireString } from './args.js';
import { CONNECTION_FLAGS, connect } from './rooms.js';

export const STATUS_FLAGS = {
  ...CONNECTION_FLAGS,
  config: { kind: 'string', help: 'cluster config file (JSON): show every node (over HTTP /status)' },
  'wait-leader-ms': { kind: 'number', help: 'wait up to this long for an elected leader that all live nodes agree on' },
} as const;

const statusFetchTimeoutMs = 1_000;

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
  for (;;) {
    const rows = await Promise.all(loaded.value.members.map((m) => fetchStatus(m.id, m.httpAddress)));
    const leader = agreedLeader(rows);
    if (leader !== null || Date.now() >= untilMs) {
      printRows(rows, leader);
      return leader === null ? 1 : 0;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function fetchStatus(id: string, http: string): Promise<Row> {
  try {
    const res = await fetch(`http://${http}/status`, { signal: AbortSignal.timeout(statusFetchTimeoutMs) });
    return { id, http, status: (await res.json()) as NodeStatus, error: null };
  } catch (e) {
    return { id, http, status: null, error: (e as Error).message };
  }
}

/** agreedLeader: the leader every reachable node names, when one of them is that leader. */
function agreedLeader(rows: readonly Row[]): string | null {
  const live = rows.filter((r) => r.status !== null);
  const leaders = new Set(live.map((r) => r.status?.leader ?? null));
  if (leaders.size !== 1) return null;
  const leader = [...leaders][0] ?? null;
  return live.some((r) => r.status?.role === 'leader' && r.id === leader) ? leader : null;
}

function printRows(rows: readonly Row[], leader: string | null): void {
  const lines = rows.map((r) =>
    r.status === null
      ? `${r.id.padEnd(6)} http://${r.http.padEnd(18)} DOWN (${r.error ?? 'no answer'})`
      : `${r.id.padEnd(6)} http://${r.http.padEnd(18)} ${r.status.role.padEnd(12)} term=${r.status.term} ` +
        `leader=${r.status.leader ?? '-'} commit=${r.status.commitIndex} applied=${r.status.appliedIndex} rooms=${r.status.rooms}`,
  );
  process.stdout.write(`${lines.join('\n')}\n${leader === null ? 'no agreed leader' : `leader: ${leader}`}\n`);
}

async function grpcStatus(flags: ParsedFlags): Promise<number> {
  const client = connect(flags);
  try {
    const s = await client.status();
    process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return s.leader === '' ? 1 : 0;
  } finally {
    client.close();
  }
}
