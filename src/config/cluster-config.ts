import { readFileSync } from 'node:fs';
import { LIMITS } from './limits.js';
import { type NodeId, nodeId } from '../lib/ids.js';
import { type Result, err, ok } from '../lib/result.js';

/** MemberConfig is one node of the cluster: its listeners, as in the cluster config file. */
export interface MemberConfig {
  readonly id: NodeId;
  readonly region: string;
  /** grpcAddress: public gRPC (RoomService, ClusterService), host:port. */
  readonly grpcAddress: string;
  /** peerAddress: the internal Raft service, host:port. */
  readonly peerAddress: string;
  /** httpAddress: Twirp, /metrics, /healthz, /readyz, /status, host:port. */
  readonly httpAddress: string;
}

export interface PeerTlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
  /** caFile: when set, peers must present a certificate signed by it (mTLS). */
  readonly caFile: string | null;
}

/** ClusterConfig is the parsed cluster file, shared by every node and every client command. */
export interface ClusterConfig {
  readonly cluster: string;
  readonly secret: string;
  /** apiKeys maps an API key (JWT `iss`) to its HS256 secret. */
  readonly apiKeys: ReadonlyMap<string, string>;
  readonly members: readonly MemberConfig[];
  readonly peerTls: PeerTlsConfig | null;
}

export type FsyncMode = 'always' | 'never';
export const FSYNC_MODES: readonly FsyncMode[] = ['always', 'never'];

/** CompiledConfig is everything `serve` needs, validated once, frozen (STYLE rule 16). */
export interface CompiledConfig {
  readonly cluster: ClusterConfig;
  readonly self: MemberConfig;
  readonly dataDir: string;
  readonly fsync: FsyncMode;
  /** faultInjection enables the test-only peer fault hook (chaos tests); off unless asked. */
  readonly faultInjection: boolean;
  /** snapshotIntervalEntries overrides RAFT_DEFAULTS.snapshotIntervalEntries (null: the default). */
  readonly snapshotIntervalEntries: number | null;
  /**
   * quotaBytes: the state quota this node stamps into the entries it proposes while leader
   * (`--quota-bytes`, default LIMITS.quotaBytesDefault). The entry carries it to every replica,
   * so replicas never disagree; give every node the same value, or the quota in force follows
   * the leader.
   */
  readonly quotaBytes: number;
}

/** ConfigError names what is wrong and where, for a one-line message at start-up. */
export interface ConfigError {
  readonly file: string;
  readonly problem: string;
}

const HOST_PORT = /^[A-Za-z0-9.\-_[\]:]+:(\d{1,5})$/;
const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

/** loadClusterConfig reads and validates a cluster config file. */
export function loadClusterConfig(file: string): Result<ClusterConfig, ConfigError> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    return err({ file, problem: `cannot read cluster config: ${(e as Error).message}` });
  }
  const problems: string[] = [];
  const parsed = parseClusterConfig(raw, problems);
  if (parsed === null || problems.length > 0) return err({ file, problem: problems.join('; ') });
  return ok(parsed);
}

export function parseClusterConfig(raw: unknown, problems: string[]): ClusterConfig | null {
  if (!isObject(raw)) {
    problems.push('the config must be a JSON object');
    return null;
  }
  const cluster = stringField(raw, 'cluster', problems);
  const secret = stringField(raw, 'secret', problems);
  if (secret !== null && secret.length < 8) problems.push('"secret" must be at least 8 characters');
  const apiKeys = parseApiKeys(raw['apiKeys'], problems);
  const members = parseMembers(raw['nodes'], problems);
  const peerTls = parsePeerTls(raw['peerTls'], problems);
  if (cluster === null || secret === null) return null;
  return Object.freeze({ cluster, secret, apiKeys, members, peerTls });
}

function parseApiKeys(raw: unknown, problems: string[]): ReadonlyMap<string, string> {
  const keys = new Map<string, string>();
  if (raw === undefined) return keys;
  if (!isObject(raw)) {
    problems.push('"apiKeys" must be an object of key → secret');
    return keys;
  }
  for (const [key, secret] of Object.entries(raw)) {
    if (typeof secret !== 'string' || secret.length === 0) problems.push(`apiKeys.${key} must be a non-empty string`);
    else keys.set(key, secret);
  }
  return keys;
}

function parseMembers(raw: unknown, problems: string[]): MemberConfig[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    problems.push('"nodes" must be a non-empty array');
    return [];
  }
  const members: MemberConfig[] = [];
  raw.forEach((n: unknown, i) => {
    const where = `nodes[${i}]`;
    if (!isObject(n)) {
      problems.push(`${where} must be an object`);
      return;
    }
    const id = stringField(n, 'id', problems, where);
    if (id !== null && !NODE_ID.test(id)) problems.push(`${where}.id "${id}" must be letters, digits, - or _`);
    const region = stringField(n, 'region', problems, where) ?? '';
    const grpc = addressField(n, 'grpc', problems, where);
    const peer = addressField(n, 'peer', problems, where);
    const http = addressField(n, 'http', problems, where);
    if (id !== null && grpc !== null && peer !== null && http !== null) {
      members.push(Object.freeze({ id: nodeId(id), region, grpcAddress: grpc, peerAddress: peer, httpAddress: http }));
    }
  });
  checkUnique(members.map((m) => m.id), 'node id', problems);
  checkUnique(members.flatMap((m) => [m.grpcAddress, m.peerAddress, m.httpAddress]), 'address', problems);
  return members;
}

function parsePeerTls(raw: unknown, problems: string[]): PeerTlsConfig | null {
  if (raw === undefined || raw === null) return null;
  if (!isObject(raw)) {
    problems.push('"peerTls" must be an object with certFile, keyFile and optional caFile');
    return null;
  }
  const certFile = stringField(raw, 'certFile', problems, 'peerTls');
  const keyFile = stringField(raw, 'keyFile', problems, 'peerTls');
  const caFile = raw['caFile'] === undefined ? null : stringField(raw, 'caFile', problems, 'peerTls');
  if (certFile === null || keyFile === null) return null;
  return { certFile, keyFile, caFile };
}

function checkUnique(values: readonly string[], what: string, problems: string[]): void {
  const seen = new Set<string>();
  for (const v of values) {
    if (seen.has(v)) problems.push(`duplicate ${what} ${v}`);
    seen.add(v);
  }
}

function addressField(o: Record<string, unknown>, key: string, problems: string[], where: string): string | null {
  const v = stringField(o, key, problems, where);
  if (v === null) return null;
  const m = HOST_PORT.exec(v);
  const port = m?.[1] === undefined ? NaN : Number(m[1]);
  if (!(port >= 1 && port <= 65535)) {
    problems.push(`${where}.${key} "${v}" must be host:port with a port in 1..65535`);
    return null;
  }
  return v;
}

function stringField(o: Record<string, unknown>, key: string, problems: string[], where = ''): string | null {
  const v = o[key];
  if (typeof v === 'string' && v.length > 0) return v;
  problems.push(`${where === '' ? '' : `${where}.`}"${key}" must be a non-empty string`);
  return null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** compileConfig picks this node out of the cluster and freezes the result. */
export function compileConfig(
  cluster: ClusterConfig,
  flags: { id: string; dataDir: string; fsync: string; faultInjection: boolean; snapshotIntervalEntries: number | null; quotaBytes?: number | null },
): Result<CompiledConfig, string> {
  const self = cluster.members.find((m) => m.id === flags.id);
  if (self === undefined) {
    return err(`unknown node id "${flags.id}": the config names ${cluster.members.map((m) => m.id).join(', ')}`);
  }
  if (!FSYNC_MODES.includes(flags.fsync as FsyncMode)) {
    return err(`--fsync must be one of ${FSYNC_MODES.join('|')}, got "${flags.fsync}"`);
  }
  const interval = flags.snapshotIntervalEntries;
  if (interval !== null && (!Number.isSafeInteger(interval) || interval < 1)) {
    return err(`--snapshot-interval-entries must be a positive integer, got ${interval}`);
  }
  const quotaBytes = flags.quotaBytes ?? LIMITS.quotaBytesDefault;
  if (!Number.isSafeInteger(quotaBytes) || quotaBytes < LIMITS.quotaBytesMin) {
    return err(`--quota-bytes must be a whole number of bytes, at least ${LIMITS.quotaBytesMin}, got ${quotaBytes}`);
  }
  return ok(
    Object.freeze({ cluster, self, dataDir: flags.dataDir, fsync: flags.fsync as FsyncMode, faultInjection: flags.faultInjection, snapshotIntervalEntries: interval, quotaBytes }),
  );
}
