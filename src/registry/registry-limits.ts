/**
 * The room state machine's bounds (STYLE rule 7). They are part of the replicated behaviour:
 * every replica must run with the same values, or their dedup tables would evict differently.
 */
export const REGISTRY_LIMITS = Object.freeze({
  /** emptyTimeoutDefaultS / departureTimeoutDefaultS: LiveKit's defaults for a 0 in CreateRoom. */
  emptyTimeoutDefaultS: 300,
  departureTimeoutDefaultS: 20,
  /**
   * dedupEntriesMax: request ids remembered for retries. A client retries within seconds, so
   * 100 000 ids cover minutes of writes at 1 000/s; each costs a few hundred bytes.
   */
  dedupEntriesMax: 100_000,
  /** dedupBytesMax: the ids' stored results together (a result may carry 512 KiB of metadata). */
  dedupBytesMax: 64 << 20,
  /**
   * watchEventsMax / watchEventBytesMax: recent changes kept so a watcher can resume from a
   * revision; one further behind re-lists. Bytes count metadata, which dominates an event.
   */
  watchEventsMax: 10_000,
  watchEventBytesMax: 32 << 20,
  /** sortedNamesChunkMax: names per chunk of the sorted name index (a split at this size). */
  sortedNamesChunkMax: 1_024,
});
