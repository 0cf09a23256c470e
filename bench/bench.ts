/**
 * `npm run bench [-- --quick]`: the cost per request of this app, side by side with the usual way
 * (bench/baseline.ts: the msal-node distributed-cache sample), in one run on the same emulators.
 *
 * Phases (all against one emulated Azure started here and stopped at the end, also on error):
 *   setup   users created in the emulated Entra and signed in through the real flow, once through
 *           the app and once through the baseline (no injected latency: sign-in is not measured)
 *   warm    /api/mail with a valid access token, concurrency 1 (first visits, then a revisit), 16, 64
 *           with the users pre-warmed on the instance, and first visits at 16 and 64 with the app's
 *           memory copies cleared; each run repeated, medians with min–max (bench/warm.ts)
 *   storm   200 concurrent requests for one user whose access token is due, then 4 each for many
 *           users at once, with refresh-token reuse detection on; then one user again with it off
 *   cold    child processes: spawn -> first 200 of /api/health and /api/mail, bundle load time/size,
 *           against the hello-world bundle (bench/hello)
 *   memory  a child process serving many requests spread over every user; its RSS
 *
 * Latency that mimics Azure in one region is injected: storage by the proxy in front of Azurite
 * (bench/storage-proxy.ts), token calls and Graph by the emulators' `latencyMs` settings. The app
 * and the baseline run in this process's main thread, one after the other; the proxy and the load
 * generator run in a worker thread (bench/driver.ts).
 *
 * Options: --quick, --out <file> (default bench/results.json), --users <n>, --memory-requests <n>, --cold-runs <n>,
 *          --repetitions <n> (of every warm and first-visit run, default 3),
 *          --storage-latency-ms <n>, --token-latency-ms <n>, --graph-latency-ms <n>,
 *          --only memory (users signed in through the app only, then the memory run alone; prints its
 *          section of the report and writes results.json only with --out),
 *          --only requests (setup, then the warm and first-visit runs alone; prints their headline
 *          table and writes results.json only with --out),
 *          --memory-node-args "<flags>" (more node flags for the memory runs' children, to try them;
 *          stated in the report), --instance-memory-mb <n> (the instance size whose V8 heap limits the
 *          judged memory run uses; default 2048 as infra/main.bicep's instanceMemoryMB; 0: skip that run).
 */
import { statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isMainThread, workerData } from 'node:worker_threads';
import { loadConfig } from '../src/config';
import { createServices, lazyServices } from '../src/create-services';
import { startLocalHost } from '../src/http/local-host';
import { createRoutes } from '../src/routes';
import type { Services } from '../src/services';
import type { MsalTokenService } from '../src/auth/msal-token-service';
import { RememberingSessionStore } from '../src/auth/session-memory';
import { parseSessionCookie } from '../src/auth/session-cookie';
import type { L1TokenCacheStore } from '../src/cache/l1-token-cache-store';
import { createBaseline, type Baseline } from './baseline';
import { createFloorRoutes } from './floor';
import { Browser, signIn } from './browser';
import { EmulatorAdmin, startEmulators, type EmulatorsInfo, type EntraStats, type EntraUser, type RunningEmulators } from './emulators';
import { Driver, runDriver, type LoadJobResult } from './driver';
import { mapLimit, median } from './load';
import { cpuMsOf, instanceHeapFlags, loadTimes, msUntil200, rssOf, serve, stopAllChildren } from './processes';
import { formatAtTheFloor, formatMemory, formatReport, type MemoryRun, type Results, type StormFigures } from './report';
import { evaluateTargets, flatten } from './targets';
import { MAIL_PATH, measureRequestRuns, timeGraphCalls, type Probes, type Side } from './warm';
import { runScale, withScaleSection } from './scale';
import { formatTelemetryCost, measureTelemetryCost, type TelemetryCost } from './telemetry';

const ROOT = path.resolve(__dirname, '..');
/** MSAL treats an access token as expired this long before its expiry. */
const MSAL_REFRESH_OFFSET_S = 300;
/** Access-token lifetime for storm users' sign-ins: already inside MSAL's refresh window. */
const STORM_TOKEN_TTL_S = MSAL_REFRESH_OFFSET_S - 10;

export interface Settings {
  readonly quick: boolean;
  readonly users: number;
  readonly concurrencies: readonly number[];
  /** Measured requests per side at each concurrency, in each repetition. */
  readonly warmRequests: Readonly<Record<number, number>>;
  /** Every warm and first-visit run is repeated this often; the figures are medians with min–max. */
  readonly repetitions: number;
  /** Requests of a first-visit run (each user once, so at most the number of users). */
  readonly firstVisitRequests: number;
  readonly stormOneUserRequests: number;
  readonly stormUsers: number;
  readonly stormRequestsPerUser: number;
  readonly coldRuns: number;
  readonly memoryRequests: number;
  readonly memoryConcurrency: number;
  /** Node flags for the memory runs' children, besides the probe's. */
  readonly memoryNodeArgs: readonly string[];
  /**
   * The memory run is repeated with the V8 heap limits Node sets itself on an instance with this
   * much memory (infra/main.bicep instanceMemoryMB, default 2048); 0 skips it.
   */
  readonly instanceMemoryMb: number;
  /** `--only memory`: setup through the app only, then the memory run. */
  readonly memoryOnly: boolean;
  readonly signInConcurrency: number;
  readonly latency: { readonly storageMs: number; readonly tokenMs: number; readonly graphMs: number };
  readonly out: string;
  /** `--profile <dir>`: a CPU profile of the server thread for each warm run, written there. */
  readonly profileDir: string | undefined;
  /** --out was given (--only memory writes results.json only then). */
  readonly outGiven: boolean;
  /** `--only requests`: setup, then the warm and first-visit runs alone (bench/warm.ts). */
  readonly requestsOnly: boolean;
}

function parseSettings(argv: readonly string[]): Settings {
  const flag = (name: string): boolean => argv.includes(name);
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const number = (name: string, fallback: number): number => {
    const text = value(name);
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number ("${text}")`);
    return n;
  };
  const quick = flag('--quick');
  const only = value('--only');
  if (only !== undefined && only !== 'memory' && only !== 'requests') throw new Error(`--only takes "memory" or "requests" ("${only}")`);
  const users = number('--users', quick ? 64 : 1000);
  return {
    quick,
    users,
    concurrencies: [1, 16, 64],
    warmRequests: quick ? { 1: 8, 16: 128, 64: 256 } : { 1: 60, 16: 800, 64: 1600 },
    repetitions: Math.max(1, number('--repetitions', 3)),
    firstVisitRequests: quick ? 64 : 1000,
    stormOneUserRequests: 200,
    stormUsers: quick ? 10 : 50,
    stormRequestsPerUser: 4,
    coldRuns: number('--cold-runs', quick ? 3 : 5),
    memoryRequests: number('--memory-requests', quick ? 1000 : 20_000),
    memoryConcurrency: 64,
    memoryNodeArgs: (value('--memory-node-args') ?? '').split(/\s+/).filter(Boolean),
    instanceMemoryMb: number('--instance-memory-mb', 2048),
    memoryOnly: only === 'memory',
    signInConcurrency: 8,
    latency: {
      storageMs: number('--storage-latency-ms', 5),
      tokenMs: number('--token-latency-ms', 20),
      graphMs: number('--graph-latency-ms', 50),
    },
    out: path.resolve(value('--out') ?? path.join(ROOT, 'bench', 'results.json')),
    outGiven: value('--out') !== undefined,
    profileDir: value('--profile') === undefined ? undefined : path.resolve(value('--profile')!),
    requestsOnly: only === 'requests',
  };
}

interface SignedIn {
  readonly user: EntraUser;
  /** `__Host-session=...` for the server the user signed in at. */
  readonly cookie: string;
}

const cleanups: (() => Promise<void>)[] = [];

async function cleanup(): Promise<void> {
  for (const step of cleanups.splice(0).reverse()) await step().catch(() => {});
}

const startedAt = Date.now();

function log(message: string): void {
  process.stderr.write(`bench: [${((Date.now() - startedAt) / 1000).toFixed(0)} s] ${message}\n`);
}

async function main(): Promise<void> {
  const settings = parseSettings(process.argv.slice(2));
  if (!process.env['NODE_EXTRA_CA_CERTS']) {
    throw new Error('NODE_EXTRA_CA_CERTS is not set: run `npm run bench` (it runs under scripts/with-test-ca.mjs) so the emulators\' TLS is trusted.');
  }
  const started = Date.now();

  log('starting the emulators');
  const emulators: RunningEmulators = await startEmulators(ROOT);
  cleanups.push(() => emulators.stop());
  cleanups.push(() => stopAllChildren());
  const info: EmulatorsInfo = emulators.info;
  const admin = new EmulatorAdmin(info);
  const emulatorsPid = emulators.child.pid!;

  // The storage proxy and the load generator run in a worker thread (bench/driver.ts).
  const driver = await Driver.start(__filename, info.tables.endpoint);
  cleanups.push(() => driver.stop());
  const env: Record<string, string> = { ...info.env, TABLES_CONNECTION_STRING: driver.connectionString(info.tables.connectionString) };

  // Graph round trips as the servers see them (to the response headers), for the overhead breakdown.
  const graphTiming = timeGraphCalls(`${info.graph.url.replace(/\/?$/, '/')}v1.0/`);

  // The app in-process: the real route table on the local host, as test/support/app.ts runs it.
  let appLogErrors = 0;
  let appServices: Services | undefined;
  const appHost = await startLocalHost({
    routes: createRoutes(lazyServices(() => appServices!)),
    port: 0,
    log: (level) => {
      if (level === 'error' || level === 'critical') appLogErrors++;
    },
  });
  cleanups.push(() => appHost.stop());
  const appConfig = loadConfig({ ...env, PUBLIC_BASE_URL: appHost.url });
  appServices = createServices(appConfig, { log: { warn: () => {}, error: () => void appLogErrors++ } });
  const l1 = (appServices.tokenCacheStore as Partial<L1TokenCacheStore>).l1;
  const sessionMemory = appServices.sessionStore instanceof RememberingSessionStore ? appServices.sessionStore : undefined;
  // A second app instance (own services: memory copy, in-process coalescing, lease holder id).
  let appServices2: Services | undefined;
  const appHost2 = await startLocalHost({
    routes: createRoutes(lazyServices(() => appServices2!)),
    port: 0,
    log: (level) => {
      if (level === 'error' || level === 'critical') appLogErrors++;
    },
  });
  cleanups.push(() => appHost2.stop());
  appServices2 = createServices(loadConfig({ ...env, PUBLIC_BASE_URL: appHost2.url }), { log: { warn: () => {}, error: () => void appLogErrors++ } });
  const tokens = [appServices.tokens as MsalTokenService, appServices2.tokens as MsalTokenService];

  // The baseline on a second local host in the same process, loaded the same way. Its sessions are
  // the app's kind (own Services instance over the same tables), its token cache is the sample's.
  let baselineUrl = '';
  // Memory copy off: the baseline's session read is a plain point read, as a separate session store's would be.
  const baselineConfig = loadConfig({ ...env, PUBLIC_BASE_URL: 'http://127.0.0.1', TOKEN_CACHE_MEMORY_MB: '0' });
  const baselineServices = createServices(baselineConfig, { log: { warn: () => {}, error: () => {} } });
  const baseline: Baseline = await createBaseline({
    config: baselineConfig,
    connectionString: env['TABLES_CONNECTION_STRING']!,
    sessions: baselineServices.sessions,
    sessionStore: baselineServices.sessionStore,
    origin: () => baselineUrl,
  });
  const baselineServer = await startLocalHost({ routes: baseline.routes, port: 0, log: () => {} });
  cleanups.push(() => baselineServer.stop());
  baselineUrl = baselineServer.url;
  // The baseline keeps nothing between requests, so a second listener is a second instance.
  const baselineServer2 = await startLocalHost({ routes: baseline.routes, port: 0, log: () => {} });
  cleanups.push(() => baselineServer2.stop());
  const sides: Side[] = [
    { name: 'app', host: appHost, second: appHost2 },
    { name: 'baseline', host: baselineServer, second: baselineServer2 },
  ];
  const probes: Probes = { admin, driver, l1, sessionMemory, graphTiming, emulatorsPid, tokens, baseline };

  // ---------------------------------------------------------------------------------------------
  // Setup: users, signed in through the real flow on both sides, with no injected latency.
  // ---------------------------------------------------------------------------------------------
  await setLatency(admin, driver, { storageMs: 0, tokenMs: 0, graphMs: 0 });
  log(`creating ${settings.users} users and signing each in through the app and through the baseline`);
  const setupStarted = Date.now();
  const users = await mapLimit(Array.from({ length: settings.users }, (_, i) => i), 16, () => admin.createUser());
  const serveScript = path.join(ROOT, 'dist', 'serve.js');
  if (settings.memoryOnly) {
    const appSignIns = await mapLimit(users, settings.signInConcurrency, (user) => signInAt(appHost.url, user));
    log(`signed ${users.length} users in through the app in ${((Date.now() - setupStarted) / 1000).toFixed(1)} s`);
    await setLatency(admin, driver, settings.latency);
    const memory = await measureMemoryRuns(settings, serveScript, env, driver, appSignIns.map((s) => s.cookie));
    if (settings.outGiven) {
      writeFileSync(settings.out, `${JSON.stringify({ generatedAt: new Date().toISOString(), settings: { ...settings, tokenCacheMemory: appConfig.tokenCacheMemory }, memory }, null, 2)}\n`);
    }
    process.stdout.write(`${formatMemory(memory)}\n`);
    return;
  }
  const signInBoth = async (user: EntraUser): Promise<{ app: SignedIn; baseline: SignedIn }> => ({
    app: await signInAt(appHost.url, user),
    baseline: await signInAt(baselineServer.url, user),
  });
  const signedIn = await mapLimit(users, settings.signInConcurrency, signInBoth);
  const setupSeconds = (Date.now() - setupStarted) / 1000;
  log(`signed ${users.length} users in twice in ${setupSeconds.toFixed(1)} s`);

  // The rig's floor (bench/floor.ts), with each user's access token fetched once, now, by services
  // of its own, so that the app's memories stay as the runs below expect them.
  const floorServices = createServices(appConfig, { log: { warn: () => {}, error: () => {} } });
  const floorTokens = new Map<string, string>();
  await mapLimit(signedIn, 16, async ({ app }) => {
    const { homeAccountId } = parseSessionCookie(app.cookie)!;
    floorTokens.set(app.cookie, (await floorServices.tokens.acquire(homeAccountId, appConfig.graphScopes)).accessToken);
  });
  const floorHost = await startLocalHost({
    routes: createFloorRoutes({ graphEndpoint: appConfig.graphEndpoint, accessTokenFor: (cookie) => floorTokens.get(cookie) }),
    port: 0,
    log: () => {},
  });
  cleanups.push(() => floorHost.stop());
  const floor: Side = { name: 'floor', host: floorHost, second: floorHost };

  await setLatency(admin, driver, settings.latency);

  // ---------------------------------------------------------------------------------------------
  // Warm requests and first visits (bench/warm.ts).
  // ---------------------------------------------------------------------------------------------
  // The floor looks tokens up by the app's cookies.
  const cookiesOf = (side: Side['name']): string[] => signedIn.map((s) => s[side === 'floor' ? 'app' : side].cookie);
  const { warm, firstVisit, versusFloor } = await measureRequestRuns(settings, [...sides, floor], cookiesOf, probes, log);
  if (settings.requestsOnly) {
    const partial = { generatedAt: new Date().toISOString(), settings, warm, firstVisit, versusFloor } as unknown as Results;
    if (settings.outGiven) writeFileSync(settings.out, `${JSON.stringify(partial, null, 2)}\n`);
    process.stdout.write(`${formatAtTheFloor(partial)}\n`);
    log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return;
  }

  // ---------------------------------------------------------------------------------------------
  // Refresh storms.
  // ---------------------------------------------------------------------------------------------
  log('storm: signing in fresh users whose access tokens MSAL treats as expired at once');
  await setLatency(admin, driver, { storageMs: 0, tokenMs: 0, graphMs: 0 });
  await admin.entraSettings({ accessTokenTtlSeconds: STORM_TOKEN_TTL_S });
  const perSide = 1 + settings.stormUsers + 2;
  const stormUsers = await mapLimit(Array.from({ length: 2 * perSide }, (_, i) => i), 16, () => admin.createUser());
  const stormSignIns = await mapLimit(stormUsers, settings.signInConcurrency, (user, i) => signInAt(i < perSide ? appHost.url : baselineServer.url, user));
  // Tokens issued by the refreshes are good for an hour: only the ones from these sign-ins are due.
  await admin.entraSettings({ accessTokenTtlSeconds: 3600 });
  await setLatency(admin, driver, settings.latency);
  const storm: Results['storm'] = { oneUser: {}, oneUserTwoInstances: {}, manyUsers: {}, oneUserNoReuseDetection: {} };
  for (const [index, side] of sides.entries()) {
    const mine = stormSignIns.slice(index * perSide, (index + 1) * perSide);
    const one = mine[0]!;
    const many = mine.slice(1, 1 + settings.stormUsers);
    const noReuse = mine[1 + settings.stormUsers]!;
    const overTwo = mine[2 + settings.stormUsers]!;
    await admin.entraSettings({ refreshTokenReuseDetection: true });
    log(`storm: ${side.name}, ${settings.stormOneUserRequests} concurrent requests for one user`);
    storm.oneUser[side.name] = await measureStorm(side, [one], settings.stormOneUserRequests, probes);
    log(`storm: ${side.name}, ${settings.stormOneUserRequests} concurrent requests for one user, over two instances`);
    storm.oneUserTwoInstances[side.name] = await measureStorm(side, [overTwo], settings.stormOneUserRequests, probes, true);
    log(`storm: ${side.name}, ${many.length} users x ${settings.stormRequestsPerUser} concurrent requests`);
    storm.manyUsers[side.name] = await measureStorm(side, many, settings.stormRequestsPerUser, probes);
    await admin.entraSettings({ refreshTokenReuseDetection: false });
    log(`storm: ${side.name}, ${settings.stormOneUserRequests} concurrent requests for one user, reuse detection off`);
    storm.oneUserNoReuseDetection[side.name] = await measureStorm(side, [noReuse], settings.stormOneUserRequests, probes);
  }

  // ---------------------------------------------------------------------------------------------
  // Cold start and bundle, in child processes.
  // ---------------------------------------------------------------------------------------------
  log(`cold start: ${settings.coldRuns} runs each`);
  const mainScript = path.join(ROOT, 'dist', 'main.js');
  // Required by main.js / serve.js on the first request that needs the services (scripts/build.mjs).
  const servicesBundleBytes = statSync(path.join(ROOT, 'dist', 'services.js')).size;
  const helloScript = path.join(ROOT, 'dist-dev', 'hello', 'main.js');
  const coldCookie = signedIn[0]!.app.cookie;
  const appHealth: number[] = [];
  const appHealthCpu: number[] = [];
  const appMail: number[] = [];
  const helloHealth: number[] = [];
  const helloHealthCpu: number[] = [];
  for (let run = 0; run < settings.coldRuns; run++) {
    const hello = await serve(helloScript, env);
    try {
      helloHealth.push(await msUntil200(hello, '/api/health'));
      helloHealthCpu.push(cpuMsOf(hello.child.pid!));
    } finally {
      await hello.stop();
    }
    const app = await serve(serveScript, env);
    try {
      appHealth.push(await msUntil200(app, '/api/health'));
      appHealthCpu.push(cpuMsOf(app.child.pid!));
      appMail.push(await msUntil200(app, MAIL_PATH, { cookie: coldCookie }));
    } finally {
      await app.stop();
    }
  }
  const appLoad = await loadTimes(mainScript, settings.coldRuns, env);
  const helloLoad = await loadTimes(helloScript, settings.coldRuns, env);
  const cold: Results['cold'] = {
    runs: settings.coldRuns,
    app: {
      healthMs: median(appHealth),
      healthCpuMs: median(appHealthCpu),
      mailMs: median(appMail),
      bundleLoadMs: median(appLoad),
      bundleBytes: statSync(mainScript).size,
      serveBundleBytes: statSync(serveScript).size,
      samples: { healthMs: appHealth, healthCpuMs: appHealthCpu, mailMs: appMail, bundleLoadMs: appLoad },
    },
    hello: {
      healthMs: median(helloHealth),
      healthCpuMs: median(helloHealthCpu),
      bundleLoadMs: median(helloLoad),
      bundleBytes: statSync(helloScript).size,
      samples: { healthMs: helloHealth, healthCpuMs: helloHealthCpu, bundleLoadMs: helloLoad },
    },
  };

  // ---------------------------------------------------------------------------------------------
  // Telemetry on (OTLP/HTTP to a local sink) vs off, in child processes (bench/telemetry.ts).
  // ---------------------------------------------------------------------------------------------
  const telemetry: TelemetryCost = await measureTelemetryCost({
    serveScript,
    env,
    driver,
    cookies: signedIn.map((s) => s.app.cookie),
    mailPath: MAIL_PATH,
    requests: settings.warmRequests[64]!,
    concurrency: 64,
    // Two cold runs per side in --quick (the phase runs inside test/bench/bench.test.ts's time limit).
    coldRuns: settings.quick ? Math.min(2, settings.coldRuns) : settings.coldRuns,
    log,
  });

  // ---------------------------------------------------------------------------------------------
  // Memory: one app process serving requests spread over every user.
  // ---------------------------------------------------------------------------------------------
  const memory = await measureMemoryRuns(
    settings,
    serveScript,
    env,
    driver,
    signedIn.map((s) => s.app.cookie),
  );

  // ---------------------------------------------------------------------------------------------
  // Report.
  // ---------------------------------------------------------------------------------------------
  const results: Results = {
    generatedAt: new Date().toISOString(),
    durationSeconds: (Date.now() - started) / 1000,
    machine: {
      cpuCount: os.cpus().length,
      availableParallelism: typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      totalMemoryBytes: os.totalmem(),
      node: process.version,
      platform: `${process.platform} ${os.release()}`,
    },
    settings: { ...settings, stormTokenTtlSeconds: STORM_TOKEN_TTL_S, tokenCacheMemory: appConfig.tokenCacheMemory },
    setup: { users: settings.users, signIns: 2 * settings.users + stormUsers.length, seconds: setupSeconds },
    warm,
    firstVisit,
    versusFloor,
    storm,
    cold,
    memory,
    telemetry,
    appLogErrors,
    baselineCounters: { ...baseline.counters },
    notes: notesFor(settings, appConfig.tokenCacheMemory.ttlSeconds, appConfig.session.memoryTtlSeconds, setupSeconds, servicesBundleBytes),
    targets: [],
  };
  results.targets = evaluateTargets(results, settings);
  results.durationSeconds = (Date.now() - started) / 1000;
  results.figures = flatten(results);
  writeFileSync(settings.out, `${JSON.stringify(withScaleSection(settings.out, results), null, 2)}\n`);
  process.stdout.write(formatReport(results) + formatTelemetryCost(telemetry, results.cold.hello.healthMs));
  log(`wrote ${path.relative(process.cwd(), settings.out) || settings.out} in ${results.durationSeconds.toFixed(1)} s`);
}

/**
 * The memory runs: with the V8 heap limits of the configured instance size (judged by the target),
 * then with V8 sized for this machine (no heap flags, the figure earlier runs reported).
 */
async function measureMemoryRuns(settings: Settings, serveScript: string, env: Record<string, string>, driver: Driver, cookies: readonly string[]): Promise<Results['memory']> {
  const instance =
    settings.instanceMemoryMb > 0
      ? { instanceMemoryMb: settings.instanceMemoryMb, ...(await measureMemory(settings, serveScript, env, driver, cookies, instanceHeapFlags(settings.instanceMemoryMb))) }
      : undefined;
  const machineSized = await measureMemory(settings, serveScript, env, driver, cookies, []);
  return { ...machineSized, ...(instance ? { instance } : {}) };
}

/**
 * One app process (`node dist/serve.js`, the memory probe preloaded) serving `memoryRequests` warm
 * /api/mail requests spread over every user. RSS is read from /proc as before; the breakdown
 * (memoryUsage, V8 spaces, anonymous vs file-backed RSS) is asked of the child at start, at the
 * end, and once more at the end after a forced full GC (which shows how much of the heap was
 * garbage V8 had not collected yet).
 */
async function measureMemory(
  settings: Settings,
  serveScript: string,
  env: Record<string, string>,
  driver: Driver,
  cookies: readonly string[],
  heapFlags: readonly string[],
): Promise<MemoryRun> {
  const nodeArgs = [...heapFlags, ...settings.memoryNodeArgs];
  log(`memory: ${settings.memoryRequests} requests over ${cookies.length} users in a child process (node ${nodeArgs.length ? nodeArgs.join(' ') : 'without heap flags'})`);
  // --expose-gc only makes global.gc() callable; nothing calls it before the figures are taken.
  const memoryApp = await serve(serveScript, env, { probe: true, nodeArgs: ['--expose-gc', ...nodeArgs] });
  try {
    await msUntil200(memoryApp, '/api/health');
    const pid = memoryApp.child.pid!;
    const atStart = rssOf(pid).rss;
    const breakdownAtStart = await memoryApp.memory();
    const run = await driver.load({
      baseUrl: memoryApp.url,
      path: MAIL_PATH,
      cookies,
      offset: 0,
      total: settings.memoryRequests,
      concurrency: settings.memoryConcurrency,
      rssPid: pid,
      rssEvery: Math.max(1, Math.floor(settings.memoryRequests / 4)),
    });
    const end = rssOf(pid);
    const breakdown = await memoryApp.memory();
    const breakdownAfterGc = await memoryApp.memory({ gc: true });
    return {
      requests: settings.memoryRequests,
      users: cookies.length,
      nodeArgs,
      rssAtStartBytes: atStart,
      rssBytes: end.rss,
      peakRssBytes: end.peak ?? Number.NaN,
      requestsPerSecond: run.load.requestsPerSecond,
      non200: settings.memoryRequests - (run.load.statuses['200'] ?? 0),
      samples: run.rssSamples ?? [],
      breakdown: { atStart: breakdownAtStart, end: breakdown, endAfterGc: breakdownAfterGc },
    };
  } finally {
    await memoryApp.stop();
  }
}

function notesFor(settings: Settings, l1TtlSeconds: number, sessionTtlSeconds: number, setupSeconds: number, servicesBundleBytes: number): string[] {
  return [
    'Baseline (bench/baseline.ts): a new ConfidentialClientApplication per request with msal-node DistributedCachePlugin over plain Table get/set. ' +
      'Like the msal-node sample (AuthProvider.initialize -> getMetadata), it fetches the authority metadata once at start and passes it as authorityMetadata to every instance: ' +
      'the sample does NOT let MSAL rediscover per instance, so neither does the baseline (Entra calls per warm request: 0 on both sides).',
    'Baseline follows the sample in calling getTokenCache().getAllAccounts() before acquireTokenSilent and in reading the session in PartitionManager.getKey() on every cache access; ' +
      'sessions themselves are the app\'s kind (same rows, same cookie) on both sides, read from storage on every request on the baseline\'s side (its services run with the app\'s memory copies off), so express-session\'s per-request touch of the sample is not counted against the baseline.',
    'Storage round trips are counted at the proxy for both sides (GET/HEAD = read, anything else = write), and by what they touch: session rows, token-cache rows (the app\'s cache and lease rows in table accounts, the baseline\'s row in its own table tokencache), or both at once ' +
      '(the app\'s shared read: one query for a session and its account\'s token cache, counted once in reads/request and in both the session and the token-cache columns).',
    `The app keeps per-instance memory copies of token-cache rows (TOKEN_CACHE_MEMORY_TTL_SECONDS=${l1TtlSeconds}) and of sessions (SESSION_MEMORY_TTL_SECONDS=${sessionTtlSeconds}): a warm request for a user this instance served within that time touches no storage. ` +
      'Concurrency 1 starts with both cleared, so every request there is a first visit to this instance (the worst warm case: one shared read); "1-revisit" then sends the same users again, one at a time, seconds later (the common case). ' +
      'At 16 and 64 every user of a timed run is pre-warmed on the instance just before it (the copies cleared, then a pass over exactly those users at the same concurrency), so the runs labelled warm are warm; each run states its share of first visits (session memory misses). ' +
      'The first-visit runs at 16 and 64 clear the copies (sessions, token-cache rows, access tokens) just before the run and send each user once. Every warm and first-visit figure is the median of the repetitions, with min–max; the sides take turns within each repetition.',
    'Floor (bench/floor.ts): /api/mail with none of the work of a backend-for-frontend (no session, MSAL, token cache or memory; each user\'s access token fetched once before the runs, looked up by cookie), forwarding the same Graph request over the same transport through the same local host. Its overhead is what the load generator, the host glue, the loopback network and the emulated Graph cost on this machine by themselves; the app\'s overhead above it is the app\'s own.',
    'Injected latency: storage on every request at the proxy; Entra only on its token endpoint (the emulator has no latency setting for discovery); Graph on /me/messages. ' +
      '"overhead" = latency - injected Graph latency (the target\'s definition: it includes any storage read and the emulated Graph\'s own processing); "outside Graph" = latency - the Graph round trip measured at the servers\' fetch.',
    'The server under test (app or baseline, in turn) has the main thread to itself; the load generator and the storage proxy run in a worker thread, the emulators and Azurite in child processes, all on the same machine. ' +
      'CPU per request comes from /proc: the main thread (server), the rest of this process (load driver, proxy, helper threads), the emulator process, Azurite; "other processes" is CPU the machine spent on anything else during the run. ' +
      'On a machine with few CPUs all of them compete, and the baseline\'s extra storage round trips also cost Azurite CPU here that Azure would spend elsewhere: read req/s together with the CPU table.',
    `Setup: ${settings.users} users created with the Entra emulator's admin route (POST /_emulator/users) and each signed in through the real flow twice (app, then baseline) in ${setupSeconds.toFixed(1)} s, without injected latency.`,
    `Refresh storms: fresh users signed in with accessTokenTtlSeconds=${STORM_TOKEN_TTL_S} (already inside MSAL's 300 s refresh window), then the lifetime set back to 3600 so that refreshed tokens are valid. ` +
      '"reuse revocations" = grants the emulated Entra revoked because a rotated refresh token was redeemed again (the user must sign in again, even where a still-valid access token hides it for up to an hour). ' +
      'With reuse detection off the emulator still refuses an already-rotated refresh token (invalid_grant), it only keeps the grant alive; real Entra would accept it. ' +
      '"lost cache updates" = successful writes to a user\'s cache row whose writer had read an older version than the row then held (known from If-Match, or from a header the baseline\'s cache client adds for the proxy only). ' +
      'The two-instance storm sends every other request to a second app instance (its own memory copy, coalescing and lease holder id), so the storage lease, not in-process coalescing, has to keep the redemption single. ' +
      'Because the emulator lets only one redemption of a refresh token succeed, only one request per refresh writes, so neither side can lose an update here; the figure is measured, not assumed.',
    'Cold start and memory run `node dist/serve.js` as a child process with the emulators\' settings (storage through the proxy, latency on), timed from spawn to the first 200 (polling every 2 ms); ' +
      'hello = dist-dev/hello/main.js, a hello-world @azure/functions handler bundled like dist/main.js. "CPU of the process at that 200" is the child\'s own CPU time then, less sensitive to other load than wall time. ' +
      'Bundle load = time to require() the bundle in a fresh process. ' +
      `The app is two bundles: dist/main.js (or dist/serve.js) at start, and dist/services.js (${(servicesBundleBytes / 1024).toFixed(0)} KiB: msal-node, @azure/identity, Key Vault, Tables and the handlers that use them), ` +
      'required on the first request that needs the services: its load counts in the first /api/mail, not in /api/health or the bundle figures.',
  ];
}

async function setLatency(admin: EmulatorAdmin, driver: Driver, latency: Settings['latency']): Promise<void> {
  await Promise.all([driver.setLatency(latency.storageMs), admin.entraSettings({ latencyMs: latency.tokenMs }), admin.graphSettings({ latencyMs: latency.graphMs })]);
}

async function signInAt(serverUrl: string, user: EntraUser): Promise<SignedIn> {
  const browser = new Browser();
  await signIn(browser, serverUrl, user);
  const value = browser.jar.get(new URL(serverUrl).origin, '__Host-session')?.value;
  if (!value) throw new Error(`sign-in of ${user.username} at ${serverUrl} set no session cookie`);
  return { user, cookie: `__Host-session=${value}` };
}

async function measureStorm(side: Side, users: readonly SignedIn[], perUser: number, probes: Probes, twoInstances = false): Promise<StormFigures> {
  const { admin, driver, baseline } = probes;
  const tokenCounters = () =>
    probes.tokens.reduce(
      (sum, t) => ({ refreshes: sum.refreshes + t.counters.refreshes, coalesced: sum.coalesced + t.counters.coalesced, leaseWaits: sum.leaseWaits + t.counters.leaseWaits }),
      { refreshes: 0, coalesced: 0, leaseWaits: 0 },
    );
  await admin.resetEntraStats();
  const tokensBefore = tokenCounters();
  const baselineBefore = { ...baseline.counters };
  const cookies = users.flatMap((u) => Array.from({ length: perUser }, () => u.cookie));
  const run: LoadJobResult = await driver.load({
    baseUrl: side.host.url,
    ...(twoInstances ? { moreBaseUrls: [side.second.url] } : {}),
    path: MAIL_PATH,
    cookies,
    offset: 0,
    total: cookies.length,
    concurrency: cookies.length,
  });
  const tokensAfter = tokenCounters();
  const entra: EntraStats = await admin.entraStats();
  const statuses = run.load.statuses;
  return {
    users: users.length,
    instances: twoInstances ? 2 : 1,
    requests: cookies.length,
    ok: statuses['200'] ?? 0,
    unauthorized: statuses['401'] ?? 0,
    otherFailures: cookies.length - (statuses['200'] ?? 0) - (statuses['401'] ?? 0),
    refreshTokenRedemptions: entra.refreshTokenRedemptions,
    refreshTokenRequests: entra.tokenRequestsByGrant['refresh_token'] ?? 0,
    reuseDetectedRevocations: entra.refreshTokenReuseDetected,
    tokenErrors: entra.tokenErrors,
    lostCacheUpdates: run.storage.lostUpdates,
    blindOverwrites: run.storage.blindOverwrites,
    storageConflicts: run.storage.conflicts,
    storageReads: run.storage.reads,
    storageWrites: run.storage.writes,
    latencyMs: run.load.latency,
    ...(side.name === 'app'
      ? {
          appRefreshes: tokensAfter.refreshes - tokensBefore.refreshes,
          appCoalesced: tokensAfter.coalesced - tokensBefore.coalesced,
          appLeaseWaits: tokensAfter.leaseWaits - tokensBefore.leaseWaits,
        }
      : { baselineInteractionRequired: baseline.counters.interactionRequired - baselineBefore.interactionRequired }),
  };
}

let exiting = false;

if (isMainThread) {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      if (exiting) return;
      exiting = true;
      log(`${signal}: stopping everything`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  // `--scale`: the sweep at two table sizes (bench/scale.ts).
  (process.argv.includes('--scale') ? runScale(process.argv.slice(2), cleanups) : main())
    .then(
      () => 0,
      (error: unknown) => {
        log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
        return 1;
      },
    )
    .then(async (code) => {
      exiting = true;
      await cleanup();
      process.exit(code);
    });
} else if ((workerData as { role?: string } | undefined)?.role === 'bench-driver') {
  runDriver();
}
