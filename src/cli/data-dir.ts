import { accessSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from './args.js';

/** identityFileName names the file that ties a data dir to one cluster and one node. */
export const identityFileName = 'identity.json';

/**
 * claimDataDir makes sure `dir` is usable by node `id` of `cluster`: it exists (or is made),
 * is writable, and was not initialized by another cluster or node — starting a node on
 * someone else's log would corrupt both.
 */
export function claimDataDir(dir: string, cluster: string, id: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.R_OK | constants.W_OK);
  } catch (e) {
    throw new UsageError(`data dir ${dir} is not usable: ${(e as Error).message}`);
  }
  const file = join(dir, identityFileName);
  if (!existsSync(file)) {
    writeFileSync(file, `${JSON.stringify({ cluster, node: id })}\n`, { flag: 'wx' });
    return;
  }
  let found: { cluster?: unknown; node?: unknown };
  try {
    found = JSON.parse(readFileSync(file, 'utf8')) as typeof found;
  } catch (e) {
    throw new UsageError(`data dir ${dir}: ${identityFileName} is unreadable: ${(e as Error).message}`);
  }
  if (found.cluster !== cluster || found.node !== id) {
    throw new UsageError(
      `data dir ${dir} belongs to node ${String(found.node)} of cluster ${String(found.cluster)}, not node ${id} of cluster ${cluster}`,
    );
  }
}
