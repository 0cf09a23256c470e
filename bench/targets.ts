/**
 * The bench's targets, judged on the results (bench.ts), and the flat list of figures.
 */
import type { Settings } from './bench';
import type { Results, Target } from './report';
import { FIRST_VISIT_CONCURRENCIES, REVISIT } from './warm';

export function evaluateTargets(results: Results, settings: Settings): Target[] {
  const targets: Target[] = [];
  const add = (name: string, measured: string, met: boolean, why?: string): void => {
    targets.push({ name, measured, result: met ? 'PASS' : 'MISS', ...(why ? { why } : {}) });
  };
  const warmApp = settings.concurrencies.map((c) => results.warm[String(c)]!['app']!);
  const writes = Math.max(...warmApp.map((w) => w.storage.writesPerRequest));
  const c1 = results.warm['1']!['app']!.storage.worstRequest!;
  add('Warm request: 0 storage writes', `${fmt(writes, 3)} writes/request (worst run; worst single request at c=1: ${c1.maxWrites})`, writes === 0 && c1.maxWrites === 0);
  const revisit = results.warm[REVISIT]!['app']!.storage.worstRequest!;
  const tcReads = Math.max(...warmApp.map((w) => w.storage.tokenCacheReadsPerRequest));
  add(
    'Warm request: at most 1 storage read (token cache)',
    `worst single request at c=1: ${c1.maxTokenCacheReads} token-cache read(s) on a first visit, ${revisit.maxTokenCacheReads} on a revisit; mean ${fmt(tcReads, 2)} token-cache reads/request (worst run)`,
    c1.maxTokenCacheReads <= 1 && revisit.maxTokenCacheReads <= 1,
  );
  add(
    'Warm request: at most 1 storage read (all, session included)',
    `worst single request at c=1: ${c1.maxReads} on a first visit to the instance (session and token cache in one query), ${revisit.maxReads} on a revisit; mean ${fmt(Math.max(...warmApp.map((w) => w.storage.readsPerRequest)), 2)} reads/request (worst run)`,
    c1.maxReads <= 1 && revisit.maxReads <= 1,
  );
  const one = results.storm.oneUser['app']!;
  const two = results.storm.oneUserTwoInstances['app']!;
  const baseOne = results.storm.oneUser['baseline']!;
  add(
    'Refresh storm, one user: 1 redemption',
    `${one.refreshTokenRedemptions} on one instance, ${two.refreshTokenRedemptions} over two (baseline: ${baseOne.refreshTokenRequests} attempts for ${baseOne.requests} requests, ${baseOne.refreshTokenRedemptions} succeeded)`,
    one.refreshTokenRedemptions === 1 && two.refreshTokenRedemptions === 1,
  );
  const many = results.storm.manyUsers['app']!;
  const withDetection = [one, two, many];
  const unauthorized = withDetection.reduce((sum, st) => sum + st.unauthorized, 0);
  const revocations = withDetection.reduce((sum, st) => sum + st.reuseDetectedRevocations, 0);
  add('Refresh storm: 0 forced sign-ins', `${unauthorized} 401s, ${revocations} reuse revocations (reuse detection on; baseline: ${[results.storm.oneUser, results.storm.oneUserTwoInstances, results.storm.manyUsers].reduce((sum, st) => sum + st['baseline']!.unauthorized, 0)} 401s, ${[results.storm.oneUser, results.storm.oneUserTwoInstances, results.storm.manyUsers].reduce((sum, st) => sum + st['baseline']!.reuseDetectedRevocations, 0)} revocations)`, unauthorized + revocations === 0);
  const c64 = results.warm['64']!;
  const ratio = c64['app']!.requestsPerSecond / c64['baseline']!.requestsPerSecond;
  add('Throughput at concurrency 64: at least 2x the baseline', `${fmt(ratio, 2)}x (${fmt(c64['app']!.requestsPerSecond, 0)} vs ${fmt(c64['baseline']!.requestsPerSecond, 0)} req/s)`, ratio >= 2);
  const overhead = results.warm[REVISIT]!['app']!.overheadMs.p50;
  const floor1 = results.warm['1']!['floor']!.overheadMs.p50;
  const floor64 = c64['floor']!.overheadMs.p50;
  const limit = 0.05 * settings.latency.graphMs;
  add(
    'App overhead p50 under 5% of the injected Graph latency',
    `${fmt(overhead, 1)} ms at c=1 for a user this instance served in the last 30 s (limit ${fmt(limit, 1)} ms); ` +
      `${fmt(results.warm['1']!['app']!.overheadMs.p50, 1)} ms on a first visit (one storage read of ${settings.latency.storageMs} ms injected); ` +
      `${fmt(c64['app']!.overheadMs.p50, 1)} ms at c=64, where the machine's ${results.machine.cpuCount} CPUs are saturated (see the CPU table). ` +
      `The rig alone (floor) costs ${fmt(floor1, 1)} ms at c=1 and ${fmt(floor64, 1)} ms at c=64 of these`,
    overhead < limit,
  );
  // The same figure less what the rig costs by itself, measured in the same run: the app's own part.
  const own = overhead - floor1;
  add(
    "App's own overhead p50, above the rig's floor (bench/floor.ts), under 5% of the injected Graph latency",
    `${fmt(own, 1)} ms at c=1 for a user this instance served in the last 30 s (${fmt(overhead, 1)} - ${fmt(floor1, 1)} ms; limit ${fmt(limit, 1)} ms); ` +
      `${fmt(results.warm['1']!['app']!.overheadMs.p50 - floor1, 1)} ms on a first visit; ${fmt(c64['app']!.overheadMs.p50 - floor64, 1)} ms at c=64`,
    own < limit,
  );
  const coldRatio = results.cold.app.healthMs / results.cold.hello.healthMs;
  add('Cold start to first /api/health: at most 1.5x hello-world', `${fmt(coldRatio, 2)}x (${fmt(results.cold.app.healthMs, 0)} vs ${fmt(results.cold.hello.healthMs, 0)} ms)`, coldRatio <= 1.5);
  const memory = results.memory;
  const judged = memory.instance ?? memory;
  const rssMb = judged.rssBytes / 1024 / 1024;
  const machineMb = memory.rssBytes / 1024 / 1024;
  add(
    `RSS after the memory run: under 150 MB`,
    memory.instance
      ? `${fmt(rssMb, 1)} MB after ${judged.requests} requests over ${judged.users} users with the V8 heap limits of a ${memory.instance.instanceMemoryMb} MB instance (${judged.nodeArgs?.join(' ')}); ${fmt(machineMb, 1)} MB with V8 sized for this machine`
      : `${fmt(rssMb, 1)} MB after ${judged.requests} requests over ${judged.users} users`,
    rssMb < 150,
  );
  // Issue 19: warm at the floor, first visits at most twice a warm request's CPU (bench/warm.ts).
  const underLoad = FIRST_VISIT_CONCURRENCIES.map(String).filter((c) => results.versusFloor[c] !== undefined);
  const at = (c: string) => ({ v: results.versusFloor[c]!, warmApp: results.warm[c]!['app']!, first: results.firstVisit[c]?.['app'] });
  add(
    'Warm at the floor (c=16, 64, every user pre-warmed): throughput at least 0.9x the floor, server-thread CPU per request at most 1.25x',
    underLoad.map((c) => `c=${c}: ${fmt(at(c).v.requestsPerSecond, 2)}x req/s, ${fmt(at(c).v.serverCpuMsPerRequest, 2)}x CPU, ${fmt(100 * (at(c).warmApp.firstVisitShare ?? 0), 1)}% first visits`).join('; '),
    underLoad.length > 0 && underLoad.every((c) => at(c).v.requestsPerSecond >= 0.9 && at(c).v.serverCpuMsPerRequest <= 1.25),
  );
  add(
    'First visit (c=16, 64, memory copies cleared): server-thread CPU per request at most 2x a warm request\'s, one storage read',
    underLoad
      .map((c) => `c=${c}: ${fmt(at(c).first?.cpu.serverThreadMsPerRequest ?? Number.NaN, 2)} vs ${fmt(at(c).warmApp.cpu.serverThreadMsPerRequest, 2)} ms = ${fmt(at(c).v.firstVisitOverWarmServerCpu ?? Number.NaN, 2)}x, ${fmt(at(c).first?.storage.readsPerRequest ?? Number.NaN, 2)} reads/request`)
      .join('; '),
    underLoad.length > 0 && underLoad.every((c) => (at(c).v.firstVisitOverWarmServerCpu ?? Infinity) <= 2 && (at(c).first?.storage.readsPerRequest ?? Infinity) <= 1),
  );
  if (results.telemetry) {
    const t = results.telemetry;
    add('Telemetry on: throughput at concurrency 64 at least 0.9x telemetry off', `${fmt(t.throughputRatio, 2)}x (${fmt(t.on.requestsPerSecond, 0)} vs ${fmt(t.off.requestsPerSecond, 0)} req/s)`, t.throughputRatio >= 0.9);
    const onCold = t.on.healthMs / results.cold.hello.healthMs;
    add('Telemetry on: cold start to first /api/health at most 1.5x hello-world', `${fmt(onCold, 2)}x (${fmt(t.on.healthMs, 0)} vs ${fmt(results.cold.hello.healthMs, 0)} ms; off ${fmt(t.off.healthMs, 0)} ms)`, onCold <= 1.5);
  }
  return targets;
}

function fmt(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : String(value);
}

/** Every number in the results, by dotted path (samples and raw latencies left out). */
export function flatten(results: Results): Record<string, number> {
  const out: Record<string, number> = {};
  const walk = (value: unknown, prefix: string): void => {
    if (typeof value === 'number') out[prefix] = value;
    else if (Array.isArray(value)) return;
    else if (value && typeof value === 'object') {
      for (const [key, child] of Object.entries(value)) {
        if (key === 'samples' || key === 'load' || key === 'figures' || key === 'settings' || key === 'machine') continue;
        walk(child, prefix ? `${prefix}.${key}` : key);
      }
    }
  };
  walk(results, '');
  return out;
}
