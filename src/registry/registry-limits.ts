/**
 * The room state machine's bounds (STYLE rule 7). They are part of the replicated behaviour:
 * every replica must run with the same values, or their dedup tables would evict differently.
 */
export const REGISTRY_LIMITS = Object.freeze({
  /** emptyTimeoutDefaultS / departureTimeoutDefaultS: LiveKit's defaults for a 0 in CreateRoom. */
  emptyTimeoutDefaultS: 300,
  departureTimeoutDefaultS: 20,
  /**
   * dedupWindowMs: a request id is remembered for at least this long after its first use, in
   * entry time (the leader's stamp, so every replica agrees), unless a bound below forces it
   * out first. A client retries within seconds; ten minutes also covers a retry after a long
   * partition or a client restart. Longer keeps more ids within the bounds below.
   */
  dedupWindowMs: 10 * 60_000,
  /**
   * dedupEntriesMax: request ids remembered at most. 100 000 ids hold the whole window at up
   * to 166 writes/s with ids; faster, the oldest go early (counted in
   * room_registry_dedup_evictions_total). Each costs about 400 bytes with a small result.
   */
  dedupEntriesMax: 100_000,
  /**
   * dedupBytesMax: the ids' stored results and strings together, as dedup.ts counts them. A
   * result may carry 512 KiB of metadata, so 64 MiB holds 128 such ids but ~160 000 small ones.
   */
  dedupBytesMax: 64 << 20,
  /**
   * watchEventsMax / watchEventBytesMax: recent changes kept so a watcher can resume from a
   * revision; one further behind re-lists. Bytes count metadata, which dominates an event.
   */
  watchEventsMax: 10_000,
  watchEventBytesMax: 32 << 20,
  /** sortedNamesChunkMax: names per chunk of the sorted name index (a split at this size). */
  sortedNamesChunkMax: 1_024,
  /**
   * mediaNodesMax: media-node leases held at most (DESIGN §13). A lease costs a few hundred
   * bytes and its slot in the lease expiry index, and a leader change rewrites every live lease
   * once (their expiry is extended), so the bound keeps that step to milliseconds. 10 000 SFUs
   * is far past any one deployment; a new node past it is refused (RESOURCE_EXHAUSTED), while a
   * node that holds a lease can always renew it.
   */
  mediaNodesMax: 10_000,
  /**
   * roomSharesMax: media nodes with a share of one room's occupancy at most. A room spans a few
   * SFUs (cascading); 64 covers a very large event while keeping a record's share list, which
   * every occupancy report copies, short. A new node's share past it is refused
   * (RESOURCE_EXHAUSTED); a node already counted can always change or drop its share.
   */
  roomSharesMax: 64,
});
