/**
 * assert stops the process on a broken invariant. Asserts stay on in production: a replica
 * that continues past a broken invariant can corrupt the replicated state, while one that
 * exits recovers from its write-ahead log (STYLE rule 9).
 */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new AssertionError(typeof message === 'function' ? message() : message);
  }
}

/** unreachable marks the default branch of an exhaustive switch over a discriminated union. */
export function unreachable(value: never): never {
  throw new AssertionError(`unreachable: ${JSON.stringify(value)}`);
}
