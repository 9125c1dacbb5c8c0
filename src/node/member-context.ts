import { type Result, err, ok } from '../lib/result.js';

/**
 * MemberContext is what a config change says about a member (the core keeps it opaque): where
 * it listens, and whether the leader should promote it once it has caught up. It travels in
 * the log, so every node (and a node that joins later) learns a member's addresses from it.
 */
export interface MemberContext {
  readonly region: string;
  /** grpc, peer, http: host:port of the public gRPC, the peer (Raft) and the HTTP listeners. */
  readonly grpc: string;
  readonly peer: string;
  readonly http: string;
  /** promote: a learner the leader promotes to voter once caught up (a replicated intent). */
  readonly promote: boolean;
}

/** memberContextBytesMax: a context is a few addresses; a longer one is not ours. */
const memberContextBytesMax = 4_096;
const HOST_PORT = /^[A-Za-z0-9.\-_[\]:]+:(\d{1,5})$/;
const KEYS = ['region', 'grpc', 'peer', 'http', 'promote'];

/** encodeMemberContext writes the JSON form; `promote` only when set, so a voter's context stays short. */
export function encodeMemberContext(c: MemberContext): string {
  const { region, grpc, peer, http } = c;
  return JSON.stringify(c.promote ? { region, grpc, peer, http, promote: true } : { region, grpc, peer, http });
}

/** decodeMemberContext reads and checks a context, naming the first problem. */
export function decodeMemberContext(text: string): Result<MemberContext, string> {
  if (text.length > memberContextBytesMax) return err(`member context of ${text.length} bytes is too long`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return err(`member context is not JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return err('member context must be an object');
  const o = raw as Record<string, unknown>;
  const unknown = Object.keys(o).find((k) => !KEYS.includes(k));
  if (unknown !== undefined) return err(`member context has an unknown key "${unknown}"`);
  if (typeof o['region'] !== 'string') return err('member context needs a region');
  for (const key of ['grpc', 'peer', 'http']) {
    const problem = addressProblem(key, o[key]);
    if (problem !== null) return err(problem);
  }
  if (o['promote'] !== undefined && typeof o['promote'] !== 'boolean')
    return err('member context promote must be a boolean');
  return ok({
    region: o['region'],
    grpc: o['grpc'] as string,
    peer: o['peer'] as string,
    http: o['http'] as string,
    promote: o['promote'] === true,
  });
}

/** addressProblem: why `value` is not a host:port (null when it is one). */
export function addressProblem(name: string, value: unknown): string | null {
  const m = typeof value === 'string' ? HOST_PORT.exec(value) : null;
  const port = m?.[1] === undefined ? NaN : Number(m[1]);
  if (port >= 1 && port <= 65535) return null;
  return `${name} must be host:port with a port in 1..65535, got ${JSON.stringify(value)}`;
}
