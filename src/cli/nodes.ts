import type { ServiceError } from '@grpc/grpc-js';
import { Consistency, type ListMediaNodesResponse, MediaNode } from '../gen/roomregistry/v1/rooms.js';
import { type ParsedFlags, UsageError, optionalString, parseFlags } from './args.js';
import { CONNECTION_FLAGS, connect, printError, printJson, printTable } from './rooms.js';
import { MEDIA_NODE_HEADERS, formatTable, mediaNodeRow } from './table.js';

const NODES_FLAGS = {
  ...CONNECTION_FLAGS,
  region: { kind: 'string', help: 'list: only media nodes of this region' },
  local: { kind: 'boolean', help: 'list: read this node’s memory (LOCAL) instead of a linearizable read' },
  json: { kind: 'boolean', help: 'print the whole reply as JSON instead of a table' },
} as const;

export const NODES_USAGE = `  room-registry nodes list [--region R] [--local] [--json]
    media nodes with a live lease: node, region, cpu, clients, rooms reported, rooms hosted, lease expires in
    connection and TLS flags: as for rooms
`;

/** NodesQuery is a parsed `nodes` command line: what to ask and how to print it. */
export interface NodesQuery {
  readonly region: string;
  readonly consistency: Consistency;
  readonly json: boolean;
  readonly flags: ParsedFlags;
}

/** parseNodesArgs reads `nodes list ...`; anything else is a UsageError. */
export function parseNodesArgs(argv: readonly string[]): NodesQuery {
  const [sub, ...rest] = argv;
  if (sub !== 'list') throw new UsageError(`unknown nodes command "${sub ?? ''}"; use list`);
  const { flags, positional } = parseFlags(rest, NODES_FLAGS);
  if (positional.length > 0) throw new UsageError(`nodes list takes no arguments, got "${positional.join(' ')}"`);
  return {
    region: optionalString(flags, 'region') ?? '',
    consistency: flags['local'] === true ? Consistency.CONSISTENCY_LOCAL : Consistency.CONSISTENCY_LINEARIZABLE,
    json: flags['json'] === true,
    flags,
  };
}

/** nodesCommand runs `nodes list` against a node and prints a table, or JSON with --json. */
export async function nodesCommand(argv: readonly string[]): Promise<number> {
  const query = parseNodesArgs(argv);
  const client = connect(query.flags);
  const timeoutMs = typeof query.flags['timeout-ms'] === 'number' ? query.flags['timeout-ms'] : undefined;
  try {
    const r = await client.listMediaNodes({ region: query.region, consistency: query.consistency }, timeoutMs);
    const json = { revision: r.revision, stalenessMs: r.stalenessMs, nodes: r.nodes.map((n) => MediaNode.toJSON(n)) };
    return (query.json ? printJson : printTable)(json, mediaNodesTable(r, Date.now()));
  } catch (e) {
    return printError(e as ServiceError);
  } finally {
    client.close();
  }
}

/** mediaNodesTable lays a ListMediaNodes reply out a node a line, with a count and the revision below. */
export function mediaNodesTable(reply: Pick<ListMediaNodesResponse, 'nodes' | 'revision'>, nowMs: number): string {
  const n = reply.nodes.length;
  const count = `${n} media node${n === 1 ? '' : 's'} at revision ${reply.revision}\n`;
  return n === 0
    ? count
    : formatTable(
        MEDIA_NODE_HEADERS,
        reply.nodes.map((node) => mediaNodeRow(node, nowMs)),
      ) + count;
}
