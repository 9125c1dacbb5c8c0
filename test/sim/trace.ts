/**
 * Trace collects one line per event of a run. It costs nothing when off: call sites test
 * `enabled` before building a line. A passing run keeps it off; a failing seed is replayed
 * with it on (the run is deterministic), which keeps the fast path fast and still prints the
 * last lines before the failure.
 */
export class Trace {
  readonly lines: string[] = [];
  now = 0;

  constructor(readonly enabled: boolean) {}

  add(line: string): void {
    this.lines.push(`${String(this.now).padStart(6)} ${line}`);
  }

  /** addLines adds a headline and its indented detail lines (describeReady's output). */
  addLines(head: string, details: readonly string[]): void {
    this.add(head);
    for (const d of details) this.lines.push(`       ${d}`);
  }

  tail(count: number): string[] {
    return this.lines.slice(-count);
  }
}
