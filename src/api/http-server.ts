import { type IncomingMessage, type RequestListener, type Server, type ServerResponse, createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { ListenerTls } from '../config/cluster-config.js';
import type { FormatVersions, LowestVersion } from '../lib/versions.js';
import { INTERNAL_ERROR_MESSAGE } from './errors.js';

/** NodeStatus is the body of GET /status (DESIGN §6). */
export interface NodeStatus {
  readonly id: string;
  readonly region: string;
  readonly role: 'leader' | 'follower' | 'candidate' | 'precandidate';
  readonly term: number;
  readonly leader: string | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly rooms: number;
  /** voters and learners: the configuration this node has applied (DESIGN §11). */
  readonly voters: readonly string[];
  readonly learners: readonly string[];
  /** memberRole: this node's place in it ('none': waiting to be added, or removed). */
  readonly memberRole: 'voter' | 'learner' | 'none';
  /**
   * versions: the formats this node applies, the lowest among the members (what the leader may
   * use; heldBackBy names a member below this node), each member's as this node last heard them,
   * each member's current ones (on its live stream; none: the baseline, and a leader sends it
   * no entries above that), and the command version the applied state already uses.
   */
  readonly versions: {
    readonly node: FormatVersions;
    readonly cluster: { readonly command: LowestVersion; readonly snapshot: LowestVersion };
    readonly members: Readonly<Record<string, FormatVersions>>;
    readonly current: Readonly<Record<string, FormatVersions>>;
    readonly commandVersionInUse: number;
  };
}

/** HttpRoutes is what the `http` listener serves; Twirp plugs in as one more handler. */
export interface HttpRoutes {
  status(): NodeStatus;
  /** ready: this node knows a leader and has applied what it knows to be committed. */
  ready(): { ok: boolean; reason: string };
  /** metrics is absent on the http listener when the node has an `admin` listener, which serves it instead. */
  metrics?(): Promise<{ contentType: string; body: string }>;
  /** twirp handles POST /twirp/...; returns false when the path is not its own. */
  twirp?(req: IncomingMessage, res: ServerResponse): boolean;
  /** faults exists only under --enable-fault-injection: GET, PUT (replace) and DELETE /debug/faults. */
  faults?: { describe(): unknown; set(rules: unknown): void; clear(): void };
  /** onInternalError gets the detail of a failure the client was told only "internal error" about. */
  onInternalError?(detail: string): void;
}

/** faultBodyBytesMax: a fault rule set is a few hundred bytes. */
const faultBodyBytesMax = 64 << 10;

/**
 * startHttpServer binds the `http` listener (https when `tls` is given; with its clientCa, only
 * clients with a certificate it signed get past the handshake); resolves with the bound port.
 */
export function startHttpServer(
  address: string,
  routes: HttpRoutes,
  tls: ListenerTls | null = null,
): Promise<{ server: Server; port: number }> {
  const server = httpOrHttps(tls, (req, res) => {
    handle(routes, req, res).catch((e: unknown) => {
      routes.onInternalError?.(e instanceof Error ? (e.stack ?? e.message) : String(e));
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendText(res, 500, `${INTERNAL_ERROR_MESSAGE}\n`);
    });
  });
  // Slow or idle clients must not hold sockets forever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  const { host, port } = splitHostPort(address);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve({ server, port: (server.address() as AddressInfo).port });
    });
  });
}

function httpOrHttps(tls: ListenerTls | null, listener: RequestListener): Server {
  if (tls === null) return createServer(listener);
  const mutual = tls.clientCa !== null;
  return createHttpsServer(
    {
      cert: tls.cert,
      key: tls.key,
      ...(mutual ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
    },
    listener,
  );
}

async function handle(routes: HttpRoutes, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]?.replace(/^\/\/+/, '/') ?? '/';
  if (routes.twirp !== undefined && routes.twirp(req, res)) return;
  if (path === '/debug/faults' && routes.faults !== undefined) {
    await serveFaults(routes.faults, req, res);
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendText(res, 405, 'method not allowed\n');
    return;
  }
  switch (path) {
    case '/healthz':
      sendText(res, 200, 'ok\n');
      return;
    case '/readyz': {
      const r = routes.ready();
      sendText(res, r.ok ? 200 : 503, `${r.reason}\n`);
      return;
    }
    case '/status':
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(routes.status())}\n`);
      return;
    case '/metrics': {
      if (routes.metrics === undefined) {
        sendText(res, 404, 'metrics are served on this node’s admin listener\n');
        return;
      }
      const m = await routes.metrics();
      res.writeHead(200, { 'content-type': m.contentType });
      res.end(m.body);
      return;
    }
    default:
      sendText(res, 404, '404 page not found\n');
  }
}

async function serveFaults(
  faults: NonNullable<HttpRoutes['faults']>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  try {
    if (req.method === 'PUT' || req.method === 'POST') {
      let body = '';
      for await (const chunk of req) {
        body += String(chunk);
        if (body.length > faultBodyBytesMax) throw new Error('fault rules too large');
      }
      faults.set(JSON.parse(body));
    } else if (req.method === 'DELETE') {
      faults.clear();
    } else if (req.method !== 'GET') {
      sendText(res, 405, 'method not allowed\n');
      return;
    }
  } catch (e) {
    sendText(res, 400, `${(e as Error).message}\n`);
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(faults.describe())}\n`);
}

function sendText(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(body);
}

export function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}
