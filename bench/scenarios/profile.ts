// CPU profiles of one node under load (node --cpu-prof), summarized.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DriveResult, stats } from '../driver.js';
import { summarizeProfile } from '../cpu-profile.js';
import { BENCH, resultsDir, environment, save, say, registrySystem, startCluster } from './common.js';

// ---------------------------------------------------------------- CPU profile of the leader

const PROFILE_OPS = ['write', 'read-linearizable', 'read-local'] as const;
type ProfileOp = (typeof PROFILE_OPS)[number];

/**
 * profile runs one op spread over the nodes with `--cpu-prof` on each and summarizes one node's
 * profile: the leader's for writes and linearizable reads, a follower's for LOCAL reads.
 */
export async function profile(args: { durationS: number; concurrency: number; op: ProfileOp }): Promise<void> {
  const env = environment();
  const profileDir = join(resultsDir, 'profiles');
  mkdirSync(profileDir, { recursive: true });
  const startedAtMs = Date.now();
  const cluster = await startCluster({ nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profileDir] });
  let leader = '';
  let profiled: string;
  const pids = new Map<string, number>();
  try {
    leader = await cluster.waitForLeader();
    for (const n of cluster.nodes) pids.set(n.id, n.process?.pid ?? 0);
    profiled = args.op === 'read-local' ? (cluster.nodes.find((n) => n.id !== leader)?.id ?? leader) : leader;
    const system = registrySystem(cluster);
    const prefix = `prof-${Date.now().toString(36)}`;
    let r: DriveResult;
    if (args.op === 'write') {
      r = await system.write(args.concurrency, args.durationS * 1000, prefix);
    } else {
      await system.preload(BENCH.readRooms, prefix);
      r = await system.read(
        args.op === 'read-local' ? 'local' : 'linearizable',
        args.concurrency,
        args.durationS * 1000,
        prefix,
        BENCH.readRooms,
      );
    }
    await system.close();
    const s = stats(r);
    say(`profile: ${args.op} c=${args.concurrency} under --cpu-prof: ${s.opsPerSecond} ops/s p99 ${s.p99Ms} ms`);
  } finally {
    await cluster.stopGracefully();
    await cluster.stop();
  }
  const pid = pids.get(profiled) ?? 0;
  const file = readdirSync(profileDir).find((f) => f.includes(`.${pid}.`) && f.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error(`no profile of ${profiled} (pid ${pid}) in ${profileDir}`);
  const summary = summarizeProfile(JSON.parse(readFileSync(join(profileDir, file), 'utf8')), 25);
  const role = profiled === leader ? 'the leader' : 'a follower';
  say(`profile of ${role} ${profiled}: ${join(profileDir, file)}`);
  for (const line of summary.lines) say(`  ${line}`);
  const name = args.op === 'write' ? 'profile' : `profile-${args.op}`;
  save(name, env, {
    op: args.op,
    node: profiled,
    leader,
    file: join('bench', 'results', 'profiles', file),
    concurrency: args.concurrency,
    durationS: args.durationS,
    startedAt: new Date(startedAtMs).toISOString(),
    ...summary,
  });
}

export function profileOp(text: string | undefined): ProfileOp {
  const op = PROFILE_OPS.find((o) => o === text);
  if (op === undefined) throw new Error(`--op must be one of ${PROFILE_OPS.join(', ')}; got ${text ?? 'nothing'}`);
  return op;
}
