import { readFileSync } from 'node:fs';
import { LIMITS } from './limits.js';
import { type NodeId, nodeId } from '../lib/ids.js';
import { type Result, err, ok } from '../lib/result.js';
import { type SecretEnv, resolveSecret } from './secrets.js';

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
  /** adminAddress: when set, /metrics moves from the http listener to this one, host:port (null: none). */
  readonly adminAddress: string | null;
  /** tls: when set, the grpc, http and admin listeners serve TLS (https) with this certificate. */
  readonly tls: ListenerTlsConfig | null;
  /** peerCert: this node's own peer certificate, overriding peerTls's (peer identity, DESIGN §10). */
  readonly peerCert: { readonly certFile: string; readonly keyFile: string } | null;
  /**
   * spare: a node the file describes but that does not bootstrap the cluster (`"spare": true`):
   * it starts with `serve --join` and becomes a member only when added (DESIGN §11).
   */
  readonly spare: boolean;
}

/** ListenerTlsConfig: a node's `tls` entry, for its client listeners (grpc, http). */
export interface ListenerTlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
  /** clientCaFile: when set, clients must present a certificate signed by it (mTLS). */
  readonly clientCaFile: string | null;
}

/** ListenerTls is a node's listener certificate, read from its files at start-up. */
export interface ListenerTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa: Buffer | null;
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
  /** adminKeys: the API keys allowed admin operations (TransferLeadership; later membership, backup). */
  readonly adminKeys: ReadonlySet<string>;
  /** members: every node of the file, spares included (bootstrapMembers: those that are not). */
  readonly members: readonly MemberConfig[];
  readonly peerTls: PeerTlsConfig | null;
}

/** bootstrapMembers: the nodes of the file that make up a brand-new cluster (every node that is not spare). */
export function bootstrapMembers(cluster: ClusterConfig): readonly MemberConfig[] {
  return cluster.members.filter((m) => !m.spare);
}

export type FsyncMode = 'always' | 'never';
export const FSYNC_MODES: readonly FsyncMode[] = ['always', 'never'];

/** CompiledConfig is everything `serve` needs, validated once, frozen (STYLE rule 16). */
export interface CompiledConfig {
  readonly cluster: ClusterConfig;
  readonly self: MemberConfig;
  /** listenerTls: this node's client-listener certificate (null: plaintext listeners). */
  readonly listenerTls: ListenerTls | null;
  /** peerTls: the cluster's peer TLS with this node's own certificate, when it names one. */
  readonly peerTls: PeerTlsConfig | null;
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

/** TOP_KEYS, NODE_KEYS, ...: the keys each object of the config may hold; any other is refused by name. */
const TOP_KEYS = ['cluster', 'secret', 'apiKeys', 'adminKeys', 'nodes', 'peerTls'] as const;
const NODE_KEYS = ['id', 'region', 'grpc', 'peer', 'http', 'admin', 'tls', 'peerCert', 'spare'] as const;
const PEER_TLS_KEYS = ['certFile', 'keyFile', 'caFile'] as const;
const NODE_TLS_KEYS = ['cert', 'key', 'clientCa'] as const;
const PEER_CERT_KEYS = ['certFile', 'keyFile'] as const;

/**
 * parseClusterConfig validates a parsed config, pushing every problem it finds; secrets given
 * as `{"env": NAME}` are read from `env`, as `{"file": path}` from the file.
 */
export function parseClusterConfig(
  raw: unknown,
  problems: string[],
  env: SecretEnv = process.env,
): ClusterConfig | null {
  if (!isObject(raw)) {
    problems.push('the config must be a JSON object');
    return null;
  }
  checkKeys(raw, TOP_KEYS, '', problems);
  const cluster = stringField(raw, 'cluster', problems);
  const secret = resolveSecret(raw['secret'], '"secret"', problems, env);
  const apiKeys = parseApiKeys(raw['apiKeys'], problems, env);
  const adminKeys = parseAdminKeys(raw['adminKeys'], apiKeys, problems);
  const members = parseMembers(raw['nodes'], problems);
  const peerTls = parsePeerTls(raw['peerTls'], problems);
  if (cluster === null || secret === null) return null;
  return Object.freeze({ cluster, secret, apiKeys, adminKeys, members, peerTls });
}

function parseApiKeys(raw: unknown, problems: string[], env: SecretEnv): ReadonlyMap<string, string> {
  const keys = new Map<string, string>();
  if (raw === undefined) return keys;
  if (!isObject(raw)) {
    problems.push('"apiKeys" must be an object of key → secret');
    return keys;
  }
  for (const [key, value] of Object.entries(raw)) {
    const secret = resolveSecret(value, `apiKeys.${key}`, problems, env);
    if (secret !== null) keys.set(key, secret);
  }
  return keys;
}

function parseAdminKeys(raw: unknown, apiKeys: ReadonlyMap<string, string>, problems: string[]): ReadonlySet<string> {
  const keys = new Set<string>();
  if (raw === undefined) return keys;
  if (!Array.isArray(raw) || raw.some((k) => typeof k !== 'string')) {
    problems.push('"adminKeys" must be an array of API key names');
    return keys;
  }
  for (const k of raw as string[]) {
    if (!apiKeys.has(k)) problems.push(`adminKeys names "${k}", which is not in apiKeys`);
    keys.add(k);
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
    checkKeys(n, NODE_KEYS, where, problems);
    const id = stringField(n, 'id', problems, where);
    if (id !== null && !NODE_ID.test(id)) problems.push(`${where}.id "${id}" must be letters, digits, - or _`);
    const region = stringField(n, 'region', problems, where) ?? '';
    const grpc = addressField(n, 'grpc', problems, where);
    const peer = addressField(n, 'peer', problems, where);
    const http = addressField(n, 'http', problems, where);
    const admin = n['admin'] === undefined ? null : addressField(n, 'admin', problems, where);
    const tls = parseNodeTls(n['tls'], `${where}.tls`, problems);
    const peerCert = parsePeerCert(n['peerCert'], `${where}.peerCert`, problems);
    const spare = n['spare'] ?? false;
    if (typeof spare !== 'boolean') problems.push(`${where}.spare must be true or false`);
    if (id !== null && grpc !== null && peer !== null && http !== null) {
      members.push(
        Object.freeze({
          id: nodeId(id),
          region,
          grpcAddress: grpc,
          peerAddress: peer,
          httpAddress: http,
          adminAddress: admin,
          tls,
          peerCert,
          spare: spare === true,
        }),
      );
    }
  });
  if (members.length > 0 && members.every((m) => m.spare))
    problems.push('"nodes" must hold at least one node that is not spare (the members of a new cluster)');
  checkUnique(
    members.map((m) => m.id),
    'node id',
    problems,
  );
  checkUnique(
    members.flatMap((m) => [
      m.grpcAddress,
      m.peerAddress,
      m.httpAddress,
      ...(m.adminAddress === null ? [] : [m.adminAddress]),
    ]),
    'address',
    problems,
  );
  return members;
}

function parsePeerTls(raw: unknown, problems: string[]): PeerTlsConfig | null {
  if (raw === undefined || raw === null) return null;
  if (!isObject(raw)) {
    problems.push('"peerTls" must be an object with certFile, keyFile and optional caFile');
    return null;
  }
  checkKeys(raw, PEER_TLS_KEYS, 'peerTls', problems);
  const certFile = stringField(raw, 'certFile', problems, 'peerTls');
  const keyFile = stringField(raw, 'keyFile', problems, 'peerTls');
  const caFile = raw['caFile'] === undefined ? null : stringField(raw, 'caFile', problems, 'peerTls');
  if (certFile === null || keyFile === null) return null;
  return { certFile, keyFile, caFile };
}

function parseNodeTls(raw: unknown, where: string, problems: string[]): ListenerTlsConfig | null {
  if (raw === undefined || raw === null) return null;
  if (!isObject(raw)) {
    problems.push(`${where} must be an object with cert, key and optional clientCa`);
    return null;
  }
  checkKeys(raw, NODE_TLS_KEYS, where, problems);
  const certFile = stringField(raw, 'cert', problems, where);
  const keyFile = stringField(raw, 'key', problems, where);
  const clientCaFile = raw['clientCa'] === undefined ? null : stringField(raw, 'clientCa', problems, where);
  if (certFile === null || keyFile === null) return null;
  return Object.freeze({ certFile, keyFile, clientCaFile });
}

function parsePeerCert(raw: unknown, where: string, problems: string[]): MemberConfig['peerCert'] {
  if (raw === undefined || raw === null) return null;
  if (!isObject(raw)) {
    problems.push(`${where} must be an object with certFile and keyFile`);
    return null;
  }
  checkKeys(raw, PEER_CERT_KEYS, where, problems);
  const certFile = stringField(raw, 'certFile', problems, where);
  const keyFile = stringField(raw, 'keyFile', problems, where);
  if (certFile === null || keyFile === null) return null;
  return Object.freeze({ certFile, keyFile });
}

/** checkKeys refuses every key of `o` not in `known`, by name (a typo must not silently mean a default). */
function checkKeys(o: Record<string, unknown>, known: readonly string[], where: string, problems: string[]): void {
  for (const key of Object.keys(o)) {
    if (!known.includes(key))
      problems.push(`unknown key "${key}"${where === '' ? '' : ` in ${where}`}; known keys: ${known.join(', ')}`);
  }
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
  flags: {
    id: string;
    dataDir: string;
    fsync: string;
    faultInjection: boolean;
    snapshotIntervalEntries: number | null;
    quotaBytes?: number | null;
  },
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
  const listenerTls = readListenerTls(self);
  if (!listenerTls.ok) return listenerTls;
  const peerTls =
    cluster.peerTls === null || self.peerCert === null ? cluster.peerTls : { ...cluster.peerTls, ...self.peerCert };
  return ok(
    Object.freeze({
      cluster,
      self,
      listenerTls: listenerTls.value,
      peerTls,
      dataDir: flags.dataDir,
      fsync: flags.fsync as FsyncMode,
      faultInjection: flags.faultInjection,
      snapshotIntervalEntries: interval,
      quotaBytes,
    }),
  );
}

/** readListenerTls reads this node's listener certificate files, so a bad path fails at start-up. */
function readListenerTls(self: MemberConfig): Result<ListenerTls | null, string> {
  const tls = self.tls;
  if (tls === null) return ok(null);
  try {
    return ok({
      cert: readFileSync(tls.certFile),
      key: readFileSync(tls.keyFile),
      clientCa: tls.clientCaFile === null ? null : readFileSync(tls.clientCaFile),
    });
  } catch (e) {
    return err(`nodes[${self.id}].tls: cannot read a certificate file: ${(e as Error).message}`);
  }
}
