import type { ServiceError } from '@grpc/grpc-js';
import { loadClusterConfig } from '../config/cluster-config.js';
import { Consistency, Room } from '../gen/roomregistry/v1/rooms.js';
import { parseEndpoint, readClientTls } from '../client/endpoint.js';
import { RoomClient } from '../client/room-client.js';
import { type ParsedFlags, UsageError, optionalString, parseFlags } from './args.js';
import { ROOM_HEADERS, formatTable, roomRow } from './table.js';

/** CONNECTION_FLAGS: where and as whom; LiveKit's environment variables work too. */
export const CONNECTION_FLAGS = {
  url: {
    kind: 'string',
    env: 'LIVEKIT_URL',
    help: 'gRPC address of any node: host:port, http://host:port, or grpcs:// / https:// for TLS',
  },
  'api-key': { kind: 'string', env: 'LIVEKIT_API_KEY', help: 'API key (JWT issuer)' },
  'api-secret': { kind: 'string', env: 'LIVEKIT_API_SECRET', help: 'API secret' },
  config: {
    kind: 'string',
    help: 'cluster config: use its first node and first API key when --url/--api-key are not given',
  },
  'timeout-ms': { kind: 'number', help: 'deadline of the call (default 5000)' },
  'ca-file': {
    kind: 'string',
    help: 'TLS: CA certificate (PEM) to trust for grpcs:// / https:// (default: the system roots)',
  },
  'cert-file': { kind: 'string', help: 'TLS: client certificate (PEM), for nodes that require one (clientCa)' },
  'key-file': { kind: 'string', help: 'TLS: the client certificate’s private key (PEM)' },
} as const;

const ROOMS_FLAGS = {
  ...CONNECTION_FLAGS,
  'empty-timeout': { kind: 'number', help: 'create: seconds a room nobody joined lives (default 300)' },
  'departure-timeout': {
    kind: 'number',
    help: 'create: seconds a room lives after the last participant left (default 20)',
  },
  'max-participants': { kind: 'number', help: 'create: participant cap (0: unlimited)' },
  metadata: { kind: 'string', help: 'create/update: room metadata' },
  'node-id': { kind: 'string', help: 'create: media node hosting the room' },
  'request-id': { kind: 'string', help: 'create/update/delete: idempotency key' },
  local: { kind: 'boolean', help: 'get/list: read this node’s memory (LOCAL) instead of a linearizable read' },
  'page-size': { kind: 'number', help: 'list: rooms per page when listing all' },
  json: { kind: 'boolean', help: 'print the whole reply as JSON instead of a table' },
} as const;

export const ROOMS_USAGE = `  room-registry rooms create NAME [--empty-timeout S] [--departure-timeout S] [--max-participants N] [--metadata M] [--node-id ID] [--request-id ID]
  room-registry rooms list [NAME ...] [--local] [--page-size N]
  room-registry rooms get NAME [--local]
  room-registry rooms update NAME --metadata M [--request-id ID]
  room-registry rooms delete NAME [--request-id ID]
    output: a table (name, sid, participants, publishers, node, age, metadata cut short); --json prints whole replies
    connection: --url host:port --api-key K --api-secret S (or LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET; or --config FILE)
    TLS: --url grpcs://host:port (or https://) [--ca-file CA.pem] [--cert-file C.pem --key-file K.pem]
`;

/** roomsCommand runs one `rooms` subcommand against a node and prints a table, or JSON with --json. */
export async function roomsCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { flags, positional } = parseFlags(rest, ROOMS_FLAGS);
  const client = connect(flags);
  const timeoutMs = typeof flags['timeout-ms'] === 'number' ? flags['timeout-ms'] : undefined;
  const consistency = flags['local'] === true ? Consistency.CONSISTENCY_LOCAL : Consistency.CONSISTENCY_LINEARIZABLE;
  const requestId = optionalString(flags, 'request-id') ?? '';
  const print = flags['json'] === true ? printJson : printTable;
  try {
    switch (sub) {
      case 'create': {
        const r = await client.createRoom(
          {
            name: onlyName(positional),
            emptyTimeout: numberFlag(flags, 'empty-timeout'),
            departureTimeout: numberFlag(flags, 'departure-timeout'),
            maxParticipants: numberFlag(flags, 'max-participants'),
            metadata: optionalString(flags, 'metadata') ?? '',
            nodeId: optionalString(flags, 'node-id') ?? '',
            requestId,
          },
          timeoutMs,
        );
        return print(
          { created: r.created, revision: r.revision, room: roomJson(r.room) },
          roomsTable(r.room === undefined ? [] : [r.room], r.revision),
        );
      }
      case 'get': {
        const r = await client.getRoom({ name: onlyName(positional), consistency }, timeoutMs);
        return print(
          { revision: r.revision, room: roomJson(r.room) },
          roomsTable(r.room === undefined ? [] : [r.room], r.revision),
        );
      }
      case 'list':
        return await list(
          client,
          { names: positional, consistency, pageSize: numberFlag(flags, 'page-size') },
          timeoutMs,
          print,
        );
      case 'update': {
        const metadata = optionalString(flags, 'metadata');
        if (metadata === undefined) throw new UsageError('rooms update needs --metadata');
        const r = await client.updateRoomMetadata({ room: onlyName(positional), metadata, requestId }, timeoutMs);
        return print(
          { revision: r.revision, room: roomJson(r.room) },
          roomsTable(r.room === undefined ? [] : [r.room], r.revision),
        );
      }
      case 'delete': {
        const r = await client.deleteRoom({ room: onlyName(positional), requestId }, timeoutMs);
        return print(
          { deleted: true, revision: r.revision },
          `deleted ${onlyName(positional)} at revision ${r.revision}\n`,
        );
      }
      default:
        throw new UsageError(`unknown rooms command "${sub ?? ''}"`);
    }
  } catch (e) {
    if (e instanceof UsageError) throw e;
    return printError(e as ServiceError);
  } finally {
    client.close();
  }
}

type ListQuery = { names: string[]; consistency: Consistency; pageSize: number };

async function list(
  client: RoomClient,
  query: ListQuery,
  timeoutMs: number | undefined,
  print: Printer,
): Promise<number> {
  const rooms: Room[] = [];
  let pageToken = '';
  let revision: number;
  do {
    const r = await client.listRooms({ ...query, pageToken }, timeoutMs);
    rooms.push(...r.rooms);
    revision = r.revision;
    pageToken = r.nextPageToken;
  } while (pageToken !== '');
  return print({ revision, rooms: rooms.map(roomJson) }, roomsTable(rooms, revision));
}

function roomsTable(rooms: readonly Room[], revision: number): string {
  const nowMs = Date.now();
  const count = `${rooms.length} room${rooms.length === 1 ? '' : 's'} at revision ${revision}\n`;
  return rooms.length === 0
    ? count
    : formatTable(
        ROOM_HEADERS,
        rooms.map((r) => roomRow(r, nowMs)),
      ) + count;
}

/**
 * connect builds a client from --url/--api-key/--api-secret, falling back to --config (whose
 * first node is reached over TLS when its entry names `tls`); --ca-file, --cert-file and
 * --key-file set what TLS trusts and presents. A TLS flag with a plaintext URL is refused.
 */
export function connect(flags: ParsedFlags): RoomClient {
  let url = optionalString(flags, 'url');
  let apiKey = optionalString(flags, 'api-key');
  let apiSecret = optionalString(flags, 'api-secret');
  const configFile = optionalString(flags, 'config');
  if (configFile !== undefined) {
    const loaded = loadClusterConfig(configFile);
    if (!loaded.ok) throw new UsageError(`${loaded.error.file}: ${loaded.error.problem}`);
    const first = loaded.value.members[0];
    if (first !== undefined) url ??= `${first.tls === null ? 'http' : 'https'}://${first.grpcAddress}`;
    const firstKey = [...loaded.value.apiKeys][0];
    if (apiKey === undefined && firstKey !== undefined) [apiKey, apiSecret] = firstKey;
  }
  if (url === undefined) throw new UsageError('--url (or LIVEKIT_URL, or --config) is required');
  if (apiKey === undefined || apiSecret === undefined)
    throw new UsageError(
      '--api-key and --api-secret (or LIVEKIT_API_KEY/LIVEKIT_API_SECRET, or --config) are required',
    );
  const tls = clientTlsFlags(flags, url);
  return new RoomClient(url, { apiKey, apiSecret }, {}, tls);
}

/** clientTlsFlags reads --ca-file/--cert-file/--key-file; they make sense only with a TLS URL. */
export function clientTlsFlags(flags: ParsedFlags, url: string): ReturnType<typeof readClientTls> {
  let secure: boolean;
  try {
    secure = parseEndpoint(url).secure;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const caFile = optionalString(flags, 'ca-file');
  const certFile = optionalString(flags, 'cert-file');
  const keyFile = optionalString(flags, 'key-file');
  if ((certFile === undefined) !== (keyFile === undefined))
    throw new UsageError('--cert-file and --key-file go together');
  if (!secure && (caFile !== undefined || certFile !== undefined))
    throw new UsageError(`--ca-file/--cert-file need a TLS URL (grpcs:// or https://), not ${url}`);
  try {
    return readClientTls(caFile, certFile, keyFile);
  } catch (e) {
    throw new UsageError(`cannot read a TLS file: ${(e as Error).message}`);
  }
}

function onlyName(positional: readonly string[]): string {
  if (positional.length !== 1 || positional[0] === undefined) throw new UsageError('give exactly one room name');
  return positional[0];
}

function numberFlag(flags: ParsedFlags, name: string): number {
  const v = flags[name];
  return typeof v === 'number' ? v : 0;
}

function roomJson(room: Room | undefined): unknown {
  return room === undefined ? null : Room.toJSON(room);
}

/** Printer writes a reply: the whole of it as JSON, or the table made for people. */
export type Printer = (json: unknown, table: string) => number;

export const printJson: Printer = (json) => {
  process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  return 0;
};

export const printTable: Printer = (_json, table) => {
  process.stdout.write(table);
  return 0;
};

/** printError reports a failed call on stderr: its details, code and the leader hint when there is one. */
export function printError(e: ServiceError): number {
  const leader = e.metadata?.get('x-room-registry-leader')[0];
  process.stderr.write(
    `room-registry: ${e.details ?? e.message} (code ${e.code ?? '?'}${leader === undefined ? '' : `, leader ${String(leader)}`})\n`,
  );
  return 1;
}
