import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';

/**
 * Endpoint is a node's public gRPC address as a client was given it: `host:port`,
 * `http://`/`grpc://` (plaintext) or `https://`/`grpcs://` (TLS). `secure` comes from the
 * scheme alone and nothing turns it off: an https URL is never tried in plaintext.
 */
export interface Endpoint {
  readonly hostPort: string;
  readonly secure: boolean;
}

/** ClientTls: what a client trusts (ca; null: the system roots) and, for mTLS, its own certificate. */
export interface ClientTls {
  readonly ca: Buffer | null;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

/** LiveKit's `wss://`/`ws://` URLs (LIVEKIT_URL) name the same host; their security carries over. */
const SECURE_SCHEMES = new Set(['https', 'grpcs', 'wss']);
const PLAIN_SCHEMES = new Set(['http', 'grpc', 'ws']);

/** parseEndpoint reads a URL or host:port; an unknown scheme is an error, never a guess. */
export function parseEndpoint(url: string): Endpoint {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/.exec(url);
  if (m === null) return { hostPort: url, secure: false };
  const scheme = (m[1] ?? '').toLowerCase();
  const hostPort = (m[2] ?? '').replace(/\/.*$/, '');
  if (SECURE_SCHEMES.has(scheme)) return { hostPort: withPort(hostPort, 443), secure: true };
  if (PLAIN_SCHEMES.has(scheme)) return { hostPort: withPort(hostPort, 80), secure: false };
  throw new Error(
    `unsupported URL scheme "${scheme}://" in ${url}: use host:port, http://, https://, grpc:// or grpcs://`,
  );
}

/** withPort adds the scheme's default port when the URL names none (`https://rr.example.com`). */
function withPort(hostPort: string, port: number): string {
  return /:\d+$/.test(hostPort) && !/^\[[^\]]*\]$/.test(hostPort) ? hostPort : `${hostPort}:${port}`;
}

/** channelCredentials: TLS for a secure endpoint (with `tls`'s CA and certificate), else plaintext. */
export function channelCredentials(endpoint: Endpoint, tls: ClientTls | null): grpc.ChannelCredentials {
  if (!endpoint.secure) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(tls?.ca ?? null, tls?.key ?? null, tls?.cert ?? null);
}

/** readClientTls reads a CA file (and a client certificate pair for mTLS) for the CLI's flags. */
export function readClientTls(caFile: string | undefined, certFile?: string, keyFile?: string): ClientTls | null {
  if (caFile === undefined && certFile === undefined) return null;
  return {
    ca: caFile === undefined ? null : readFileSync(caFile),
    ...(certFile === undefined || keyFile === undefined
      ? {}
      : { cert: readFileSync(certFile), key: readFileSync(keyFile) }),
  };
}
