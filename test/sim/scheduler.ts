import { assert } from '../../src/lib/assert.js';
import type { NodeClock, TimerHandle } from '../../src/node/clock.js';

/**
 * SimScheduler is the simulator's event loop: one clock (a step is one millisecond) and the
 * timers and turns of every simulated process, run in a fixed order, so a seed replays
 * exactly. The real RaftNode runs on it through a SimProcess (its NodeClock): a crashed
 * process's callbacks never run again, a paused one's wait until it resumes.
 *
 * Promise continuations are the one thing JavaScript schedules by itself. They are
 * deterministic too (FIFO, in the order the code creates them), so after each round of
 * callbacks `runStep` lets the microtask queue drain before it looks for more work.
 */

/** MS_PER_STEP: simulated milliseconds per step; node tick periods and deadlines are in them. */
export const MS_PER_STEP = 1;

/**
 * ROUNDS_PER_STEP_MAX bounds the rounds of callbacks one step runs: a real loop yields to
 * time passing too, and a node that always has more to do must not stall the simulation.
 */
const ROUNDS_PER_STEP_MAX = 64;

interface Timer {
  readonly atMs: number;
  readonly seq: number;
  readonly owner: SimProcess;
  readonly fn: () => void;
  cancelled: boolean;
}

interface Immediate {
  readonly owner: SimProcess;
  readonly fn: () => void;
}

export class SimScheduler {
  nowMs = 0;
  private seq = 0;
  /** timers, sorted by (atMs, seq). */
  private timers: Timer[] = [];
  private immediates: Immediate[] = [];
  /** afterRound runs after every round (the safety checker observes roles there). */
  afterRound: () => void = () => {};

  process(name: string): SimProcess {
    return new SimProcess(name, this);
  }

  addTimer(owner: SimProcess, atMs: number, fn: () => void): Timer {
    const t: Timer = { atMs, seq: this.seq++, owner, fn, cancelled: false };
    let lo = 0;
    let hi = this.timers.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = this.timers[mid] as Timer;
      if (m.atMs < atMs || (m.atMs === atMs && m.seq < t.seq)) lo = mid + 1;
      else hi = mid;
    }
    this.timers.splice(lo, 0, t);
    return t;
  }

  addImmediate(owner: SimProcess, fn: () => void): void {
    this.immediates.push({ owner, fn });
  }

  /** runStep advances the clock to `step` and runs everything due, round by round. */
  async runStep(step: number): Promise<void> {
    this.nowMs = step * MS_PER_STEP;
    for (let round = 0; round < ROUNDS_PER_STEP_MAX; round++) {
      if (!this.runRound()) return;
      await drainMicrotasks();
      this.afterRound();
    }
  }

  /** runRound runs the due timers of runnable processes, then the turns queued before it began. */
  private runRound(): boolean {
    let ran = false;
    const due: Timer[] = [];
    const keep: Timer[] = [];
    for (const t of this.timers) {
      if (t.cancelled || !t.owner.alive) continue;
      if (t.atMs <= this.nowMs && !t.owner.paused(this.nowMs)) due.push(t);
      else keep.push(t);
    }
    this.timers = keep;
    for (const t of due) {
      if (t.cancelled || !t.owner.alive) continue;
      ran = true;
      t.fn();
    }
    const queued = this.immediates;
    this.immediates = [];
    for (const im of queued) {
      if (!im.owner.alive) continue;
      if (im.owner.paused(this.nowMs)) {
        this.immediates.push(im);
        continue;
      }
      ran = true;
      im.fn();
    }
    return ran;
  }
}

/**
 * drainMicrotasks resolves after every promise continuation queued so far, and those they
 * queue, have run: a macrotask runs only once the microtask queue is empty.
 */
function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * SimProcess is one incarnation of a simulated process and its NodeClock. Killing it is a
 * crash: nothing it scheduled runs again. Pausing it is SIGSTOP: its timers and turns wait.
 */
export class SimProcess implements NodeClock {
  alive = true;
  pausedUntilMs = 0;

  constructor(
    readonly name: string,
    private readonly scheduler: SimScheduler,
  ) {}

  paused(nowMs: number): boolean {
    return nowMs < this.pausedUntilMs;
  }

  kill(): void {
    this.alive = false;
  }

  nowMs(): number {
    return this.scheduler.nowMs;
  }

  monotonicMs(): number {
    return this.scheduler.nowMs;
  }

  after(ms: number, fn: () => void): TimerHandle {
    assert(Number.isFinite(ms) && ms >= 0, () => `${this.name}: timer of ${ms} ms`);
    const t = this.scheduler.addTimer(this, this.scheduler.nowMs + ms, fn);
    return { cancel: () => (t.cancelled = true) };
  }

  every(ms: number, fn: () => void): TimerHandle {
    assert(ms > 0, () => `${this.name}: interval of ${ms} ms`);
    let current: TimerHandle | null = null;
    let cancelled = false;
    const arm = (): void => {
      current = this.after(ms, () => {
        if (cancelled) return;
        arm();
        fn();
      });
    };
    arm();
    return {
      cancel: () => {
        cancelled = true;
        current?.cancel();
      },
    };
  }

  soon(fn: () => void): void {
    if (this.alive) this.scheduler.addImmediate(this, fn);
  }
}
