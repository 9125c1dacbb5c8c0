import { assert } from '../lib/assert.js';
import type { Entry, LogStorage } from '../raft/index.js';
import { decodeCommandEntry } from './entry-codec.js';

/**
 * EntryClock stamps command entries with times that never go backwards along the log (issue
 * 13 finding 7). Each leader stamps from its own wall clock, and clocks disagree: a new leader
 * whose clock is behind its predecessor's would make expiry run backwards on every replica.
 * So a leader stamps max(its clock, the latest entry time it holds). The latest time is taken
 * from the log at start, from every entry this node writes, and from every entry it applies.
 * Not covered: a node whose log holds no command entry after its snapshot does not know the
 * snapshot's last entry time (snapshots do not carry it), so it starts from its clock alone.
 */
export class EntryClock {
  /** lastMs: the latest entry time this node holds or has stamped; 0 before any. */
  private lastMs = 0;

  /** fromLog starts the clock at the last command entry the log holds (noops carry no time). */
  static fromLog(storage: LogStorage): EntryClock {
    const clock = new EntryClock();
    for (let i = storage.lastIndex(); i >= storage.firstIndex(); i--) {
      const [e] = storage.entries(i, (i + 1) as typeof i, Number.MAX_SAFE_INTEGER);
      if (e === undefined || e.kind !== 'command') continue;
      clock.observe([e]);
      break;
    }
    return clock;
  }

  /** observe takes note of entries written or applied here, from any leader. */
  observe(entries: readonly Entry[]): void {
    for (const e of entries) {
      if (e.kind !== 'command') continue;
      const decoded = decodeCommandEntry(e.data);
      if (decoded.ok) this.observeMs(decoded.value.entryTimeMs);
    }
  }

  observeMs(entryTimeMs: number): void {
    if (entryTimeMs > this.lastMs) this.lastMs = entryTimeMs;
  }

  /** stamp is the time for the next entry this leader proposes: never before the last one. */
  stamp(nowMs: number): number {
    assert(Number.isFinite(nowMs) && nowMs >= 0, () => `clock reading ${nowMs} is not a time`);
    const t = Math.max(nowMs, this.lastMs);
    this.lastMs = t;
    return t;
  }
}
