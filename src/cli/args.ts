/**
 * parseFlags reads `--name value` and `--name=value` flags (and bare `--switch` for booleans)
 * against a declared set, so every unknown or malformed flag is a clear error, not a surprise.
 */
export interface FlagSpec {
  readonly [name: string]: {
    readonly kind: 'string' | 'boolean' | 'number';
    readonly env?: string;
    readonly help: string;
  };
}

export type ParsedFlags = Record<string, string | boolean | number | undefined>;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function parseFlags(argv: readonly string[], spec: FlagSpec): { flags: ParsedFlags; positional: string[] } {
  const flags: ParsedFlags = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const def = spec[name];
    if (def === undefined)
      throw new UsageError(
        `unknown flag --${name}; known flags: ${Object.keys(spec)
          .map((f) => `--${f}`)
          .join(', ')}`,
      );
    let value: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
    if (def.kind === 'boolean') {
      if (value !== undefined && value !== 'true' && value !== 'false')
        throw new UsageError(`--${name} takes true or false, got "${value}"`);
      flags[name] = value === undefined ? true : value === 'true';
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name} needs a value`);
    }
    flags[name] = def.kind === 'number' ? parseNumber(name, value) : value;
  }
  for (const [name, def] of Object.entries(spec)) {
    const fromEnv = def.env === undefined ? undefined : process.env[def.env];
    if (flags[name] === undefined && fromEnv !== undefined && fromEnv !== '') {
      flags[name] = def.kind === 'number' ? parseNumber(name, fromEnv) : fromEnv;
    }
  }
  return { flags, positional };
}

function parseNumber(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} takes a number, got "${value}"`);
  return n;
}

export function requireString(flags: ParsedFlags, name: string): string {
  const v = flags[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

export function optionalString(flags: ParsedFlags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}
