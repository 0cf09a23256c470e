/**
 * The shape of bench/results.json and the markdown report printed on stdout.
 */
import type { LatencySummary } from './load';
import type { MemoryBreakdown } from './processes';

/** `floor`: the rig alone (bench/floor.ts), in the warm runs only. */
export type SideName = 'app' | 'baseline' | 'floor';

export interface WarmFigures {
  readonly requests: number;
  readonly concurrency: number;
  readonly requestsPerSecond: number;
  readonly latencyMs: LatencySummary;
  /** Latency minus the injected Graph latency. */
  readonly overheadMs: LatencySummary;
  /** Mean latency minus the mean Graph round trip measured at the server's fetch. */
  readonly outsideGraphMeanMs: number;
  readonly graphRoundTripMeanMs: number;
  readonly non200: number;
  readonly storage: {
    readonly readsPerRequest: number;
    readonly writesPerRequest: number;
    readonly tokenCacheReadsPerRequest: number;
    readonly tokenCacheWritesPerRequest: number;
    readonly sessionReadsPerRequest: number;
    readonly sessionWritesPerRequest: number;
    /** Reads that fetched a session and its token cache in one query (counted in both above, once in readsPerRequest). */
    readonly sharedReadsPerRequest: number;
    /** Concurrency 1 only: the most any single request cost. */
    readonly worstRequest?: { maxReads: number; maxWrites: number; maxTokenCacheReads: number; maxTokenCacheWrites: number };
  };
  readonly entraTokenRequestsPerRequest: number;
  readonly graphRequestsPerRequest: number;
  /** Busy time of the server's thread (event-loop utilization) per request, ms. */
  readonly serverThreadMsPerRequest: number;
  readonly serverThreadUtilization: number;
  /** CPU per request (ms) by where it was spent, and the machine's load during the run (Linux /proc). */
  readonly cpu: {
    /** The server under test: this process's main thread. */
    readonly serverThreadMsPerRequest: number;
    /** The load generator and storage proxy (worker thread) and the process's helper threads. */
    readonly driverMsPerRequest: number;
    /** The emulated Entra, Graph and Key Vault (one process). */
    readonly emulatorsMsPerRequest: number;
    readonly azuriteMsPerRequest: number;
    readonly machineBusyPercent: number;
    readonly stealPercent: number;
    readonly otherProcessesPercent: number;
  };
  readonly l1Hits?: number;
  readonly l1Misses?: number;
  readonly l1Evictions?: number;
  /** The app's remembered sessions (src/auth/session-memory.ts). */
  readonly sessionMemoryHits?: number;
  readonly sessionMemoryMisses?: number;
  /** The app only: requests whose session this instance did not hold in memory (first visits to the instance), and their share. */
  readonly firstVisits?: number;
  readonly firstVisitShare?: number;
  /** How many runs the figures come from (bench/warm.ts combineRepetitions: medians of the headline figures). */
  readonly repetitions?: number;
  /** Min–max over the repetitions of the headline figures. */
  readonly spread?: {
    readonly requestsPerSecond: Range;
    readonly serverCpuMsPerRequest: Range;
    readonly latencyP50Ms: Range;
    readonly firstVisitShare?: Range;
  };
}

export interface Range {
  readonly min: number;
  readonly max: number;
}

/** App ÷ floor at one concurrency, from medians measured side by side in the same run. */
export interface VersusFloor {
  readonly requestsPerSecond: number;
  readonly serverCpuMsPerRequest: number;
  readonly firstVisitRequestsPerSecond?: number;
  readonly firstVisitServerCpuMsPerRequest?: number;
  /** Server CPU per request of a first visit ÷ a warm request's, at the same concurrency. */
  readonly firstVisitOverWarmServerCpu?: number;
}

export interface StormFigures {
  readonly users: number;
  /** Server instances the requests were spread over. */
  readonly instances: number;
  readonly requests: number;
  readonly ok: number;
  readonly unauthorized: number;
  readonly otherFailures: number;
  /** Successful refresh-token redemptions (the emulated Entra's count). */
  readonly refreshTokenRedemptions: number;
  /** refresh_token grant requests, successful or not. */
  readonly refreshTokenRequests: number;
  readonly reuseDetectedRevocations: number;
  readonly tokenErrors: Record<string, number>;
  readonly lostCacheUpdates: number;
  readonly blindOverwrites: number;
  readonly storageConflicts: number;
  readonly storageReads: number;
  readonly storageWrites: number;
  readonly latencyMs: LatencySummary;
  readonly appRefreshes?: number;
  readonly appCoalesced?: number;
  readonly appLeaseWaits?: number;
  readonly baselineInteractionRequired?: number;
}

export interface Target {
  readonly name: string;
  readonly measured: string;
  readonly result: 'PASS' | 'MISS';
  readonly why?: string;
}

export interface MemoryRun {
  requests: number;
  users: number;
  /** Node flags the child was started with (besides --expose-gc and the probe). */
  nodeArgs?: string[];
  rssAtStartBytes: number;
  rssBytes: number;
  peakRssBytes: number;
  requestsPerSecond: number;
  non200: number;
  samples: { requests: number; rssBytes: number }[];
  /** The child's memoryUsage(), V8 spaces and /proc RSS parts at start, at the end, and at the end after a forced full GC. */
  breakdown?: { atStart: MemoryBreakdown; end: MemoryBreakdown; endAfterGc: MemoryBreakdown };
}

export interface Results {
  generatedAt: string;
  durationSeconds: number;
  machine: { cpuCount: number; availableParallelism: number; cpuModel: string; totalMemoryBytes: number; node: string; platform: string };
  settings: Record<string, unknown>;
  setup: { users: number; signIns: number; seconds: number };
  /** concurrency -> side -> figures */
  warm: Record<string, Partial<Record<SideName, WarmFigures>>>;
  /** concurrency -> app -> figures of the runs with the app's memory copies cleared and each user once. */
  firstVisit: Record<string, Partial<Record<SideName, WarmFigures>>>;
  /** concurrency (warm key) -> app ÷ floor. */
  versusFloor: Record<string, VersusFloor>;
  storm: {
    oneUser: Partial<Record<SideName, StormFigures>>;
    oneUserTwoInstances: Partial<Record<SideName, StormFigures>>;
    manyUsers: Partial<Record<SideName, StormFigures>>;
    oneUserNoReuseDetection: Partial<Record<SideName, StormFigures>>;
  };
  cold: {
    runs: number;
    app: { healthMs: number; healthCpuMs: number; mailMs: number; bundleLoadMs: number; bundleBytes: number; serveBundleBytes: number; samples: Record<string, number[]> };
    hello: { healthMs: number; healthCpuMs: number; bundleLoadMs: number; bundleBytes: number; samples: Record<string, number[]> };
  };
  /**
   * The memory run: the app child with V8 sized for this machine (top level, as in earlier runs),
   * and again with the heap limits Node sets itself on an instance of `instance.instanceMemoryMb`
   * (the figure the target is judged on).
   */
  memory: MemoryRun & { instance?: MemoryRun & { instanceMemoryMb: number } };
  /** Telemetry on (OTLP/HTTP to a local sink) vs off: bench/telemetry.ts. */
  telemetry?: import('./telemetry').TelemetryCost;
  appLogErrors: number;
  baselineCounters: Record<string, number>;
  notes: string[];
  targets: Target[];
  /** Every figure above by dotted path, for tools (and the test that keeps the bench working). */
  figures?: Record<string, number>;
}

/** The memory section of the report (also printed alone by `--only memory`). */
export function formatMemory(m: Results['memory']): string {
  const lines: string[] = ['## Memory (app child process)', ''];
  const runs: [string, MemoryRun][] = [
    ...(m.instance ? [[`as on a ${m.instance.instanceMemoryMb} MB instance`, m.instance] as [string, MemoryRun]] : []),
    ['V8 sized for this machine', m],
  ];
  lines.push(
    `${m.requests} warm /api/mail requests over ${m.users} users at concurrency 64, in \`node dist/serve.js\` started with the flags shown.` +
      (m.instance
        ? ` "As on a ${m.instance.instanceMemoryMb} MB instance": the V8 heap limits Node sets itself when its memory is limited to ${m.instance.instanceMemoryMb} MB, as on a Flex Consumption instance of that size (infra instanceMemoryMB); the target is judged on it. ` +
          `"V8 sized for this machine": no heap flags, so V8 sizes its heap for all of this machine's memory and lets garbage pile up far longer before it collects.`
        : ''),
    '',
    '| run | node flags | RSS at start MB | RSS at end MB | peak MB | along the way (requests: MB) | req/s | non-200 |',
    '|---|---|---:|---:|---:|---|---:|---:|',
  );
  for (const [label, run] of runs) {
    lines.push(
      `| ${label} | ${run.nodeArgs && run.nodeArgs.length > 0 ? `\`${run.nodeArgs.join(' ')}\`` : 'none'} | ${mb(run.rssAtStartBytes)} | ${mb(run.rssBytes)} | ${mb(run.peakRssBytes)} | ${run.samples.map((x) => `${x.requests}: ${mb(x.rssBytes)}`).join(', ')} | ${n(run.requestsPerSecond)} | ${run.non200} |`,
    );
  }
  for (const [label, run] of runs) {
    const b = run.breakdown;
    if (!b) continue;
    const columns = [
      ['at start', b.atStart],
      ['end', b.end],
      ['end, after a forced full GC', b.endAfterGc],
    ] as const;
    const space = (x: MemoryBreakdown, name: string): string => {
      const sp = x.spaces[name];
      return sp ? `${mb(sp.used)} / ${mb(sp.size)}` : 'n/a';
    };
    const rows: [string, (x: MemoryBreakdown) => string][] = [
      ['rss', (x) => mb(x.rss)],
      ['rss: anonymous / file-backed (node binary, libraries)', (x) => `${mb(x.rssAnon)} / ${mb(x.rssFile)}`],
      ['heapTotal', (x) => mb(x.heapTotal)],
      ['heapUsed', (x) => mb(x.heapUsed)],
      ['new space used / size', (x) => space(x, 'new_space')],
      ['old space used / size', (x) => space(x, 'old_space')],
      ['code space used / size', (x) => space(x, 'code_space')],
      ['large object space used / size', (x) => space(x, 'large_object_space')],
      ['external (arrayBuffers included)', (x) => mb(x.external)],
      ['arrayBuffers', (x) => mb(x.arrayBuffers)],
      ['V8 malloced', (x) => mb(x.mallocedMemory)],
      // After a forced GC this also counts heap pages V8 has freed but not yet given back.
      ['anonymous rss - heapTotal - external (malloc: TLS, HTTP parsers, compiler zones)', (x) => mb(x.rssAnon - x.heapTotal - x.external)],
    ];
    lines.push('', `Breakdown, ${label} (MB):`, '', `| | ${columns.map(([c]) => c).join(' | ')} |`, `|---|${columns.map(() => '---:').join('|')}|`);
    for (const [row, get] of rows) lines.push(`| ${row} | ${columns.map(([, x]) => get(x)).join(' | ')} |`);
  }
  return lines.join('\n');
}

const n = (value: number | undefined, digits = 0): string => (value === undefined || !Number.isFinite(value) ? 'n/a' : value.toFixed(digits));
const ratio = (a: number, b: number): string => (b > 0 && Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : 'n/a');
const mb = (bytes: number): string => n(bytes / 1024 / 1024, 1);

const spread = (range: Range | undefined, digits: number): string => (range ? ` (${n(range.min, digits)}–${n(range.max, digits)})` : '');
const share = (w: WarmFigures): string => (w.firstVisitShare === undefined ? 'n/a' : `${n(100 * w.firstVisitShare, 0)}%`);

/** The headline: app ÷ floor per concurrency, warm and first visits, medians with their spreads. */
export function formatAtTheFloor(r: Results): string {
  const reps = r.warm['16']?.app?.repetitions ?? 1;
  const lines: string[] = [
    `## App ÷ floor: warm runs and first visits (median of ${reps} runs, min–max in brackets)`,
    '',
    'Warm: every user of the timed run was served by this instance just before it (pre-warmed). ' +
      'First visit: the app\'s memory copies cleared just before the run, each user once (as on a new instance). ' +
      '"first visits" is the share of the run\'s requests whose session the instance did not hold in memory. At c=1 the first run is a first visit and "1-revisit" the same users again.',
    '',
    '| c | run | app req/s | floor req/s | app ÷ floor req/s | app server CPU ms/req | floor server CPU ms/req | app ÷ floor CPU | first-visit CPU ÷ warm | first visits | storage reads/req |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const row = (c: string, run: string, app: WarmFigures, floor: WarmFigures | undefined, overWarm: number | undefined): void => {
    lines.push(
      `| ${c} | ${run} | ${n(app.requestsPerSecond)}${spread(app.spread?.requestsPerSecond, 0)} | ${floor ? `${n(floor.requestsPerSecond)}${spread(floor.spread?.requestsPerSecond, 0)}` : 'n/a'} | ${floor ? ratio(app.requestsPerSecond, floor.requestsPerSecond) : 'n/a'} | ` +
        `${n(app.cpu.serverThreadMsPerRequest, 2)}${spread(app.spread?.serverCpuMsPerRequest, 2)} | ${floor ? `${n(floor.cpu.serverThreadMsPerRequest, 2)}${spread(floor.spread?.serverCpuMsPerRequest, 2)}` : 'n/a'} | ` +
        `${floor ? ratio(app.cpu.serverThreadMsPerRequest, floor.cpu.serverThreadMsPerRequest) : 'n/a'} | ${overWarm === undefined ? '' : `${n(overWarm, 2)}x`} | ${share(app)} | ${n(app.storage.readsPerRequest, 2)} |`,
    );
  };
  for (const [c, bySide] of Object.entries(r.warm)) {
    const app = bySide.app;
    if (!app) continue;
    const floor = bySide.floor ?? (c === '1-revisit' ? r.warm['1']?.floor : undefined);
    row(c === '1-revisit' ? '1' : c, c === '1' ? 'first visit' : c === '1-revisit' ? 'revisit (warm)' : 'warm', app, floor, undefined);
    const first = r.firstVisit[c]?.app;
    if (first) row(c, 'first visit', first, floor, r.versusFloor[c]?.firstVisitOverWarmServerCpu);
  }
  return lines.join('\n');
}

export function formatReport(r: Results): string {
  const lines: string[] = [];
  const s = r.settings as { users: number; latency: { storageMs: number; tokenMs: number; graphMs: number }; quick: boolean };
  lines.push(`# Cost per request: app vs msal-node distributed-cache sample${s.quick ? ' (--quick)' : ''}`, '');
  lines.push(
    `${r.machine.cpuCount} CPUs (${r.machine.cpuModel}), Node ${r.machine.node}. Injected latency: storage ${s.latency.storageMs} ms/request, ` +
      `Entra token ${s.latency.tokenMs} ms, Graph ${s.latency.graphMs} ms. ${s.users} users signed in through the real flow. Run took ${n(r.durationSeconds, 0)} s.`,
    '',
  );

  lines.push(formatAtTheFloor(r), '');
  lines.push('## Warm /api/mail (access token valid)', '');
  lines.push('| c | side | req/s | p50 ms | p99 ms | overhead p50 ms | outside Graph ms (mean) | storage reads/req | writes/req | token-cache reads/req | token-cache writes/req | Entra calls/req | non-200 |');
  lines.push('|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const [c, bySide] of Object.entries(r.warm)) {
    for (const side of ['app', 'baseline', 'floor'] as const) {
      const w = bySide[side];
      if (!w) continue;
      lines.push(
        `| ${c} | ${side} | ${n(w.requestsPerSecond)} | ${n(w.latencyMs.p50, 1)} | ${n(w.latencyMs.p99, 1)} | ${n(w.overheadMs.p50, 1)} | ${n(w.outsideGraphMeanMs, 1)} | ${n(w.storage.readsPerRequest, 2)} | ${n(w.storage.writesPerRequest, 2)} | ${n(w.storage.tokenCacheReadsPerRequest, 2)} | ${n(w.storage.tokenCacheWritesPerRequest, 2)} | ${n(w.entraTokenRequestsPerRequest, 2)} | ${w.non200} |`,
      );
    }
  }
  lines.push('', '### Where the CPU went (ms per request) and how busy the machine was', '');
  lines.push('| c | side | server thread | load driver + proxy | Entra/Graph/KV emulators | Azurite | machine busy % | steal % | other processes % |');
  lines.push('|---:|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const [c, bySide] of Object.entries(r.warm)) {
    for (const side of ['app', 'baseline', 'floor'] as const) {
      const w = bySide[side];
      if (!w) continue;
      const u = w.cpu;
      lines.push(
        `| ${c} | ${side} | ${n(u.serverThreadMsPerRequest, 2)} | ${n(u.driverMsPerRequest, 2)} | ${n(u.emulatorsMsPerRequest, 2)} | ${n(u.azuriteMsPerRequest, 2)} | ${n(u.machineBusyPercent, 0)} | ${n(u.stealPercent, 1)} | ${n(u.otherProcessesPercent, 0)} |`,
      );
    }
  }
  lines.push('', '### Ratios, app ÷ baseline', '');
  lines.push('| c | req/s | p50 latency | p99 latency | overhead p50 | storage round trips/req | server thread CPU ms/req |');
  lines.push('|---:|---:|---:|---:|---:|---:|---:|');
  for (const [c, bySide] of Object.entries(r.warm)) {
    const a = bySide.app;
    const b = bySide.baseline;
    if (!a || !b) continue;
    lines.push(
      `| ${c} | ${ratio(a.requestsPerSecond, b.requestsPerSecond)} | ${ratio(a.latencyMs.p50, b.latencyMs.p50)} | ${ratio(a.latencyMs.p99, b.latencyMs.p99)} | ${ratio(a.overheadMs.p50, b.overheadMs.p50)} | ${ratio(a.storage.readsPerRequest + a.storage.writesPerRequest, b.storage.readsPerRequest + b.storage.writesPerRequest)} | ${ratio(a.cpu.serverThreadMsPerRequest, b.cpu.serverThreadMsPerRequest)} |`,
    );
  }
  const c1 = r.warm['1'];
  if (c1?.app?.storage.worstRequest && c1.baseline?.storage.worstRequest) {
    const a = c1.app.storage.worstRequest;
    const b = c1.baseline.storage.worstRequest;
    lines.push(
      '',
      `Worst single request at c=1: app ${a.maxReads} reads (${a.maxTokenCacheReads} token-cache) / ${a.maxWrites} writes; baseline ${b.maxReads} reads (${b.maxTokenCacheReads} token-cache) / ${b.maxWrites} writes.` +
        (c1.app.l1Hits !== undefined ? ` App memory copies at c=1: token cache ${c1.app.l1Hits} hits, ${c1.app.l1Misses} misses` : '') +
        (c1.app.sessionMemoryHits !== undefined ? `; sessions ${c1.app.sessionMemoryHits} hits, ${c1.app.sessionMemoryMisses} misses.` : '.'),
    );
  }

  lines.push('', '## Refresh storm (access token due, all requests at once)', '');
  lines.push('| scenario | side | requests | 200 | 401 | redemptions ok / attempts | reuse revocations | lost cache updates | blind overwrites | storage conflicts | p50 ms | p99 ms |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const [label, bySide] of [
    ['reuse detection on', r.storm.oneUser],
    ['reuse detection on', r.storm.oneUserTwoInstances],
    ['reuse detection on', r.storm.manyUsers],
    ['reuse detection off', r.storm.oneUserNoReuseDetection],
  ] as const) {
    for (const side of ['app', 'baseline'] as const) {
      const st = bySide[side];
      if (!st) continue;
      lines.push(
        `| ${st.users} user${st.users === 1 ? '' : 's'} × ${st.requests / st.users}${st.instances > 1 ? ` over ${st.instances} instances` : ''}, ${label} | ${side} | ${st.requests} | ${st.ok} | ${st.unauthorized} | ${st.refreshTokenRedemptions} / ${st.refreshTokenRequests} | ${st.reuseDetectedRevocations} | ${st.lostCacheUpdates} | ${st.blindOverwrites} | ${st.storageConflicts} | ${n(st.latencyMs.p50, 0)} | ${n(st.latencyMs.p99, 0)} |`,
      );
    }
  }

  lines.push('', `## Cold start (median of ${r.cold.runs} child processes)`, '');
  lines.push('| | app | hello-world | ratio |');
  lines.push('|---|---:|---:|---:|');
  lines.push(`| spawn → first 200 /api/health | ${n(r.cold.app.healthMs, 0)} ms | ${n(r.cold.hello.healthMs, 0)} ms | ${ratio(r.cold.app.healthMs, r.cold.hello.healthMs)} |`);
  lines.push(`| CPU of the process at that 200 | ${n(r.cold.app.healthCpuMs, 0)} ms | ${n(r.cold.hello.healthCpuMs, 0)} ms | ${ratio(r.cold.app.healthCpuMs, r.cold.hello.healthCpuMs)} |`);
  lines.push(`| spawn → first 200 /api/mail | ${n(r.cold.app.mailMs, 0)} ms | n/a | |`);
  lines.push(`| require() of the bundle | ${n(r.cold.app.bundleLoadMs, 1)} ms | ${n(r.cold.hello.bundleLoadMs, 1)} ms | ${ratio(r.cold.app.bundleLoadMs, r.cold.hello.bundleLoadMs)} |`);
  lines.push(`| bundle size (dist/main.js vs hello) | ${n(r.cold.app.bundleBytes / 1024, 0)} KiB | ${n(r.cold.hello.bundleBytes / 1024, 0)} KiB | ${ratio(r.cold.app.bundleBytes, r.cold.hello.bundleBytes)} |`);

  lines.push('', formatMemory(r.memory));
  lines.push('', '## Targets', '');
  lines.push('| target | measured | result |');
  lines.push('|---|---|---|');
  for (const t of r.targets) lines.push(`| ${t.name} | ${t.measured} | ${t.result} |`);
  lines.push('', '## Notes', '');
  for (const note of r.notes) lines.push(`- ${note}`);
  lines.push('');
  return `${lines.join('\n')}\n`;
}
