import type { NodeId } from '../lib/ids.js';

/**
 * FaultHook is the test-only way to partition real processes (chaos tests): per peer, drop
 * what we send, drop what we receive, or delay what we send. It exists only when `serve`
 * is started with --enable-fault-injection; production nodes have none.
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

export class FaultHook {
  private rules = new Map<NodeId, FaultRule>();
  /** injected counts rule changes, for the chaos summary. */
  changes = 0;

  set(rules: ReadonlyMap<NodeId, FaultRule>): void {
    this.rules = new Map(rules);
    this.changes++;
  }

  clear(): void {
    this.set(new Map());
  }

  ruleFor(peer: NodeId): FaultRule | null {
    return this.rules.get(peer) ?? null;
  }

  describe(): Record<string, FaultRule> {
    return Object.fromEntries(this.rules);
  }

  /** parse reads `{"n2": {"dropOutbound": true, …}, …}`; unknown peers and bad values are errors. */
  static parse(body: unknown, members: readonly NodeId[]): Map<NodeId, FaultRule> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('fault rules must be an object keyed by node id');
    const rules = new Map<NodeId, FaultRule>();
    for (const [peer, raw] of Object.entries(body as Record<string, unknown>)) {
      if (!members.includes(peer as NodeId)) throw new Error(`unknown node ${peer}`);
      const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
      const delay = r['delayOutboundMs'] ?? 0;
      if (typeof delay !== 'number' || delay < 0 || delay > faultDelayMsMax) throw new Error(`delayOutboundMs must be in 0..${faultDelayMsMax}`);
      rules.set(peer as NodeId, { dropOutbound: r['dropOutbound'] === true, dropInbound: r['dropInbound'] === true, delayOutboundMs: delay });
    }
    return rules;
  }
}
