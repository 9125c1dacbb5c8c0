import { createHmac, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { RegistryError } from '../lib/errors.js';
import { type Result, err, ok } from '../lib/result.js';

/** jwtLeewaySeconds: clock skew tolerated on `exp` and `nbf`, as LiveKit's server (LIVEKIT.md §3.1). */
export const jwtLeewaySeconds = 60;
/** jwtBytesMax: a token longer than this is refused before any parsing. */
export const jwtBytesMax = 16 << 10;

/** VideoGrant holds the grants the Room APIs check (LiveKit's `video` claim). */
export interface VideoGrant {
  readonly roomCreate: boolean;
  readonly roomList: boolean;
  readonly roomAdmin: boolean;
  readonly room: string;
}

/** Grants is what a verified token allows; NO_GRANTS is a request without a token. */
export interface Grants {
  readonly apiKey: string | null;
  readonly video: VideoGrant;
  /** expiresAtSeconds: the token's `exp` (absent without a token); a Session checks it on every request. */
  readonly expiresAtSeconds?: number;
}

export const NO_GRANTS: Grants = Object.freeze({
  apiKey: null,
  video: Object.freeze({ roomCreate: false, roomList: false, roomAdmin: false, room: '' }),
});

/** AuthFailure says why a presented token was refused (a missing token is not a failure). */
export type AuthFailure = { readonly reason: string };

/**
 * authenticate verifies `Authorization: Bearer <jwt>` exactly as LiveKit does: HS256 only,
 * `iss` names the API key whose secret signs it, `exp` required, 60 s leeway. No header at all
 * gives NO_GRANTS (the grant checks then refuse); a header that is not a Bearer token fails.
 */
export function authenticate(
  header: string | undefined,
  apiKeys: ReadonlyMap<string, string>,
  nowSeconds: number,
): Result<Grants, AuthFailure> {
  if (header === undefined || header === '') return ok(NO_GRANTS);
  if (!header.startsWith('Bearer ')) return err({ reason: 'invalid authorization header. Must start with Bearer ' });
  const token = header.slice('Bearer '.length).trim();
  if (token.length > jwtBytesMax) return err({ reason: `token longer than ${jwtBytesMax} bytes` });
  return verifyToken(token, apiKeys, nowSeconds);
}

/**
 * verifiedTokensMax: tokens remembered after a successful check, so a client that reuses its
 * token (as the benchmark and most services do) skips the HMAC and JSON work on every call.
 * A hit still checks the time window and that the key still has the secret that signed it.
 */
const verifiedTokensMax = 10_000;
const verifiedTokens = new LRUCache<string, { grants: Grants; secret: string; exp: number; nbf: number | null }>({
  max: verifiedTokensMax,
});

export function verifyToken(
  token: string,
  apiKeys: ReadonlyMap<string, string>,
  nowSeconds: number,
): Result<Grants, AuthFailure> {
  const hit = verifiedTokens.get(token);
  if (hit !== undefined && hit.grants.apiKey !== null && apiKeys.get(hit.grants.apiKey) === hit.secret) {
    return checkTimes(hit.exp, hit.nbf, nowSeconds) ?? ok(hit.grants);
  }
  const parts = token.split('.');
  if (parts.length !== 3) return err({ reason: 'token is not a JWT' });
  const [headerB64, payloadB64, signatureB64] = parts as [string, string, string];
  const header = parseJsonPart(headerB64);
  const payload = parseJsonPart(payloadB64);
  if (header === null || payload === null) return err({ reason: 'token is not valid JSON' });
  if (header['alg'] !== 'HS256') return err({ reason: `unsupported signing algorithm ${String(header['alg'])}` });
  const apiKey = payload['iss'];
  if (typeof apiKey !== 'string') return err({ reason: 'token has no issuer (API key)' });
  const secret = apiKeys.get(apiKey);
  if (secret === undefined) return err({ reason: 'unknown API key' });
  const expected = createHmac('sha256', secret).update(`${headerB64}.${payloadB64}`).digest();
  const presented = Buffer.from(signatureB64, 'base64url');
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected))
    return err({ reason: 'signature is invalid' });
  const exp = payload['exp'];
  if (typeof exp !== 'number') return err({ reason: 'token has no expiry (exp)' });
  const nbf = typeof payload['nbf'] === 'number' ? payload['nbf'] : null;
  const refused = checkTimes(exp, nbf, nowSeconds);
  if (refused !== null) return refused;
  const grants: Grants = { apiKey, video: parseVideoGrant(payload['video']), expiresAtSeconds: exp };
  verifiedTokens.set(token, { grants, secret, exp, nbf });
  return ok(grants);
}

/**
 * tokenExpired: the token the grants came from is past its `exp` at nowSeconds, with the leeway
 * authenticate allows, so a Session refuses a request exactly when a unary call would be.
 */
export function tokenExpired(g: Grants, nowSeconds: number): boolean {
  return g.expiresAtSeconds !== undefined && nowSeconds > g.expiresAtSeconds + jwtLeewaySeconds;
}

function checkTimes(exp: number, nbf: number | null, nowSeconds: number): { ok: false; error: AuthFailure } | null {
  if (nowSeconds > exp + jwtLeewaySeconds) return err({ reason: 'token is expired' });
  if (nbf !== null && nowSeconds < nbf - jwtLeewaySeconds) return err({ reason: 'token is not valid yet' });
  return null;
}

/** tokenExpiresAt reads a JWT's `exp` without verifying it (a client renewing its own token); null: none readable. */
export function tokenExpiresAt(token: string): number | null {
  const payload = parseJsonPart(token.split('.')[1] ?? '');
  const exp = payload?.['exp'];
  return typeof exp === 'number' ? exp : null;
}

function parseJsonPart(b64: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(b64, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function parseVideoGrant(v: unknown): VideoGrant {
  const o = typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
  return {
    roomCreate: o['roomCreate'] === true,
    roomList: o['roomList'] === true,
    roomAdmin: o['roomAdmin'] === true,
    room: typeof o['room'] === 'string' ? o['room'] : '',
  };
}

const permissionsDenied = (): RegistryError => new RegistryError('PERMISSION_DENIED', 'permissions denied');

/** requireCreate: CreateRoom and DeleteRoom need video.roomCreate. */
export function requireCreate(g: Grants): void {
  if (!g.video.roomCreate) throw permissionsDenied();
}

/** requireList: ListRooms (and GetRoom, WatchRooms) need video.roomList. */
export function requireList(g: Grants): void {
  if (!g.video.roomList) throw permissionsDenied();
}

/** requireAdmin: per-room calls need video.roomAdmin with video.room equal to the room. */
export function requireAdmin(g: Grants, room: string): void {
  if (!g.video.roomAdmin || g.video.room !== room) throw permissionsDenied();
}

/**
 * requireAnyAdmin is the check of a per-room call that needs no body: video.roomAdmin for some
 * room. The room itself is in the body, so requireAdmin checks it after parsing.
 */
export function requireAnyAdmin(g: Grants): void {
  if (!g.video.roomAdmin) throw permissionsDenied();
}

/**
 * requireAdminKey: admin operations (TransferLeadership; membership and backup later) need a
 * token signed by an API key the config lists in `adminKeys`, whatever its video grants.
 */
export function requireAdminKey(g: Grants, adminKeys: ReadonlySet<string>): void {
  if (g.apiKey === null || !adminKeys.has(g.apiKey))
    throw new RegistryError(
      'PERMISSION_DENIED',
      'permissions denied: this operation needs an admin API key (adminKeys)',
    );
}

/** signToken makes an HS256 token (the CLI and tests; LiveKit SDKs make their own). */
export function signToken(
  apiKey: string,
  secret: string,
  video: Partial<VideoGrant>,
  ttlSeconds: number,
  nowSeconds: number,
): string {
  const header = Buffer.from(JSON.stringify({ alg: 'HS256' })).toString('base64url');
  const payload = Buffer.from(
    JSON.stringify({ video, iss: apiKey, nbf: nowSeconds, exp: nowSeconds + ttlSeconds }),
  ).toString('base64url');
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}
