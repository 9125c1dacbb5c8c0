/**
 * Logger writes structured JSON lines (one per event) to stderr: time, level, node id, the
 * current term when known, the event name and its fields. Operators grep and ship these.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  log(level: LogLevel, event: string, fields?: Record<string, unknown>): void;
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

export class JsonLogger implements Logger {
  constructor(
    private readonly nodeId: string,
    private readonly termOf: () => number | null = () => null,
    private readonly minLevel: LogLevel = 'info',
    private readonly write: (line: string) => void = (line) => process.stderr.write(line),
  ) {}

  log(level: LogLevel, event: string, fields: Record<string, unknown> = {}): void {
    if (LEVEL_RANK[level] < LEVEL_RANK[this.minLevel]) return;
    const term = this.termOf();
    const record = {
      ts: new Date().toISOString(),
      level,
      node: this.nodeId,
      event,
      // Spreads last: a key added after a spread gives each record a hidden class of its own (codec.ts).
      ...(term === null ? {} : { term }),
      ...fields,
    };
    this.write(`${JSON.stringify(record, jsonSafe)}\n`);
  }

  info(event: string, fields?: Record<string, unknown>): void {
    this.log('info', event, fields);
  }

  warn(event: string, fields?: Record<string, unknown>): void {
    this.log('warn', event, fields);
  }

  error(event: string, fields?: Record<string, unknown>): void {
    this.log('error', event, fields);
  }
}

/** silentLogger drops everything (tests that do not look at logs). */
export const silentLogger: Logger = {
  log: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}
