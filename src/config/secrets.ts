import { readFileSync } from 'node:fs';

/**
 * secretCharsMin: the shortest API secret or cluster secret a config may hold. An HS256 key or
 * a shared peer secret of 32 random characters is out of reach of offline guessing of a
 * captured token; shorter ones (a word, a date) are not. The cost is only a longer string in
 * the config, the secret file or the environment. Past it: `serve` and every command that
 * reads the config exit 2 naming the secret.
 */
export const secretCharsMin = 32;

/** secretFileBytesMax: a secret file is one line; a larger file is a mistake (a key bundle, a log). */
export const secretFileBytesMax = 4 << 10;

/** SecretEnv is where `{"env": NAME}` secrets are looked up (process.env, or a test's own). */
export type SecretEnv = Readonly<Record<string, string | undefined>>;

/**
 * resolveSecret reads one secret as the config gives it: inline (a string), from a file
 * (`{"file": path}`, one trailing newline dropped) or from an environment variable
 * (`{"env": NAME}`), and refuses it when shorter than secretCharsMin. `where` names it in the
 * problem, never its value.
 */
export function resolveSecret(raw: unknown, where: string, problems: string[], env: SecretEnv): string | null {
  const value = readSecret(raw, where, problems, env);
  if (value === null) return null;
  if (value.length < secretCharsMin) {
    problems.push(`${where} must be at least ${secretCharsMin} characters (it has ${value.length})`);
    return null;
  }
  return value;
}

function readSecret(raw: unknown, where: string, problems: string[], env: SecretEnv): string | null {
  if (typeof raw === 'string') return raw;
  const o = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : null;
  const keys = o === null ? [] : Object.keys(o);
  if (o === null || keys.length !== 1 || (typeof o['file'] !== 'string' && typeof o['env'] !== 'string')) {
    problems.push(`${where} must be a string, {"file": path} or {"env": NAME}`);
    return null;
  }
  if (typeof o['env'] === 'string') {
    const v = env[o['env']];
    if (v === undefined || v === '') problems.push(`${where}: environment variable ${o['env']} is not set`);
    return v === undefined || v === '' ? null : v;
  }
  const file = o['file'] as string;
  try {
    const bytes = readFileSync(file);
    if (bytes.byteLength > secretFileBytesMax) {
      problems.push(`${where}: secret file ${file} is larger than ${secretFileBytesMax} bytes`);
      return null;
    }
    return bytes.toString('utf8').replace(/\r?\n$/, '');
  } catch (e) {
    problems.push(`${where}: cannot read secret file: ${(e as Error).message}`);
    return null;
  }
}
