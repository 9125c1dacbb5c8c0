import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError } from '../lib/errors.js';
import { type AuthFailure, type Grants, authenticate } from './auth.js';
import { ERROR_MAPPING, type TwirpCode, toRegistryError } from './errors.js';
import { API_LIMITS } from './validate.js';

/** TWIRP_PREFIX is where LiveKit's server SDKs post (LIVEKIT.md §3.10). */
export const TWIRP_PREFIX = '/twirp/livekit.RoomService/';

/** TwirpContext is what a method handler gets besides its request. */
export interface TwirpContext {
  readonly grants: Grants;
  /** requestId: X-Livekit-Request-Id when sent (the SDKs' idempotency key). */
  readonly requestId: string;
  readonly deadlineMs: number;
}

/** TwirpMethod is one RPC: decoders for both wire forms, the handler, encoders back. */
export interface TwirpMethod<Req, Res> {
  decodeJson(body: unknown): Req;
  decodeBinary(body: Uint8Array): Req;
  call(req: Req, ctx: TwirpContext): Promise<Res>;
  encodeJson(res: Res): unknown;
  encodeBinary(res: Res): Uint8Array;
}

export interface TwirpOptions {
  readonly apiKeys: ReadonlyMap<string, string>;
  readonly defaultDeadlineMs: number;
  readonly maxDeadlineMs: number;
  /** onRequest observes every call's end (metrics; a log line with the request id when it failed on our side). */
  readonly onRequest?: (method: string, code: TwirpCode | 'ok', durationMs: number, requestId: string) => void;
}

type AnyMethod = TwirpMethod<unknown, unknown>;

/**
 * TwirpServer serves LiveKit's RoomService the way LiveKit's server does: POST only,
 * application/json or application/protobuf, snake_case JSON with defaults emitted, errors as
 * `{"code","msg"}` with Content-Type exactly application/json, `bad_route` for anything else,
 * 401 plain text for a bad token, 413 plain text for a body over 10 MiB, CORS for any origin.
 */
export class TwirpServer {
  constructor(
    private readonly methods: Readonly<Record<string, AnyMethod>>,
    private readonly options: TwirpOptions,
  ) {}

  /** handle serves the request when it is under /twirp/; false leaves it to other routes. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const path = (req.url ?? '/').split('?')[0]?.replace(/^\/\/+/, '/') ?? '/';
    if (!path.startsWith('/twirp/')) return false;
    setCors(res);
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { 'access-control-max-age': '86400' });
      res.end();
      return true;
    }
    void this.serve(req, res, path);
    return true;
  }

  private async serve(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const startMs = performance.now();
    const name = path.startsWith(TWIRP_PREFIX) ? path.slice(TWIRP_PREFIX.length) : '';
    const method = Object.hasOwn(this.methods, name) ? this.methods[name] : undefined;
    const report = (code: TwirpCode | 'ok'): void => this.options.onRequest?.(name === '' ? 'unknown' : name, code, performance.now() - startMs, requestIdOf(req));
    if (req.method !== 'POST' || method === undefined) {
      const msg = req.method !== 'POST' ? `unsupported method "${req.method ?? ''}" (only POST is allowed)` : `no handler for path "${path}"`;
      sendTwirpError(res, 'bad_route', msg, { twirp_invalid_route: `${req.method ?? ''} ${path}` });
      report('bad_route');
      return;
    }
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    if (contentType !== 'application/json' && contentType !== 'application/protobuf') {
      sendTwirpError(res, 'bad_route', `unexpected Content-Type: "${req.headers['content-type'] ?? ''}"`, {
        twirp_invalid_route: `POST ${path}`,
      });
      report('bad_route');
      return;
    }
    const auth = authenticate(req.headers.authorization, this.options.apiKeys, Math.floor(Date.now() / 1000));
    if (!auth.ok) {
      sendPlain(res, 401, `invalid authorization token: ${(auth.error as AuthFailure).reason}`);
      report('unauthenticated');
      return;
    }
    const body = await readBody(req, API_LIMITS.requestBodyBytesMax);
    if (body === null) {
      sendPlain(res, 413, 'request body too large');
      report('malformed');
      return;
    }
    const code = await this.invoke(method, contentType === 'application/json', body, auth.value, req, res);
    report(code);
  }

  private async invoke(
    method: AnyMethod,
    json: boolean,
    body: Buffer,
    grants: Grants,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<TwirpCode | 'ok'> {
    let request: unknown;
    try {
      request = json ? method.decodeJson(body.length === 0 ? {} : JSON.parse(body.toString('utf8'))) : method.decodeBinary(body);
    } catch (e) {
      const what = json ? 'the json request could not be decoded' : 'the protobuf request could not be decoded';
      const detail = e instanceof RegistryError ? `: ${e.message}` : '';
      sendTwirpError(res, 'malformed', `${what}${detail}`);
      return 'malformed';
    }
    try {
      const response = await method.call(request, { grants, requestId: requestIdOf(req), deadlineMs: this.deadlineOf(req) });
      if (json) sendJson(res, 200, method.encodeJson(response));
      else sendBinary(res, method.encodeBinary(response));
      return 'ok';
    } catch (e) {
      const error = toRegistryError(e);
      const mapped = ERROR_MAPPING[error.code];
      sendTwirpError(res, mapped.twirp, error.message, error.meta);
      return mapped.twirp;
    }
  }

  /** deadlineOf honours X-Twirp-Timeout-Ms (sent by Go clients), capped at the maximum. */
  private deadlineOf(req: IncomingMessage): number {
    const header = Number(req.headers['x-twirp-timeout-ms']);
    const budgetMs = Number.isFinite(header) && header > 0 ? Math.min(header, this.options.maxDeadlineMs) : this.options.defaultDeadlineMs;
    return Date.now() + budgetMs;
  }
}

function requestIdOf(req: IncomingMessage): string {
  const v = req.headers['x-livekit-request-id'];
  return typeof v === 'string' ? v.slice(0, API_LIMITS.requestIdBytesMax) : '';
}

/** readBody collects the body, or returns null as soon as it passes maxBytes. */
function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      req.resume();
      resolve(null);
      return;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    req.on('data', (c: Buffer) => {
      total += c.length;
      if (total > maxBytes) {
        req.removeAllListeners('data');
        req.resume();
        resolve(null);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function setCors(res: ServerResponse): void {
  res.setHeader('access-control-allow-origin', '*');
  res.setHeader('access-control-allow-methods', 'OPTIONS, HEAD, GET, POST, PATCH, DELETE');
  res.setHeader('access-control-allow-headers', '*');
}

export function sendTwirpError(res: ServerResponse, code: TwirpCode, msg: string, meta: Readonly<Record<string, string>> = {}): void {
  const status = code === 'bad_route' ? 404 : (Object.values(ERROR_MAPPING).find((m) => m.twirp === code)?.http ?? 500);
  const body: Record<string, unknown> = { code, msg };
  if (Object.keys(meta).length > 0) body['meta'] = meta;
  // Exactly application/json: the Node SDK ignores the code under any other content type.
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

function sendBinary(res: ServerResponse, bytes: Uint8Array): void {
  res.writeHead(200, { 'content-type': 'application/protobuf' });
  res.end(bytes);
}

function sendPlain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(text);
}
