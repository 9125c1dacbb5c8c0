import { RegistryError } from '../lib/errors.js';
import type { NodeClock, TimerHandle } from './clock.js';

/**
 * Waiter is one caller waiting for the node: it settles exactly once, by result, by error, or
 * by its deadline, so nothing ever hangs past the deadline the caller was promised.
 */
export class Waiter<T> {
  readonly promise: Promise<T>;
  private settle!: { resolve: (v: T) => void; reject: (e: RegistryError) => void };
  private timer: TimerHandle | null;
  settled = false;

  constructor(
    readonly deadlineMs: number,
    timeoutMessage: string,
    clock: NodeClock,
  ) {
    this.promise = new Promise<T>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    const waitMs = Math.max(0, deadlineMs - clock.nowMs());
    this.timer = clock.after(waitMs, () => this.reject(new RegistryError('DEADLINE_EXCEEDED', timeoutMessage)));
  }

  resolve(value: T): void {
    if (this.finish()) this.settle.resolve(value);
  }

  reject(error: RegistryError): void {
    if (this.finish()) this.settle.reject(error);
  }

  private finish(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.timer?.cancel();
    this.timer = null;
    return true;
  }
}
