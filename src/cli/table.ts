import type { MediaNode, Room } from '../gen/roomregistry/v1/rooms.js';

/** metadataShownCharsMax: metadata longer than this is cut in a table (the whole of it is behind --json). */
const metadataShownCharsMax = 32;

/**
 * formatTable lays rows out in columns under their headers, as `lk room list` and `etcdctl -w table` do, so that a
 * screen holds many rooms; a cell's control characters are shown escaped so that no value can break the layout.
 */
export function formatTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const cells = [headers, ...rows].map((row) => row.map(printable));
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  return (
    cells
      .map((row) =>
        row
          .map((cell, i) => cell.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/** ROOM_HEADERS are the columns of roomRow. */
export const ROOM_HEADERS = ['NAME', 'SID', 'PARTICIPANTS', 'PUBLISHERS', 'NODE', 'AGE', 'METADATA'] as const;

/** roomRow is one room as table cells; age is counted from nowMs. */
export function roomRow(room: Room, nowMs: number): string[] {
  return [
    room.name,
    room.sid,
    String(room.numParticipants),
    String(room.numPublishers),
    room.nodeId === '' ? '-' : room.nodeId,
    age(nowMs - room.creationTimeMs),
    cut(room.metadata),
  ];
}

/** MEDIA_NODE_HEADERS are the columns of mediaNodeRow. */
export const MEDIA_NODE_HEADERS = [
  'NODE',
  'REGION',
  'CPU',
  'CLIENTS',
  'ROOMS REPORTED',
  'ROOMS HOSTED',
  'LEASE EXPIRES IN',
] as const;

/**
 * mediaNodeRow is one media node as table cells: cpu as a percentage, the rooms it reports
 * (num_rooms) beside the rooms the registry places on it (node_id), and the time its lease has
 * left at nowMs (to the tenth of a second: leases live seconds).
 */
export function mediaNodeRow(node: MediaNode, nowMs: number): string[] {
  const stats = node.stats ?? { numRooms: 0, numClients: 0, cpuLoad: 0 };
  return [
    node.nodeId,
    node.region === '' ? '-' : node.region,
    `${(stats.cpuLoad * 100).toFixed(0)}%`,
    String(stats.numClients),
    String(stats.numRooms),
    String(node.roomsHosted),
    `${(Math.max(0, node.leaseExpiresAtMs - nowMs) / 1000).toFixed(1)}s`,
  ];
}

/** age says how long ago in the largest whole unit: 42s, 7m, 3h, 2d. */
export function age(elapsedMs: number): string {
  const s = Math.max(0, Math.floor(elapsedMs / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3_600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3_600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

function cut(text: string): string {
  return text.length <= metadataShownCharsMax ? text : `${text.slice(0, metadataShownCharsMax - 1)}…`;
}

function printable(cell: string): string {
  // eslint-disable-next-line no-control-regex -- escaping control characters is the point
  return cell.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
