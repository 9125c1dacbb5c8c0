/**
 * wal-restart: how long a node takes to recover a write-ahead log of N entries (issue 3: a
 * 1 M-entry log must come back in seconds). Writes N room-sized entries through DiskLogStorage
 * in batches (one fsync each, as the node does), closes it, then times DiskLogStorage.open.
 *
 *   node dist/bench/wal-restart.js [--entries 1000000] [--entry-bytes 200] [--batch 1000]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { index, term } from '../src/lib/ids.js';
import { silentLogger } from '../src/lib/logger.js';
import type { Entry } from '../src/raft/index.js';
import { DiskLogStorage } from '../src/storage/disk-log-storage.js';

const { values } = parseArgs({
  options: {
    entries: { type: 'string', default: '1000000' },
    'entry-bytes': { type: 'string', default: '200' },
    batch: { type: 'string', default: '1000' },
  },
});
const entries = Number(values.entries);
const entryBytes = Number(values['entry-bytes']);
const batch = Number(values.batch);

const dir = await mkdtemp(join(tmpdir(), 'rr-bench-wal-'));
try {
  const writeStartMs = performance.now();
  const storage = await DiskLogStorage.open({ dir, fsync: true, logger: silentLogger });
  const data = new Uint8Array(entryBytes).fill(97);
  for (let i = 1; i <= entries; i += batch) {
    const list: Entry[] = [];
    for (let k = i; k < i + batch && k <= entries; k++)
      list.push({ index: index(k), term: term(1), kind: 'command', data });
    await storage.persist(list, { term: term(1), vote: null, commit: index(Math.min(i + batch - 1, entries)) });
  }
  await storage.close();
  const writeMs = performance.now() - writeStartMs;
  const rssBeforeMb = process.memoryUsage().rss / 2 ** 20;
  const openStartMs = performance.now();
  const reopened = await DiskLogStorage.open({ dir, fsync: true, logger: silentLogger });
  const openMs = performance.now() - openStartMs;
  const result = {
    bench: 'wal-restart',
    entries,
    entryBytes,
    batch,
    writeSeconds: +(writeMs / 1000).toFixed(2),
    writeEntriesPerSecond: Math.round(entries / (writeMs / 1000)),
    recoverSeconds: +(openMs / 1000).toFixed(2),
    recoveredLastIndex: reopened.lastIndex(),
    rssGrowthMb: Math.round(process.memoryUsage().rss / 2 ** 20 - rssBeforeMb),
  };
  await reopened.close();
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
