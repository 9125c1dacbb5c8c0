/**
 * summarizeProfile reads a V8 .cpuprofile (what `node --cpu-prof` writes) and says where the
 * time went: self time per function, and per area (our src/ folders, grpc-js, protobuf, node
 * internals, GC, idle), so RESULTS.md can name what to make faster.
 *
 *   node dist/bench/cpu-profile.js FILE.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  totalMs: number;
  busyPct: number;
  top: { fn: string; where: string; selfMs: number; selfPct: number }[];
  areas: { area: string; selfMs: number; selfPct: number }[];
  /** inclusive: time in a function and everything it called, in % of the busy (non-idle) time. */
  inclusive: { fn: string; where: string; pctOfBusy: number }[];
  lines: string[];
}

/** area groups a frame by who owns the code. */
function area(frame: CallFrame): string {
  const u = frame.url;
  if (frame.functionName === '(idle)') return 'idle';
  if (frame.functionName === '(garbage collector)') return 'gc';
  if (frame.functionName === '(program)') return 'program (native, unattributed)';
  const src = /\/(?:dist|\.run\/\d+)\/src\/([^/]+)\//.exec(u);
  if (src !== null) return `ours: src/${src[1]}`;
  if (u.includes('@grpc/grpc-js')) return 'grpc-js';
  if (u.includes('@bufbuild') || u.includes('protobufjs') || u.includes('/gen/')) return 'protobuf';
  if (u.includes('node_modules/')) return `dep: ${/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u)?.[1] ?? 'other'}`;
  if (u.startsWith('node:')) return `node: ${u.slice(5).split('/')[0] ?? ''}`;
  if (u === '') return 'native / builtins';
  return 'other';
}

type FnTime = { fn: string; where: string; us: number };

export function summarizeProfile(p: CpuProfile, topN: number): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const totalUs = p.endTime - p.startTime;
  const { fnUs, areaUs, idleUs } = selfTimes(byId, selfUs);
  const pct = (us: number): number => +((100 * us) / totalUs).toFixed(1);
  const top = [...fnUs.values()]
    .filter((e) => e.fn !== '(idle)')
    .sort((a, b) => b.us - a.us)
    .slice(0, topN)
    .map((e) => ({ fn: e.fn, where: e.where, selfMs: Math.round(e.us / 1000), selfPct: pct(e.us) }));
  const areas = [...areaUs.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([a, us]) => ({ area: a, selfMs: Math.round(us / 1000), selfPct: pct(us) }));
  const busyUs = Math.max(1, totalUs - idleUs);
  const inclusive = [...inclusiveTimes(p, byId, selfUs).values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, topN)
    .map((e) => ({ fn: e.fn, where: e.where, pctOfBusy: +((100 * e.us) / busyUs).toFixed(1) }));
  const lines = [
    `profile ${Math.round(totalUs / 1000)} ms, busy ${(100 - pct(idleUs)).toFixed(1)}% of one core`,
    'by area (self time):',
    ...areas.map((a) => `  ${a.selfPct.toString().padStart(5)}%  ${a.area}`),
    `top ${topN} functions (self time):`,
    ...top.map((t) => `  ${t.selfPct.toString().padStart(5)}%  ${t.fn}  ${t.where}`),
    `top ${topN} functions (inclusive, % of busy time):`,
    ...inclusive.map((t) => `  ${t.pctOfBusy.toString().padStart(5)}%  ${t.fn}  ${t.where}`),
  ];
  return {
    totalMs: Math.round(totalUs / 1000),
    busyPct: +(100 - pct(idleUs)).toFixed(1),
    top,
    areas,
    inclusive,
    lines,
  };
}

/** selfTimes sums each sampled node's self time per function and per area (idle apart). */
function selfTimes(
  byId: ReadonlyMap<number, ProfileNode>,
  selfUs: ReadonlyMap<number, number>,
): { fnUs: Map<string, FnTime>; areaUs: Map<string, number>; idleUs: number } {
  const fnUs = new Map<string, FnTime>();
  const areaUs = new Map<string, number>();
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const f = byId.get(id)?.callFrame;
    if (f === undefined) continue;
    const a = area(f);
    if (a === 'idle') idleUs += us;
    areaUs.set(a, (areaUs.get(a) ?? 0) + us);
    const where = `${f.url.replace(/^.*\/(dist|\.run\/\d+|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
    const key = `${f.functionName}@${where}`;
    const e = fnUs.get(key) ?? { fn: f.functionName || '(anonymous)', where, us: 0 };
    e.us += us;
    fnUs.set(key, e);
  }
  return { fnUs, areaUs, idleUs };
}

/** inclusiveTimes: each sample counts once for every distinct function on its stack. */
function inclusiveTimes(
  p: CpuProfile,
  byId: ReadonlyMap<number, ProfileNode>,
  selfUs: ReadonlyMap<number, number>,
): Map<string, FnTime> {
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclUs = new Map<string, FnTime>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const f = byId.get(x)?.callFrame;
      if (f === undefined || f.functionName === '(root)' || f.functionName === '(idle)') continue;
      const where = f.url.replace(/^.*\//, '');
      const key = `${f.functionName}@${where}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const e = inclUs.get(key) ?? { fn: f.functionName || '(anonymous)', where, us: 0 };
      e.us += us;
      inclUs.set(key, e);
    }
  }
  return inclUs;
}

if (process.argv[1]?.endsWith('cpu-profile.js') === true) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '25' } },
  });
  const file = positionals[0];
  if (file === undefined) throw new Error('usage: cpu-profile.js FILE.cpuprofile [--top N]');
  const s = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(values.top));
  process.stdout.write(`${s.lines.join('\n')}\n`);
}
