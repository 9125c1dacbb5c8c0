import type { NodeId } from '../lib/ids.js';

/**
 * FaultHook is the test-only way to break real processes (chaos tests): per peer, drop what we
 * send, drop what we receive, or delay what we send; stall this node's disk or cut its power. It exists
 * only when `serve` is started with --enable-fault-injection; production nodes have none.
 */
export interface FaultRule {
  /** dropOutbound: messages to this peer are lost. */
  readonly dropOutbound: boolean;
  /** dropInbound: messages from this peer are ignored. */
  readonly dropInbound: boolean;
  /** delayOutboundMs: messages to this peer are held this long first. */
  readonly delayOutboundMs: number;
}

/** faultDelayMsMax bounds an injected delay, so a bad request cannot park messages forever. */
export const faultDelayMsMax = 10_000;
/** diskStallMsMax bounds a disk stall; clearing the faults ends one at once. */
export const diskStallMsMax = 120_000;
/** DISK_KEY is the reserved key of the disk rule in a fault document (never a node id: see parse). */
const DISK_KEY = 'disk';
const DISK_STALL_POLL_MS = 10;

/** Faults is one fault document: rules per peer, and how long each disk write of this node stalls. */
export interface Faults {
  readonly peers: ReadonlyMap<NodeId, FaultRule>;
  readonly diskStallMs: number;
  /** powerLoss: cut this node's power now: unsynced data is discarded and the process dies (storage/power-loss-fs.ts). */
  readonly powerLoss?: boolean;
}

export class FaultHook {
  private rules = new Map<NodeId, FaultRule>();
  private diskStallMs = 0;
  /** injected counts rule changes, for the chaos summary. */
  changes = 0;

  /** onPowerLoss: cuts the power (null when the storage has no fault layer). */
  constructor(private readonly onPowerLoss: (() => void) | null = null) {}

  set(faults: Faults): void {
    if (faults.powerLoss === true) {
      if (this.onPowerLoss === null) throw new Error('disk.powerLoss needs the storage fault layer');
      this.onPowerLoss();
    }
    this.rules = new Map(faults.peers);
    this.diskStallMs = faults.diskStallMs;
    this.changes++;
  }

  clear(): void {
    this.set({ peers: new Map(), diskStallMs: 0 });
  }

  ruleFor(peer: NodeId): FaultRule | null {
    return this.rules.get(peer) ?? null;
  }

  /**
   * beforeDiskWrite resolves once the current disk stall has lasted its length, or at once
   * without one; changing or clearing the faults applies to writes already waiting.
   */
  async beforeDiskWrite(): Promise<void> {
    const startMs = Date.now();
    while (this.diskStallMs > 0 && Date.now() - startMs < this.diskStallMs) {
      await new Promise((resolve) => setTimeout(resolve, DISK_STALL_POLL_MS));
    }
  }

  describe(): Record<string, unknown> {
    const out: Record<string, unknown> = Object.fromEntries(this.rules);
    if (this.diskStallMs > 0) out[DISK_KEY] = { stallMs: this.diskStallMs };
    return out;
  }

  /**
   * parse reads `{"n2": {"dropOutbound": true, …}, …, "disk": {"stallMs": 5000}}` (or
   * `"disk": {"powerLoss": true}`, which cuts the power at once); unknown
   * peers and bad values are errors, and so is a cluster with a member named "disk".
   */
  static parse(body: unknown, members: readonly NodeId[]): Faults {
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new Error('fault rules must be an object keyed by node id');
    if (members.includes(DISK_KEY as NodeId))
      throw new Error(`a member is named "${DISK_KEY}", the key of the disk rule`);
    const peers = new Map<NodeId, FaultRule>();
    let diskStallMs = 0;
    let powerLoss = false;
    for (const [key, raw] of Object.entries(body as Record<string, unknown>)) {
      const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
      if (key === DISK_KEY) {
        const stall = r['stallMs'] ?? 0;
        if (typeof stall !== 'number' || stall < 0 || stall > diskStallMsMax)
          throw new Error(`disk.stallMs must be in 0..${diskStallMsMax}`);
        const cut = r['powerLoss'] ?? false;
        if (typeof cut !== 'boolean') throw new Error('disk.powerLoss must be true or false');
        diskStallMs = stall;
        powerLoss = cut;
        continue;
      }
      if (!members.includes(key as NodeId)) throw new Error(`unknown node ${key}`);
      const delay = r['delayOutboundMs'] ?? 0;
      if (typeof delay !== 'number' || delay < 0 || delay > faultDelayMsMax)
        throw new Error(`delayOutboundMs must be in 0..${faultDelayMsMax}`);
      peers.set(key as NodeId, {
        dropOutbound: r['dropOutbound'] === true,
        dropInbound: r['dropInbound'] === true,
        delayOutboundMs: delay,
      });
    }
    return { peers, diskStallMs, ...(powerLoss ? { powerLoss } : {}) };
  }
}
