/**
 * Raw clients for hostile-input tests: bytes on a TCP socket (HTTP/1.1 as a scanner or a
 * half-finished upload sends it) and HTTP/2 streams that a real gRPC client would never send.
 * Every helper settles: it resolves with what came back (possibly nothing) and never rejects,
 * so a test can throw thousands of them and then look at the nodes.
 */
import { type ClientHttp2Session, connect as connectHttp2, constants as h2 } from 'node:http2';
import { connect as connectTcp } from 'node:net';

/** rawExchangeDeadlineMs: a raw exchange is abandoned after this long (the node may simply wait for more bytes). */
const rawExchangeDeadlineMs = 2_000;

export interface RawOptions {
  /** closeAfterWrite: end the socket right after writing (an aborted upload) instead of waiting for a reply. */
  readonly closeAfterWrite?: boolean;
  /** reset: destroy the socket (RST) instead of ending it politely. */
  readonly reset?: boolean;
  /** waitMs: how long to wait for the server's answer (default rawExchangeDeadlineMs). */
  readonly waitMs?: number;
}

/** sendRaw writes `bytes` to host:port and resolves with whatever the server answered before closing or the deadline. */
export function sendRaw(address: string, bytes: Uint8Array | string, options: RawOptions = {}): Promise<string> {
  const at = address.lastIndexOf(':');
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connectTcp({ host: address.slice(0, at), port: Number(address.slice(at + 1)) });
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const timer = setTimeout(done, options.waitMs ?? rawExchangeDeadlineMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', done);
    socket.on('close', done);
    socket.write(bytes, () => {
      if (options.reset === true) socket.resetAndDestroy();
      else if (options.closeAfterWrite === true) socket.end();
    });
  });
}

export interface Http2Exchange {
  readonly status: number | null;
  readonly grpcStatus: string | null;
}

export interface Http2Request {
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** body: DATA written on the stream; with `reset`, the stream is then cancelled (RST_STREAM) instead of ended. */
  readonly body: Uint8Array;
  readonly reset?: boolean;
}

/** sendHttp2 opens one session, sends each request on its own stream, and resolves when all settle (or after waitMs). */
export async function sendHttp2(
  address: string,
  requests: readonly Http2Request[],
  waitMs = rawExchangeDeadlineMs,
): Promise<Http2Exchange[]> {
  const session = connectHttp2(`http://${address}`);
  session.on('error', () => {});
  try {
    return await Promise.all(requests.map((r) => exchange(session, r, waitMs)));
  } finally {
    session.destroy();
  }
}

function exchange(session: ClientHttp2Session, r: Http2Request, waitMs: number): Promise<Http2Exchange> {
  return new Promise((resolve) => {
    let status: number | null = null;
    let grpcStatus: string | null = null;
    const stream = session.request({
      ':method': 'POST',
      ':path': r.path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...r.headers,
    });
    const done = (): void => {
      clearTimeout(timer);
      if (!stream.destroyed) stream.close(h2.NGHTTP2_CANCEL);
      resolve({ status, grpcStatus });
    };
    const timer = setTimeout(done, waitMs);
    stream.on('response', (headers) => {
      status = Number(headers[':status']);
      const g = headers['grpc-status'];
      if (typeof g === 'string') grpcStatus = g;
    });
    stream.on('trailers', (trailers) => {
      const g = trailers['grpc-status'];
      if (typeof g === 'string') grpcStatus = g;
    });
    stream.on('data', () => {});
    stream.on('error', done);
    stream.on('close', done);
    stream.write(r.body, () => {
      if (r.reset === true) stream.close(h2.NGHTTP2_CANCEL);
      else stream.end();
    });
  });
}

/** grpcFrame is one gRPC length-prefixed message (uncompressed). */
export function grpcFrame(message: Uint8Array, declaredLength = message.length): Uint8Array {
  const out = new Uint8Array(5 + message.length);
  new DataView(out.buffer).setUint32(1, declaredLength);
  out.set(message, 5);
  return out;
}
