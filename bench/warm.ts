/**
 * The bench's warm and first-visit runs of /api/mail (bench.ts calls `measureRequestRuns`).
 *
 * What "warm" and "first visit" mean here is what the app's per-instance memory copies hold:
 * - warm: every user of the timed run was served by this instance just before it (a pre-warm pass
 *   over exactly those users, at the same concurrency, right before the timed run), so the
 *   session, the token-cache copy and the access token are all in memory;
 * - first visit: the copies are cleared just before the timed run and each user comes once, as on
 *   a freshly added instance or after the copies' TTL (one shared storage read per request).
 * Every run reports the share of its requests that were first visits to the instance (the app's
 * session memory misses), so a run labelled warm shows that it was.
 *
 * Each figure is the median of `repetitions` runs, with the spread (min–max); the sides (app,
 * baseline, floor) take turns inside each repetition, so ratios compare runs made side by side.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { LocalHost } from '../src/http/local-host';
import type { MsalTokenService } from '../src/auth/msal-token-service';
import type { RememberingSessionStore } from '../src/auth/session-memory';
import type { L1TokenCacheStore } from '../src/cache/l1-token-cache-store';
import type { Baseline } from './baseline';
import type { Settings } from './bench';
import type { Driver } from './driver';
import type { EmulatorAdmin } from './emulators';
import { median, summarize } from './load';
import { cpuMsOf, cpuMsOfTree, machineCpuMs, mainThreadCpuMs } from './processes';
import type { Range, Results, SideName, VersusFloor, WarmFigures } from './report';

export const MAIL_PATH = '/api/mail?top=10';
/** Key of the warm run that revisits the concurrency-1 users at once (results.warm[REVISIT]). */
export const REVISIT = '1-revisit';
/** Concurrencies of the separate first-visit runs (results.firstVisit). */
export const FIRST_VISIT_CONCURRENCIES = [16, 64] as const;

export interface Side {
  readonly name: SideName;
  readonly host: LocalHost;
  /** A second instance of the same server (its own memory, token service and lease holder id), for the two-instance storm. */
  readonly second: LocalHost;
}

export interface GraphTiming {
  calls: number;
  ms: number;
}

export interface Probes {
  readonly admin: EmulatorAdmin;
  readonly driver: Driver;
  readonly l1: L1TokenCacheStore['l1'] | undefined;
  readonly sessionMemory: RememberingSessionStore | undefined;
  readonly graphTiming: GraphTiming;
  readonly emulatorsPid: number;
  /** The token services of both app instances. */
  readonly tokens: readonly MsalTokenService[];
  readonly baseline: Baseline;
}

interface Job {
  readonly label: string;
  readonly cookies: readonly string[];
  readonly offset: number;
  readonly total: number;
  readonly concurrency: number;
}

/** Requests of the uncounted warm-up before a timed run (JIT, connections); fewer with --quick. */
function warmupRequests(settings: Settings, concurrency: number): number {
  return settings.quick ? Math.min(Math.max(2 * concurrency, 10), 64) : Math.min(Math.max(4 * concurrency, 20), 200);
}

/** Empties the first app instance's memory copies: sessions, token-cache rows, access tokens. */
function clearAppMemory(probes: Probes): void {
  probes.l1?.clear();
  probes.sessionMemory?.clear();
  probes.tokens[0]?.clearMemory();
}

/**
 * The warm runs (concurrency 1 as a first visit then a revisit, then every other concurrency with
 * the users pre-warmed) and the first-visit runs, each repeated; medians with spreads.
 */
export async function measureRequestRuns(
  settings: Settings,
  sides: readonly Side[],
  cookiesOf: (side: SideName) => readonly string[],
  probes: Probes,
  log: (message: string) => void,
): Promise<Pick<Results, 'warm' | 'firstVisit' | 'versusFloor'>> {
  const { driver } = probes;
  const users = cookiesOf('app').length;
  const runs: Record<string, Partial<Record<SideName, WarmFigures[]>>> = {};
  const record = (key: string, side: SideName, figures: WarmFigures): void => void ((runs[key] ??= {})[side] ??= []).push(figures);
  let offset = 0;
  for (const concurrency of settings.concurrencies) {
    const total = settings.warmRequests[concurrency]!;
    for (let repetition = 1; repetition <= settings.repetitions; repetition++) {
      for (const side of sides) {
        const cookies = cookiesOf(side.name);
        // A short warm-up (JIT, keep-alive connections), not counted.
        const warmup = warmupRequests(settings, concurrency);
        await driver.load({ baseUrl: side.host.url, path: MAIL_PATH, cookies, offset: offset + total, total: warmup, concurrency, keepConnections: true });
        const job = { label: String(concurrency), cookies, offset, total, concurrency };
        const tag = `${side.name}, concurrency ${concurrency}, ${total} requests (${repetition}/${settings.repetitions})`;
        if (concurrency === 1) {
          // Concurrency 1 measures the worst warm case: every user is a first visit for this
          // instance (nothing in its memory copies), then the same users again, one at a time:
          // the common warm case, a user this instance served moments ago.
          if (side.name === 'app') clearAppMemory(probes);
          log(`first visits: ${tag}`);
          record('1', side.name, await measureWarm(side, job, settings, probes));
          if (side.name !== 'floor') {
            log(`warm: ${side.name}, concurrency 1, the same ${total} users again`);
            record(REVISIT, side.name, await measureWarm(side, { ...job, label: REVISIT }, settings, probes));
          }
        } else {
          // Pre-warm exactly the users of the timed run, just before it, at its concurrency. The
          // copies are cleared first: a memory hit does not renew an entry's age (a session is
          // honoured for at most its TTL after it was read), so entries left from earlier runs
          // would expire during the timed run.
          if (side.name === 'app') {
            clearAppMemory(probes);
            await driver.load({ baseUrl: side.host.url, path: MAIL_PATH, cookies, offset, total: Math.min(total, users), concurrency, keepConnections: true });
          }
          log(`warm: ${tag}`);
          record(String(concurrency), side.name, await measureWarm(side, job, settings, probes));
        }
      }
      offset += total;
    }
  }

  const firstRuns: Record<string, Partial<Record<SideName, WarmFigures[]>>> = {};
  const app = sides.find((s) => s.name === 'app')!;
  const cookies = cookiesOf('app');
  const total = Math.min(settings.firstVisitRequests, users);
  for (const concurrency of FIRST_VISIT_CONCURRENCIES) {
    for (let repetition = 1; repetition <= settings.repetitions; repetition++) {
      await driver.load({ baseUrl: app.host.url, path: MAIL_PATH, cookies, offset, total: warmupRequests(settings, concurrency), concurrency, keepConnections: true });
      clearAppMemory(probes);
      log(`first visits: app, concurrency ${concurrency}, ${total} users once each (${repetition}/${settings.repetitions})`);
      const figures = await measureWarm(app, { label: `first-visit-${concurrency}`, cookies, offset, total, concurrency }, settings, probes);
      ((firstRuns[String(concurrency)] ??= {}).app ??= []).push(figures);
    }
  }

  const combine = (all: typeof runs): Results['warm'] =>
    Object.fromEntries(Object.entries(all).map(([key, bySide]) => [key, Object.fromEntries(Object.entries(bySide).map(([side, reps]) => [side, combineRepetitions(reps!)]))]));
  const warm = combine(runs);
  const firstVisit = combine(firstRuns);
  return { warm, firstVisit, versusFloor: versusFloor(warm, firstVisit) };
}

/** App ÷ floor at every concurrency (warm, and first visits where there is a run), and first visit ÷ warm. */
function versusFloor(warm: Results['warm'], firstVisit: Results['firstVisit']): Record<string, VersusFloor> {
  const out: Record<string, VersusFloor> = {};
  for (const [key, bySide] of Object.entries(warm)) {
    const floor = bySide.floor ?? (key === REVISIT ? warm['1']?.floor : undefined);
    const app = bySide.app;
    if (!app || !floor) continue;
    const first = firstVisit[key]?.app;
    out[key] = {
      requestsPerSecond: app.requestsPerSecond / floor.requestsPerSecond,
      serverCpuMsPerRequest: app.cpu.serverThreadMsPerRequest / floor.cpu.serverThreadMsPerRequest,
      ...(first
        ? {
            firstVisitRequestsPerSecond: first.requestsPerSecond / floor.requestsPerSecond,
            firstVisitServerCpuMsPerRequest: first.cpu.serverThreadMsPerRequest / floor.cpu.serverThreadMsPerRequest,
            firstVisitOverWarmServerCpu: first.cpu.serverThreadMsPerRequest / app.cpu.serverThreadMsPerRequest,
          }
        : {}),
    };
  }
  return out;
}

const rangeOf = (values: readonly number[]): Range => ({ min: Math.min(...values), max: Math.max(...values) });

/**
 * One figure set from repeated runs: the headline figures (req/s, server CPU and busy time per
 * request, p50 latency and overhead) are medians over the repetitions, with their min–max; the
 * rest comes from the repetition with the median throughput, except the worst single request
 * (the worst of all) and the memory-copy counts (summed).
 */
export function combineRepetitions(reps: readonly WarmFigures[]): WarmFigures {
  const byRate = [...reps].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond);
  const base = byRate[Math.floor((byRate.length - 1) / 2)]!;
  const pick = (get: (w: WarmFigures) => number): number[] => reps.map(get);
  const sum = (get: (w: WarmFigures) => number | undefined): number | undefined => (get(base) === undefined ? undefined : reps.reduce((s, w) => s + (get(w) ?? 0), 0));
  const worsts = reps.map((w) => w.storage.worstRequest).filter((w) => w !== undefined);
  const requests = reps.reduce((s, w) => s + w.requests, 0);
  const firstVisits = sum((w) => w.firstVisits);
  const optional = (name: keyof WarmFigures, value: number | undefined) => (value === undefined ? {} : { [name]: value });
  return {
    ...base,
    requestsPerSecond: median(pick((w) => w.requestsPerSecond)),
    latencyMs: { ...base.latencyMs, p50: median(pick((w) => w.latencyMs.p50)) },
    overheadMs: { ...base.overheadMs, p50: median(pick((w) => w.overheadMs.p50)) },
    serverThreadMsPerRequest: median(pick((w) => w.serverThreadMsPerRequest)),
    cpu: { ...base.cpu, serverThreadMsPerRequest: median(pick((w) => w.cpu.serverThreadMsPerRequest)) },
    storage: {
      ...base.storage,
      ...(worsts.length > 0
        ? {
            worstRequest: {
              maxReads: Math.max(...worsts.map((w) => w.maxReads)),
              maxWrites: Math.max(...worsts.map((w) => w.maxWrites)),
              maxTokenCacheReads: Math.max(...worsts.map((w) => w.maxTokenCacheReads)),
              maxTokenCacheWrites: Math.max(...worsts.map((w) => w.maxTokenCacheWrites)),
            },
          }
        : {}),
    },
    non200: reps.reduce((s, w) => s + w.non200, 0),
    repetitions: reps.length,
    spread: {
      requestsPerSecond: rangeOf(pick((w) => w.requestsPerSecond)),
      serverCpuMsPerRequest: rangeOf(pick((w) => w.cpu.serverThreadMsPerRequest)),
      latencyP50Ms: rangeOf(pick((w) => w.latencyMs.p50)),
      ...(firstVisits === undefined ? {} : { firstVisitShare: rangeOf(pick((w) => w.firstVisitShare ?? 0)) }),
    },
    ...optional('firstVisits', firstVisits),
    ...optional('firstVisitShare', firstVisits === undefined ? undefined : firstVisits / requests),
    ...optional('l1Hits', sum((w) => w.l1Hits)),
    ...optional('l1Misses', sum((w) => w.l1Misses)),
    ...optional('l1Evictions', sum((w) => w.l1Evictions)),
    ...optional('sessionMemoryHits', sum((w) => w.sessionMemoryHits)),
    ...optional('sessionMemoryMisses', sum((w) => w.sessionMemoryMisses)),
  };
}

/**
 * Times Graph calls as the servers' HTTP client sees them (request start to the end of the
 * response), for both sides: they share the app's Graph client, which speaks node:http(s) (see
 * src/graph/transport.ts), so Node's diagnostics channels see every call.
 */
export function timeGraphCalls(prefix: string): GraphTiming {
  const timing: GraphTiming = { calls: 0, ms: 0 };
  const graph = new URL(prefix);
  const started = new WeakMap<object, number>();
  diagnosticsChannel.subscribe('http.client.request.start', (message) => {
    const { request } = message as { request: ClientRequest };
    if (String(request.getHeader('host')) === graph.host && request.path.startsWith(graph.pathname)) started.set(request, performance.now());
  });
  diagnosticsChannel.subscribe('http.client.response.finish', (message) => {
    const { request } = message as { request: ClientRequest };
    const t0 = started.get(request);
    if (t0 === undefined) return;
    started.delete(request);
    timing.calls++;
    timing.ms += performance.now() - t0;
  });
  return timing;
}

interface CpuSnapshot {
  readonly process: number;
  readonly serverThread: number;
  readonly emulatorsTree: number;
  readonly emulatorsOwn: number;
  readonly machine: { busy: number; idle: number; steal: number };
}

function cpuSnapshot(emulatorsPid: number): CpuSnapshot {
  const usage = process.cpuUsage();
  return {
    process: (usage.user + usage.system) / 1000,
    serverThread: mainThreadCpuMs(),
    emulatorsTree: cpuMsOfTree(emulatorsPid),
    emulatorsOwn: cpuMsOf(emulatorsPid),
    machine: machineCpuMs(),
  };
}

/** Where the CPU went between two snapshots (ms), and how busy the whole machine was (% of all CPUs). */
function cpuDelta(a: CpuSnapshot, b: CpuSnapshot) {
  const serverThread = b.serverThread - a.serverThread;
  const processMs = b.process - a.process;
  const emulatorsTree = b.emulatorsTree - a.emulatorsTree;
  const emulatorsOwn = b.emulatorsOwn - a.emulatorsOwn;
  const busy = b.machine.busy - a.machine.busy;
  const idle = b.machine.idle - a.machine.idle;
  const steal = b.machine.steal - a.machine.steal;
  const all = busy + idle + steal;
  return {
    serverThread,
    /** The worker thread (proxy, load generator) and the process's other threads (GC helpers, libuv). */
    driver: processMs - serverThread,
    emulators: emulatorsOwn,
    azurite: emulatorsTree - emulatorsOwn,
    machineBusyPercent: (100 * busy) / all,
    stealPercent: (100 * steal) / all,
    /** CPU used by processes that are not this benchmark's (another build or test run would show here). */
    otherProcessesPercent: (100 * Math.max(0, busy - processMs - emulatorsTree)) / all,
  };
}

/** One timed run of `job` against `side`. */
async function measureWarm(side: Side, job: Job, settings: Settings, probes: Probes): Promise<WarmFigures> {
  const { admin, driver, l1, sessionMemory, graphTiming } = probes;
  const { total, concurrency } = job;
  const sessionMemoryBefore = sessionMemory ? { ...sessionMemory.stats } : undefined;
  await Promise.all([admin.resetEntraStats(), admin.resetGraphStats()]);
  const l1Before = l1 ? { ...l1.stats } : undefined;
  const graphBefore = { ...graphTiming };
  const cpu0 = cpuSnapshot(probes.emulatorsPid);
  const profiler = settings.profileDir === undefined ? undefined : await startProfiler();
  const eluBefore = performance.eventLoopUtilization();
  // At concurrency 1 each request's storage traffic is known exactly: the worst request counts.
  const { cookies, offset } = job;
  const run = await driver.load({ baseUrl: side.host.url, path: MAIL_PATH, cookies, offset, total, concurrency, perRequestStorage: concurrency === 1 });
  const elu = performance.eventLoopUtilization(eluBefore);
  if (profiler) await profiler.stopInto(path.join(settings.profileDir!, `warm-${job.label}-${side.name}.cpuprofile`));
  const cpu = cpuDelta(cpu0, cpuSnapshot(probes.emulatorsPid));
  const [entra, graph] = await Promise.all([admin.entraStats(), admin.graphStats()]);
  const storage = run.storage;
  const kind = (name: string): { reads: number; writes: number } => storage.byKind[name] ?? { reads: 0, writes: 0 };
  // The app's shared read (session + token cache in one query) counts for both, once in readsPerRequest.
  const tokenCache = { reads: kind('tokenCache').reads + kind('shared').reads, writes: kind('tokenCache').writes };
  const sessionsTable = { reads: kind('session').reads + kind('shared').reads, writes: kind('session').writes };
  const graphCalls = graphTiming.calls - graphBefore.calls;
  const graphMeanMs = graphCalls > 0 ? (graphTiming.ms - graphBefore.ms) / graphCalls : Number.NaN;
  // A request whose session this instance did not hold in memory is a first visit to the instance.
  const firstVisits = side.name === 'app' && sessionMemory && sessionMemoryBefore ? sessionMemory.stats.misses - sessionMemoryBefore.misses : undefined;
  return {
    requests: total,
    concurrency,
    requestsPerSecond: run.load.requestsPerSecond,
    latencyMs: run.load.latency,
    overheadMs: summarize(run.load.latencies.map((l) => l - settings.latency.graphMs)),
    outsideGraphMeanMs: run.load.latency.mean - graphMeanMs,
    graphRoundTripMeanMs: graphMeanMs,
    non200: total - (run.load.statuses['200'] ?? 0),
    storage: {
      readsPerRequest: storage.reads / total,
      writesPerRequest: storage.writes / total,
      tokenCacheReadsPerRequest: tokenCache.reads / total,
      tokenCacheWritesPerRequest: tokenCache.writes / total,
      sessionReadsPerRequest: sessionsTable.reads / total,
      sessionWritesPerRequest: sessionsTable.writes / total,
      sharedReadsPerRequest: kind('shared').reads / total,
      ...(run.worstRequest ? { worstRequest: run.worstRequest } : {}),
    },
    entraTokenRequestsPerRequest: entra.tokenRequests / total,
    graphRequestsPerRequest: graph.requests / total,
    serverThreadMsPerRequest: elu.active / total,
    serverThreadUtilization: elu.utilization,
    cpu: {
      serverThreadMsPerRequest: cpu.serverThread / total,
      driverMsPerRequest: cpu.driver / total,
      emulatorsMsPerRequest: cpu.emulators / total,
      azuriteMsPerRequest: cpu.azurite / total,
      machineBusyPercent: cpu.machineBusyPercent,
      stealPercent: cpu.stealPercent,
      otherProcessesPercent: cpu.otherProcessesPercent,
    },
    ...(firstVisits === undefined ? {} : { firstVisits, firstVisitShare: firstVisits / total }),
    ...(side.name === 'app' && l1 && l1Before
      ? { l1Hits: l1.stats.hits - l1Before.hits, l1Misses: l1.stats.misses - l1Before.misses, l1Evictions: l1.stats.evictions - l1Before.evictions }
      : {}),
    ...(side.name === 'app' && sessionMemory && sessionMemoryBefore
      ? { sessionMemoryHits: sessionMemory.stats.hits - sessionMemoryBefore.hits, sessionMemoryMisses: sessionMemory.stats.misses - sessionMemoryBefore.misses }
      : {}),
  };
}

/** The V8 profiler on this (the server's) thread: a diagnostic, its overhead is in the run's figures. */
async function startProfiler(): Promise<{ stopInto(file: string): Promise<void> }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  return {
    async stopInto(file) {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify(profile));
    },
  };
}
