import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError } from '../lib/errors.js';
import { type Result, err, ok } from '../lib/result.js';
import { type AuthFailure, type Grants, authenticate } from './auth.js';
import { ERROR_MAPPING, type TwirpCode, toClientError } from './errors.js';
import { scanJsonShape, scanProtobufShape } from './request-scan.js';
import { API_LIMITS, requestIdOf } from './validate.js';

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
  /** authorize throws PERMISSION_DENIED when the token lacks the grant the method needs; it runs before the body is read. */
  authorize(grants: Grants): void;
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
  /**
   * onRequest observes every call's end (metrics; a log line with the request id when it failed
   * on our side). `method` is one of the methods' names or 'unknown'; `internalDetail` is what
   * an INTERNAL error's client was not told.
   */
  readonly onRequest?: (
    method: string,
    code: TwirpCode | 'ok',
    durationMs: number,
    requestId: string,
    internalDetail: string | null,
  ) => void;
}

type AnyMethod = TwirpMethod<unknown, unknown>;

/**
 * TwirpServer serves LiveKit's RoomService the way LiveKit's server does: POST only,
 * application/json or application/protobuf, snake_case JSON with defaults emitted, errors as
 * `{"code","msg"}` with Content-Type exactly application/json, `bad_route` for anything else,
 * 401 plain text for a bad token, 413 plain text for a body over its bound, CORS for any origin.
 * Unlike LiveKit, a body is read only once the token has the method's grant, and is bounded
 * near the largest valid request rather than at 10 MiB (issue 12 item 2; validate.ts).
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
    const startMs = performance.now();
    const name = path.startsWith(TWIRP_PREFIX) ? path.slice(TWIRP_PREFIX.length) : '';
    const known = Object.hasOwn(this.methods, name);
    // The metric label is the method only when it is one of ours: random paths must not grow series.
    const report = (code: TwirpCode | 'ok', detail: string | null = null): void =>
      this.options.onRequest?.(
        known ? name : 'unknown',
        code,
        performance.now() - startMs,
        headerRequestId(req),
        detail,
      );
    // The edge of the listener (STYLE rule 24): whatever a request causes ends with that request.
    this.serve(req, res, path, known ? this.methods[name] : undefined).then(report, (e: unknown) => {
      const { error, internalDetail } = toClientError(e);
      if (res.headersSent) res.destroy();
      else sendTwirpError(res, ERROR_MAPPING[error.code].twirp, error.message, error.meta);
      report(ERROR_MAPPING[error.code].twirp, internalDetail);
    });
    return true;
  }

  /**
   * serve refuses what can be refused from the head alone (route, content type, token, the
   * method's grant) before a byte of the body is read, then reads a body bounded for its
   * content type and checks the shape of JSON before parsing it (DESIGN §10).
   */
  private async serve(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    method: AnyMethod | undefined,
  ): Promise<TwirpCode | 'ok'> {
    if (req.method !== 'POST' || method === undefined) {
      const msg =
        req.method !== 'POST'
          ? `unsupported method "${req.method ?? ''}" (only POST is allowed)`
          : `no handler for path "${path}"`;
      sendTwirpError(res, 'bad_route', msg, { twirp_invalid_route: `${req.method ?? ''} ${path}` });
      return 'bad_route';
    }
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    if (contentType !== 'application/json' && contentType !== 'application/protobuf') {
      sendTwirpError(res, 'bad_route', `unexpected Content-Type: "${req.headers['content-type'] ?? ''}"`, {
        twirp_invalid_route: `POST ${path}`,
      });
      return 'bad_route';
    }
    const auth = authenticate(req.headers.authorization, this.options.apiKeys, Math.floor(Date.now() / 1000));
    if (!auth.ok) {
      sendPlain(res, 401, `invalid authorization token: ${(auth.error as AuthFailure).reason}`);
      return 'unauthenticated';
    }
    method.authorize(auth.value); // throws PERMISSION_DENIED: 401 `unauthenticated` "permissions denied", at the edge
    const json = contentType === 'application/json';
    const body = await readBody(req, json ? API_LIMITS.twirpJsonBodyBytesMax : API_LIMITS.validRequestBytesMax);
    if (body === 'aborted') return 'canceled';
    if (body === 'too_large') {
      sendPlain(res, 413, 'request body too large');
      return 'malformed';
    }
    return this.invoke(method, json, body, auth.value, req, res);
  }

  private async invoke(
    method: AnyMethod,
    json: boolean,
    body: Buffer,
    grants: Grants,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<TwirpCode | 'ok'> {
    const decoded = decodeRequest(method, json, body);
    if (!decoded.ok) {
      const code = ERROR_MAPPING[decoded.error.code].twirp;
      sendTwirpError(res, code, decoded.error.message, decoded.error.meta);
      return code;
    }
    const response = await method.call(decoded.value, {
      grants,
      requestId: headerRequestId(req),
      deadlineMs: this.deadlineOf(req),
    });
    if (json) sendJson(res, 200, method.encodeJson(response));
    else sendBinary(res, method.encodeBinary(response));
    return 'ok';
  }

  /** deadlineOf honours X-Twirp-Timeout-Ms (sent by Go clients), capped at the maximum. */
  private deadlineOf(req: IncomingMessage): number {
    const header = Number(req.headers['x-twirp-timeout-ms']);
    const budgetMs =
      Number.isFinite(header) && header > 0
        ? Math.min(header, this.options.maxDeadlineMs)
        : this.options.defaultDeadlineMs;
    return Date.now() + budgetMs;
  }
}

/** headerRequestId is the X-Livekit-Request-Id header by the one rule, validate.ts requestIdOf. */
function headerRequestId(req: IncomingMessage): string {
  return requestIdOf(undefined, req.headers['x-livekit-request-id']);
}

/**
 * decodeRequest parses a body that passed the size bound, only after its shape passed the
 * scan (request-scan.ts). A body that does not decode is malformed; a decoded one with text that is
 * not UTF-8 keeps its INVALID_ARGUMENT.
 */
function decodeRequest(method: AnyMethod, json: boolean, body: Buffer): Result<unknown, RegistryError> {
  const what = json ? 'the json request could not be decoded' : 'the protobuf request could not be decoded';
  try {
    const refused = json
      ? scanJsonShape(body, API_LIMITS.twirpJsonDepthMax, API_LIMITS.requestItemsMax)
      : scanProtobufShape(body, API_LIMITS.requestItemsMax);
    if (refused !== null) return err(new RegistryError('MALFORMED', refused));
    if (!json) return ok(method.decodeBinary(body));
    return ok(method.decodeJson(body.length === 0 ? {} : JSON.parse(body.toString('utf8'))));
  } catch (e) {
    if (e instanceof RegistryError && e.code === 'INVALID_ARGUMENT') return err(e);
    return err(new RegistryError('MALFORMED', e instanceof RegistryError ? `${what}: ${e.message}` : what));
  }
}

/**
 * readBody collects the body; 'too_large' as soon as it (or its declared length) passes
 * maxBytes, 'aborted' when the client goes away first. It never rejects: a client that stops
 * half-way is an ordinary event, not an error of ours (issue 12 item 1).
 */
function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | 'too_large' | 'aborted'> {
  return new Promise((resolve) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      req.resume();
      resolve('too_large');
      return;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (c: Buffer): void => {
      total += c.length;
      if (total > maxBytes) {
        req.off('data', onData);
        req.resume();
        resolve('too_large');
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    // After 'end' these change nothing: a promise settles once.
    req.on('error', () => resolve('aborted'));
    req.on('close', () => resolve('aborted'));
  });
}

function setCors(res: ServerResponse): void {
  res.setHeader('access-control-allow-origin', '*');
  res.setHeader('access-control-allow-methods', 'OPTIONS, HEAD, GET, POST, PATCH, DELETE');
  res.setHeader('access-control-allow-headers', '*');
}

export function sendTwirpError(
  res: ServerResponse,
  code: TwirpCode,
  msg: string,
  meta: Readonly<Record<string, string>> = {},
): void {
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
