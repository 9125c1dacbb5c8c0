/**
 * The membership faults of the nemesis (issue 14 item 6), through the admin API as an operator
 * would do them: `replace` removes a member (the leader half the time), wipes its data dir,
 * starts it again with --join and adds it back as a new member, promoted once caught up;
 * `grow-shrink` adds the spare nodes one at a time (3 → 5) or removes them again (5 → 3).
 * Each waits for its change to take effect; the other faults come between them.
 */
import * as grpc from '@grpc/grpc-js';
import type { SeededRng } from '../../src/lib/rng.js';
import { type ProcessCluster, waitUntil } from '../harness/process-cluster.js';

/** changeWaitMs: a removed node must exit, an added one be promoted, within this. */
const changeWaitMs = 20_000;
/** leaderTriesMax: a change is sent again to the leader a refusal names, this many times. */
const leaderTriesMax = 25;

export class MembershipFaults {
  /** active: the members now; the other faults pick their targets among them. */
  active: string[];

  constructor(
    private readonly cluster: ProcessCluster,
    private readonly rng: SeededRng,
  ) {
    this.active = cluster.nodes.filter((n) => !n.spare).map((n) => n.id);
  }

  /** replace removes one member and adds it back on an empty data dir, as a new member. */
  async replace(leader: string | null): Promise<{ targets: string[]; detail: string }> {
    const voters = this.active;
    const target =
      leader !== null && this.rng.nextInt(2) === 0 ? leader : (voters[this.rng.nextInt(voters.length)] ?? '');
    await this.remove(target);
    await this.add(target);
    return { targets: [target], detail: `${target === leader ? 'the leader' : 'a member'} removed, wiped, added back` };
  }

  /** growOrShrink adds every spare (3 → 5) or removes them again (5 → 3), one change at a time. */
  async growOrShrink(): Promise<{ targets: string[]; detail: string }> {
    const spares = this.cluster.nodes.filter((n) => n.spare).map((n) => n.id);
    const grow = spares.every((id) => !this.active.includes(id));
    for (const id of spares) await (grow ? this.add(id) : this.remove(id));
    return { targets: spares, detail: `${grow ? 'grew' : 'shrank'} to ${this.active.length} members` };
  }

  private async remove(id: string): Promise<void> {
    this.active = this.active.filter((x) => x !== id);
    const exited = this.cluster.expectExit(id);
    await this.onLeader((c) => c.removeMember(id, 5_000));
    const gone = await Promise.race([exited.then(() => true), sleep(changeWaitMs).then(() => false)]);
    if (!gone) {
      await this.cluster.kill(id);
      throw new Error(`${id} did not exit within ${changeWaitMs} ms of its removal`);
    }
  }

  private async add(id: string): Promise<void> {
    const n = this.cluster.node(id);
    this.cluster.start(id, true);
    await this.onLeader((c) =>
      c.addMember({ id, region: n.region, grpc: n.grpc, peer: n.peer, http: n.http, learner: false }, 5_000),
    );
    this.active = [...this.active, id];
    await waitUntil(
      `${id} is promoted to voter`,
      async () => ((await this.cluster.status(id)) as { memberRole?: string } | null)?.memberRole === 'voter',
      changeWaitMs,
    );
  }

  /**
   * onLeader sends an admin call to a member, following the leader hint of each refusal. A
   * change refused as invalid was already made (an earlier try applied, its answer was lost).
   */
  private async onLeader(call: (c: ReturnType<ProcessCluster['client']>) => Promise<unknown>): Promise<void> {
    let target = this.active[0] ?? 'n1';
    for (let tries = 1; ; tries++) {
      try {
        await call(this.cluster.client(target));
        return;
      } catch (e) {
        const err = e as grpc.ServiceError;
        if (tries > 1 && err.code === grpc.status.INVALID_ARGUMENT) return;
        const hint = err.metadata?.get('x-room-registry-leader')[0];
        if (tries >= leaderTriesMax || err.code !== grpc.status.UNAVAILABLE) throw e;
        target = typeof hint === 'string' && hint !== '' ? hint : (this.active[tries % this.active.length] ?? target);
        await sleep(200);
      }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
