// Goal: the Raft core and the room state machine stay pure (STYLE rule 13), so the simulator
// drives the very code the node runs. Method: read every source file under src/raft and
// src/registry and reject imports of I/O modules and mentions of clocks, timers or Math.random.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';

const srcRoot = join(import.meta.dirname, '..', '..', 'src');
const PURE_DIRS = ['raft', 'registry'] as const;

const FORBIDDEN: ReadonlyArray<{ pattern: RegExp; why: string }> = [
  { pattern: /from\s+['"]node:/, why: 'imports a node: module' },
  {
    pattern: /from\s+['"](fs|net|os|path|child_process|timers|crypto|http|http2|worker_threads)['"]/,
    why: 'imports a Node built-in',
  },
  { pattern: /from\s+['"]@grpc\/grpc-js['"]/, why: 'imports grpc-js' },
  { pattern: /from\s+['"]prom-client['"]/, why: 'imports prom-client' },
  { pattern: /\bDate\.now\b|\bnew Date\(/, why: 'reads the clock' },
  { pattern: /\bperformance\.now\b|\bprocess\.hrtime\b/, why: 'reads the clock' },
  { pattern: /\bsetTimeout\b|\bsetInterval\b|\bsetImmediate\b|\bqueueMicrotask\b/, why: 'uses a timer' },
  { pattern: /\bMath\.random\b/, why: 'uses unseeded randomness' },
  { pattern: /\bprocess\./, why: 'reaches into the process' },
];

function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? sourceFiles(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : [],
  );
}

for (const dir of PURE_DIRS) {
  test(`src/${dir} does no I/O and reads no clock`, () => {
    const files = sourceFiles(join(srcRoot, dir));
    if (dir === 'raft') expect(files.length).toBeGreaterThan(5);
    const violations: string[] = [];
    for (const file of files) {
      const lines = readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, i) => {
        if (/^\s*(\/\/|\*)/.test(line)) return; // comments may name what the code must not do
        for (const { pattern, why } of FORBIDDEN) {
          if (pattern.test(line)) violations.push(`${file}:${i + 1} ${why}: ${line.trim()}`);
        }
      });
    }
    expect(violations).toEqual([]);
  });
}
