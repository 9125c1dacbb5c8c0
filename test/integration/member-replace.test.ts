/**
 * Goal (issue 14, Done when): a 3-node cluster under continuous write load has every one of its
 * members replaced, one at a time, by CLI commands only (members add → promoted → members
 * remove of an old one): every acknowledged write survives, the per-room history is
 * linearizable, and at the end the three new nodes hold the same rooms.
 * Method: real processes (n1..n3 found the cluster, n4..n6 are spares started with --join);
 * the chaos workload (test/chaos) drives gRPC clients that always talk to a current member,
 * and the chaos checks (linearizability per room, acknowledged writes, convergence) judge it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RoomClient } from '../../src/client/room-client.js';
import { ChaosHistory } from '../chaos/chaos-history.js';
import {
  checkAcknowledgedWrites,
  checkRoomLinearizability,
  recordFinalReads,
  waitForConvergence,
} from '../chaos/final-checks.js';
import { type RoomApi, grpcCallDeadlineMs, roomEmptyTimeoutS } from '../chaos/room-apis.js';
import { WORKLOAD_DEFAULTS, Workload } from '../chaos/workload.js';
import { runCli } from '../harness/disaster-recovery.js';
import { ProcessCluster } from '../harness/process-cluster.js';

const REPLACEMENTS: ReadonlyArray<readonly [string, string]> = [
  ['n1', 'n4'],
  ['n2', 'n5'],
  ['n3', 'n6'],
];
const clientsCount = 4;
/** cliTimeoutMs bounds one CLI command (add waits for the promotion itself, with --wait-ms). */
const cliTimeoutMs = 30_000;

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.create(3, [], { spares: 3, adminKey: true });
  cluster.startAll();
  await cluster.waitForLeader();
});

afterAll(async () => {
  await cluster.stop();
});

/** cli runs `room-registry ARGS` (with the cluster's --config) and resolves with its exit code and output. */
async function cli(args: readonly string[]): Promise<{ code: number | null; out: string }> {
  const run = await runCli([...args, '--config', cluster.configFile], cliTimeoutMs);
  return { code: run.code, out: run.stdout + run.stderr };
}

/**
 * memberApi is a gRPC RoomApi whose every call goes to a node that is a member now: client
 * `slot` of `live` (the test moves the list along as it replaces members).
 */
function memberApi(slot: number, live: { ids: string[] }): RoomApi {
  const clients = new Map<string, RoomClient>();
  const pick = (): RoomClient => {
    const id = live.ids[slot % live.ids.length] ?? 'n1';
    let c = clients.get(id);
    if (c === undefined) {
      c = new RoomClient(cluster.node(id).grpc, { apiKey: cluster.apiKey, apiSecret: cluster.apiSecret });
      clients.set(id, c);
    }
    return c;
  };
  return {
    name: `c${slot}/grpc`,
    retriesSameRequest: true,
    async create(room, metadata, requestId) {
      const r = await pick().createRoom(
        { name: room, metadata, emptyTimeout: roomEmptyTimeoutS, requestId },
        grpcCallDeadlineMs,
      );
      return { found: true, metadata: r.room?.metadata ?? '', created: r.created };
    },
    async update(room, metadata, requestId) {
      await pick().updateRoomMetadata({ room, metadata, requestId }, grpcCallDeadlineMs);
      return { found: true };
    },
    async delete(room, requestId) {
      await pick().deleteRoom({ room, requestId }, grpcCallDeadlineMs);
      return { found: true };
    },
    async get(room) {
      const r = await pick().getRoom({ name: room }, grpcCallDeadlineMs);
      return { found: true, metadata: r.room?.metadata ?? '' };
    },
    close: () => {
      for (const c of clients.values()) c.close();
    },
  };
}

/** replace adds `fresh` (started with --join) and waits for its promotion, then removes `old`: CLI only. */
async function replace(old: string, fresh: string, live: { ids: string[] }): Promise<void> {
  cluster.start(fresh);
  const n = cluster.node(fresh);
  const added = await cli([
    'members',
    'add',
    '--id',
    fresh,
    '--region',
    n.region,
    '--grpc',
    n.grpc,
    '--peer',
    n.peer,
    '--http',
    n.http,
    '--wait-ms',
    '20000',
  ]);
  expect(added.code, added.out).toBe(0);
  expect(added.out).toContain(`${fresh} is a voter`);
  live.ids = [...live.ids, fresh];
  const exited = cluster.expectExit(old);
  const removed = await cli(['members', 'remove', old]);
  expect(removed.code, removed.out).toBe(0);
  live.ids = live.ids.filter((id) => id !== old);
  // The removed node learns it (by applying it, or from a peer that did) and exits by itself, 0.
  expect(await exited).toBe(0);
}

it('replaces every member of a loaded 3-node cluster, one at a time, with nothing lost', async () => {
  const history = new ChaosHistory();
  const live = { ids: ['n1', 'n2', 'n3'] };
  const apis = Array.from({ length: clientsCount }, (_, i) => memberApi(i, live));
  const workload = new Workload(history, apis, { ...WORKLOAD_DEFAULTS, seed: 14, epochMs: 3_000 });
  workload.start();
  try {
    for (const [old, fresh] of REPLACEMENTS) await replace(old, fresh, live);
    // Load on the new members alone for a moment, so the last change is followed by writes too.
    const after = history.ops.length;
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (history.ops.filter((op) => op.type === 'ok').length > 0 && history.ops.length > after + 50) {
          clearInterval(poll);
          resolve();
        }
      }, 50);
    });
  } finally {
    await workload.stop();
  }

  const members = await cli(['members', 'list', '--json']);
  expect(members.code, members.out).toBe(0);
  const listed = JSON.parse(members.out) as { members: Array<{ id: string; role: string }> };
  expect(listed.members.map((m) => `${m.id}:${m.role}`).sort()).toEqual(['n4:voter', 'n5:voter', 'n6:voter']);

  const fresh = REPLACEMENTS.map(([, f]) => cluster.node(f));
  const convergence = await waitForConvergence(cluster, 20_000, fresh);
  expect(convergence.converged, convergence.details).toBe(true);
  await recordFinalReads(cluster, history, fresh);
  const acked = history.ops.filter((op) => op.type === 'ok' && op.kind !== 'get').length;
  expect(acked, 'acknowledged writes during the replacements').toBeGreaterThan(50);
  const finalRooms = convergence.states.get('n4')?.rooms ?? new Map<string, string>();
  const writes = checkAcknowledgedWrites(history.ops, finalRooms);
  expect(writes.violations, writes.violations.slice(0, 5).join('\n')).toEqual([]);
  const lin = checkRoomLinearizability(history, 30_000);
  expect(lin.verdict, lin.details).toBe('ok');
  expect(cluster.unexpectedExits).toEqual([]);
}, 110_000);
