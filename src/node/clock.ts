/**
 * NodeClock is everything the node reads of time and of the event loop (STYLE rule 19): the
 * process passes SYSTEM_CLOCK; the simulator passes its own, so one seed drives every timer,
 * every turn and every timestamp of the real RaftNode.
 */
export interface NodeClock {
  /** nowMs is wall-clock time: entry times, deadlines, staleness. */
  nowMs(): number;
  /** monotonicMs only measures durations (persist and snapshot times). */
  monotonicMs(): number;
  /** after runs `fn` once, `ms` from now, unless cancelled. */
  after(ms: number, fn: () => void): TimerHandle;
  /** every runs `fn` each `ms` until cancelled. */
  every(ms: number, fn: () => void): TimerHandle;
  /** soon runs `fn` in a later turn of the event loop, after pending I/O (setImmediate). */
  soon(fn: () => void): void;
}

/** TimerHandle cancels a timer; cancelling twice, or after it ran, does nothing. */
export interface TimerHandle {
  cancel(): void;
}

/** SYSTEM_CLOCK is NodeClock over Date.now, performance.now and Node's timers. */
export const SYSTEM_CLOCK: NodeClock = Object.freeze({
  nowMs: () => Date.now(),
  monotonicMs: () => performance.now(),
  after(ms: number, fn: () => void): TimerHandle {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
  every(ms: number, fn: () => void): TimerHandle {
    const t = setInterval(fn, ms);
    return { cancel: () => clearInterval(t) };
  },
  soon(fn: () => void): void {
    setImmediate(fn);
  },
});

/**
 * exitProcess is the production onFatal: a failed persist or a broken invariant ends the
 * process, which restarts from its WAL; the exit waits one turn so the log line gets out.
 */
export function exitProcess(): void {
  process.exitCode = 1;
  setImmediate(() => process.exit(1));
}
