import type { MediaNodeView } from '../registry/index.js';

/** PlacementCandidate is what placement reads of a live media node (a MediaNodeView has it all). */
export type PlacementCandidate = Pick<MediaNodeView, 'nodeId' | 'region' | 'stats' | 'roomsHosted'>;

/**
 * placeRoom chooses the media node for a CreateRoom without a node_id (DESIGN §13, issue 16
 * item 3). It is pure: the node that receives the call reads the live leases, calls it, and
 * writes the choice into the command, as it draws the sid, so every replica stores the same.
 *
 * Candidates of `selfRegion` (the receiving registry node's region) are preferred; when none is
 * alive, or `selfRegion` is "", every candidate counts. Among them the least loaded wins: lowest
 * cpu_load, then fewest rooms hosted (rooms whose node_id it is, as the registry counts them:
 * unlike the node's own num_rooms this counts placements not yet reported), then fewest
 * clients, then the smallest node id, so the same leases always give the same answer. No
 * candidate: "" (the room is created without a node, as before media nodes).
 */
export function placeRoom(candidates: readonly PlacementCandidate[], selfRegion: string): string {
  const local = selfRegion === '' ? [] : candidates.filter((c) => c.region === selfRegion);
  const pool = local.length > 0 ? local : candidates;
  let best: PlacementCandidate | null = null;
  for (const c of pool) if (best === null || lessLoaded(c, best)) best = c;
  return best?.nodeId ?? '';
}

/** lessLoaded: a strictly before b in placement order (a total order on distinct node ids). */
export function lessLoaded(a: PlacementCandidate, b: PlacementCandidate): boolean {
  const cpuA = cpuOf(a);
  const cpuB = cpuOf(b);
  if (cpuA !== cpuB) return cpuA < cpuB;
  if (a.roomsHosted !== b.roomsHosted) return a.roomsHosted < b.roomsHosted;
  const clientsA = a.stats.numClients;
  const clientsB = b.stats.numClients;
  if (clientsA !== clientsB) return clientsA < clientsB;
  return a.nodeId < b.nodeId;
}

/**
 * cpuOf is the reported cpu_load; the API refuses anything but a finite value in 0..1, so a
 * value outside it can only come from a state written by another build: it sorts last rather
 * than first, so a node reporting nonsense is never preferred.
 */
function cpuOf(c: PlacementCandidate): number {
  const cpu = c.stats.cpuLoad;
  return Number.isFinite(cpu) && cpu >= 0 && cpu <= 1 ? cpu : Number.POSITIVE_INFINITY;
}
