import { assert } from '../lib/assert.js';
import { API_LIMITS } from './validate.js';

/**
 * requestFieldsBytesMax: what a request may carry besides its metadata and names: the request id,
 * a media node id, the timeouts and counts, and protobuf's tags and lengths, with room to spare.
 */
const requestFieldsBytesMax = API_LIMITS.requestIdBytesMax + API_LIMITS.nodeIdBytesMax + 4 * 1024;

/** nameFramingBytes: a repeated name's tag and length prefix (a 256-byte name needs 1 + 2). */
const nameFramingBytes = 3;

/**
 * grpcRequestBytesMax is the largest valid request on the public gRPC listener, derived from the
 * validation limits: CreateRoom or UpdateRoomMetadata with the most metadata (512 KiB) and the
 * longest name, or ListRooms with the most names, whichever is larger (the first: ~517 KiB).
 */
function grpcRequestBytesMax(): number {
  const withMetadata = API_LIMITS.metadataBytesMax + API_LIMITS.roomNameBytesMax + requestFieldsBytesMax;
  const withNames = API_LIMITS.listNamesMax * (API_LIMITS.roomNameBytesMax + nameFramingBytes) + requestFieldsBytesMax;
  return Math.max(withMetadata, withNames);
}

/**
 * The public gRPC listener's bounds (STYLE rule 7): WatchRooms, Session and the connections themselves.
 * Worst-case memory of watchers is about watchersMax × watchQueueBytesMax (1 GiB), in practice far
 * less: the watchers that follow live changes share each event's encoded bytes.
 */
export const GRPC_LIMITS = Object.freeze({
  /**
   * watchersMax: WatchRooms streams one node serves at once. Each may hold up to
   * watchQueueBytesMax of undelivered events; past it a new watch fails RESOURCE_EXHAUSTED
   * (the client tries another node or later). A watcher that was cut off keeps its slot until its
   * stream is really gone (read to the end, cancelled, or its connection dropped), so slots
   * bound memory too.
   */
  watchersMax: 256,
  /**
   * watchQueueBytesMax: encoded events handed to one watcher's stream and not yet taken by the
   * connection. A client that reads slower than changes arrive is ended RESOURCE_EXHAUSTED
   * ("watcher too slow") once this much is queued; it gets every event queued before that and
   * resumes from the last revision it received. 4 MiB holds 8 events of the largest size
   * (512 KiB metadata) and tens of thousands of ordinary ones.
   */
  watchQueueBytesMax: 4 << 20,
  /**
   * watchReplayBatchEventsMax: events a resuming watcher is sent per step of its replay (then
   * more as its stream drains), so one resume of 10 000 kept changes never holds the event loop.
   */
  watchReplayBatchEventsMax: 256,
  /**
   * connectionsMax: TCP connections the gRPC listener holds at once. Past it a new connection
   * is closed at once (the client sees UNAVAILABLE and retries, maybe elsewhere), counted in
   * room_registry_grpc_connections_refused_total and logged. Each connection costs tens of KiB.
   */
  connectionsMax: 1_024,
  /**
   * concurrentStreamsPerConnectionMax: calls one connection may have open (HTTP/2
   * SETTINGS_MAX_CONCURRENT_STREAMS). Each may buffer a request of grpcRequestBytesMax, so this
   * bounds one connection to ~130 MiB of requests; more calls wait in the client.
   */
  concurrentStreamsPerConnectionMax: 256,
  /** requestBytesMax: the largest request message accepted (derived above); larger is RESOURCE_EXHAUSTED. */
  requestBytesMax: grpcRequestBytesMax(),
  /**
   * replyBytesMax: the largest reply message the listener sends. Replies are bounded before they are
   * built (a ListRooms page by listPageBytesMax, an unpaged list by unpagedReplyBytesMax), so this is
   * a backstop with room to spare, not a limit a valid reply meets.
   */
  replyBytesMax: 64 << 20,
  /**
   * keepaliveIntervalMs / keepaliveTimeoutMs: the node pings every connection this often and
   * drops one that does not answer in time, so a half-open watcher (its host gone without a
   * FIN) frees its slot within ~40 s. One ping per connection per 30 s costs nothing.
   */
  keepaliveIntervalMs: 30_000,
  keepaliveTimeoutMs: 10_000,
  /** connectionIdleMaxMs: a connection with no call for this long is closed (GOAWAY); clients reconnect. */
  connectionIdleMaxMs: 5 * 60_000,
  /**
   * connectionAgeMaxMs / connectionAgeGraceMs: every connection is asked to go away after an
   * hour (spreading clients again after nodes come and go) and closed after the grace, so even a
   * live client that never reads gives its watch slot back. Watchers resume from their revision.
   */
  connectionAgeMaxMs: 60 * 60_000,
  connectionAgeGraceMs: 60_000,
  /**
   * sessionInFlightMax: requests one Session stream may have running at once. Past it the node
   * stops reading that stream until an answer goes out, so HTTP/2 flow control holds the client
   * back instead of the node queueing without bound; a stream then costs at most this many
   * running requests, as many unary calls on one connection do (concurrentStreamsPerConnectionMax).
   * 256 keeps a busy client's pipeline full at a few ms per write. In bytes, a stream's running
   * requests hold at most sessionInFlightMax × requestBytesMax (each message is bounded by it).
   */
  sessionInFlightMax: 256,
});

export type GrpcLimits = { readonly [K in keyof typeof GRPC_LIMITS]: number };

/** assertGrpcLimitRelations checks what the watch path relies on. */
export function assertGrpcLimitRelations(limits: GrpcLimits = GRPC_LIMITS): void {
  assert(limits.requestBytesMax > API_LIMITS.metadataBytesMax, 'the largest valid request must fit');
  assert(limits.watchQueueBytesMax > 2 * limits.requestBytesMax, 'a watcher must hold more than one largest event');
  assert(limits.keepaliveTimeoutMs < limits.keepaliveIntervalMs, 'a ping must time out before the next one');
  assert(limits.replyBytesMax > API_LIMITS.unpagedReplyBytesMax, 'the largest unpaged list must fit a reply');
  assert(limits.replyBytesMax > API_LIMITS.listPageBytesMax, 'a list page must fit a reply');
  assert(
    limits.watchersMax > 0 &&
      limits.connectionsMax > 0 &&
      limits.concurrentStreamsPerConnectionMax > 0 &&
      limits.sessionInFlightMax > 0,
    'listener bounds must be positive',
  );
}
