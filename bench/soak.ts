/**
 * `npm run soak -- --minutes N` (default 3): a bounded chaos soak (issue 16).
 *
 * Three app instances (`node dist/serve.js`, secrets from the emulated Key Vault through the
 * emulated managed identity) share the emulated Entra and Graph and one Azurite of their own
 * (with its data on disk, so it can be restarted), reached through bench/storage-proxy.ts, which
 * injects storage faults and counts lost updates. At least 100 users are signed in; access tokens
 * live 330 s, so MSAL refreshes each about every 30 s. Load lanes then ask for `/api/mail` as
 * random users on random instances while these faults come in turn, one phase each:
 * storage 503s, timeouts, resets; Entra slower than the app's token deadline; Entra 5xx; Graph 429;
 * Graph 503; Key Vault down; one instance killed (SIGKILL) in the middle of a refresh, then
 * restarted; Azurite restarted with its data; and a last phase with no fault (recovery).
 *
 * It reports requests, 5xx other than the documented 503s (with Retry-After), forced sign-ins (no
 * revocation is injected, so every 401 counts), lost cache updates (the proxy's count of writes
 * that overwrote a version their writer had not read, and blind overwrites), p50 and p99, and each
 * instance's RSS over time with its trend. Figures go to stdout and bench/soak-results.json.
 *
 * Entra's refresh-token reuse detection is off, as in real Entra; the report still counts rotated
 * refresh tokens presented again (what a lost update would cause).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAzurite, type Azurite } from '../emulators/azurite';
import { Browser, signIn } from './browser';
import { adminCall, startEmulators, type EmulatorsInfo, type EntraUser } from './emulators';
import { mapLimit, percentile } from './load';
import { msUntil200, rssOf, serve, stopAllChildren, type Served } from './processes';
import { StorageProxy, type StorageFault } from './storage-proxy';

const ROOT = path.resolve(__dirname, '..');
const SERVE = path.join(ROOT, 'dist', 'serve.js');
const INSTANCES = 3;
/** MSAL renews 300 s before expiry: 330 s tokens are due for refresh 30 s after they are issued. */
const ACCESS_TOKEN_TTL_SECONDS = 330;
/** Above the app's 5 s token-request deadline (src/auth/msal-network.ts). */
const ENTRA_SLOW_MS = 7_000;
const REQUEST_TIMEOUT_MS = 45_000;
const RSS_SAMPLE_MS = 5_000;
const DOCUMENTED_503 = new Set(['storage_unavailable', 'identity_provider_unavailable', 'key_vault_unavailable', 'graph_unavailable']);

interface Options {
  readonly minutes: number;
  readonly users: number;
  readonly concurrency: number;
}

function parseOptions(argv: readonly string[]): Options {
  const value = (name: string, fallback: number, min: number, max: number): number => {
    const index = argv.indexOf(`--${name}`);
    if (index < 0) return fallback;
    const parsed = Number(argv[index + 1]);
    if (!Number.isFinite(parsed) || parsed < min || parsed > max) throw new Error(`--${name} must be a number from ${min} to ${max}`);
    return parsed;
  };
  return { minutes: value('minutes', 3, 1, 60), users: value('users', 100, 100, 1000), concurrency: value('concurrency', 12, 1, 64) };
}

interface PhaseFigures {
  name: string;
  requests: number;
  ok: number;
  documented503: number;
  other5xx: Record<string, number>;
  forcedSignIns: number;
  other4xx: Record<string, number>;
  /** Connections refused or cut: the killed instance, until the lanes stop picking it. */
  networkErrors: number;
  latencies: number[];
}

interface Phase {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** One GET /api/mail: its status (0: no answer), error code, Retry-After and time. */
async function getMail(url: string, cookie: string): Promise<{ status: number; error: string | undefined; retryAfter: string | null; ms: number }> {
  const started = performance.now();
  try {
    const response = await fetch(`${url}/api/mail?top=1`, { headers: { cookie }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    const text = await response.text();
    let error: string | undefined;
    if (response.status !== 200) {
      try {
        error = (JSON.parse(text) as { error?: string }).error;
      } catch {
        error = 'not JSON';
      }
    }
    return { status: response.status, error, retryAfter: response.headers.get('retry-after'), ms: performance.now() - started };
  } catch {
    return { status: 0, error: undefined, retryAfter: null, ms: performance.now() - started };
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string): void => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}`);

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (!process.env['NODE_EXTRA_CA_CERTS']) throw new Error('NODE_EXTRA_CA_CERTS is not set: run `npm run soak` (it runs under scripts/with-test-ca.mjs).');
  const cleanups: (() => Promise<unknown>)[] = [];
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'soak-azurite-'));
  cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
  try {
    log('starting the emulators and an Azurite with its data on disk');
    const emulators = await startEmulators(ROOT);
    cleanups.unshift(() => emulators.stop());
    const info: EmulatorsInfo = emulators.info;
    const azurite: Azurite = await startAzurite({ location: dataDir });
    cleanups.unshift(() => azurite.stop());
    const proxy = new StorageProxy(azurite.endpoint);
    await proxy.start();
    cleanups.unshift(() => proxy.stop());
    const connectionString = azurite.connectionString.replace(/TableEndpoint=[^;]+/i, `TableEndpoint=${proxy.endpoint}`);
    const env: Record<string, string> = { ...info.envKeyVault, TABLES_CONNECTION_STRING: connectionString };
    await adminCall(info.entra.url, 'PUT', 'settings', { accessTokenTtlSeconds: ACCESS_TOKEN_TTL_SECONDS, refreshTokenReuseDetection: false, latencyMs: 0 });

    const instances: Served[] = [];
    const startInstance = async (): Promise<Served> => {
      const served = await serve(SERVE, env);
      await msUntil200(served, '/api/health', { timeoutMs: 60_000 });
      return served;
    };
    for (let i = 0; i < INSTANCES; i++) instances.push(await startInstance());
    cleanups.unshift(() => stopAllChildren());
    log(`${INSTANCES} instances: ${instances.map((s) => s.url).join(' ')}`);

    const users: EntraUser[] = await mapLimit(Array.from({ length: options.users + 1 }, (_, i) => i), 8, () => adminCall<EntraUser>(info.entra.url, 'POST', 'users', {}));
    const signInAt = async (user: EntraUser, url: string): Promise<string> => {
      const browser = new Browser();
      await signIn(browser, url, user);
      return `__Host-session=${browser.jar.get(url, '__Host-session')!.value}`;
    };
    const signInStarted = Date.now();
    const cookies = await mapLimit(users, 6, (user, i) => signInAt(user, instances[i % INSTANCES]!.url));
    // The last user is kept out of the load: its token is surely due when the kill phase needs a refresh.
    const victim = { user: users.at(-1)!, cookie: cookies.at(-1)! };
    log(`signed ${users.length} users in in ${((Date.now() - signInStarted) / 1000).toFixed(1)} s`);

    const entraStatsBefore = (await adminCall(info.entra.url, 'GET', 'stats')) as { rotatedRefreshTokenRedemptionAttempts: number };
    const storageBefore = proxy.snapshot();

    // --- RSS sampling, per instance slot (a restarted instance starts a new series) ---
    const rss: { slot: number; pid: number; samples: { s: number; mb: number }[] }[] = instances.map((s, slot) => ({ slot, pid: s.child.pid!, samples: [] }));
    const soakStarted = Date.now();
    const sampler = setInterval(() => {
      for (const series of rss) {
        const mb = rssOf(series.pid).rss / 1024 / 1024;
        if (Number.isFinite(mb)) series.samples.push({ s: Math.round((Date.now() - soakStarted) / 1000), mb: Math.round(mb * 10) / 10 });
      }
    }, RSS_SAMPLE_MS);
    cleanups.unshift(async () => clearInterval(sampler));

    // --- the phases ---
    const setGraphFault = async (status: number): Promise<void> => {
      await adminCall(info.graph.url, 'POST', 'faults', { status, count: 1_000_000, retryAfterSeconds: 1 });
    };
    const clearGraphFaults = async (): Promise<void> => {
      await adminCall(info.graph.url, 'DELETE', 'faults');
    };
    const storage = (fault: StorageFault): Phase => ({
      name: `storage ${fault === '503' ? '503s' : fault === 'timeout' ? 'timeouts' : 'resets'}`,
      start: async () => {
        proxy.fault = fault;
      },
      stop: async () => {
        proxy.fault = undefined;
      },
    });
    let killed: { slot: number; refreshStatus: Promise<number> } | undefined;
    const phases: Phase[] = [
      { name: 'steady', start: async () => {}, stop: async () => {} },
      storage('503'),
      storage('timeout'),
      storage('reset'),
      {
        name: 'Entra slower than the deadline',
        start: async () => void (await adminCall(info.entra.url, 'PUT', 'settings', { latencyMs: ENTRA_SLOW_MS })),
        stop: async () => void (await adminCall(info.entra.url, 'PUT', 'settings', { latencyMs: 0 })),
      },
      {
        name: 'Entra 5xx',
        start: async () => void (await adminCall(info.entra.url, 'POST', 'fault', { status: 503, count: 1_000_000, endpoint: 'token' })),
        stop: async () => void (await adminCall(info.entra.url, 'POST', 'fault', { status: 503, count: 0, endpoint: 'token' })),
      },
      { name: 'Graph 429', start: () => setGraphFault(429), stop: clearGraphFaults },
      { name: 'Graph 503', start: () => setGraphFault(503), stop: clearGraphFaults },
      {
        name: 'Key Vault down',
        start: async () => void (await adminCall(info.keyVault.url, 'POST', 'down', { down: true, retryAfterSeconds: 1 })),
        stop: async () => void (await adminCall(info.keyVault.url, 'POST', 'down', { down: false })),
      },
      {
        name: 'instance killed mid-refresh, restarted',
        start: async () => {
          // Entra answers slowly, so the victim's refresh (its token is long due) is in flight on
          // instance 1, holding the user's lease, when that instance is killed.
          await adminCall(info.entra.url, 'PUT', 'settings', { latencyMs: 2_000 });
          const slot = 1;
          const refreshStatus = getMail(instances[slot]!.url, victim.cookie).then((r) => r.status);
          await sleep(800);
          instances[slot]!.child.kill('SIGKILL');
          killed = { slot, refreshStatus };
          await adminCall(info.entra.url, 'PUT', 'settings', { latencyMs: 0 });
          const restarted = await startInstance();
          instances[slot] = restarted;
          rss.push({ slot, pid: restarted.child.pid!, samples: [] });
        },
        stop: async () => {},
      },
      {
        name: 'Azurite restarted with its data',
        start: () => azurite.restart(),
        stop: async () => {},
      },
      { name: 'recovery (no fault)', start: async () => {}, stop: async () => {} },
    ];
    const phaseMs = Math.max(10_000, Math.floor((options.minutes * 60_000) / phases.length));

    // --- the load ---
    const figures: PhaseFigures[] = [];
    let current: PhaseFigures | undefined;
    let running = true;
    const loadUsers = users.slice(0, -1).map((user, i) => ({ user, cookie: cookies[i]! }));
    const record = (phase: PhaseFigures, status: number, error: string | undefined, retryAfter: string | null, ms: number): void => {
      phase.requests++;
      phase.latencies.push(ms);
      if (status === 0) phase.networkErrors++;
      else if (status === 200) phase.ok++;
      else if (status === 503 && retryAfter && error && DOCUMENTED_503.has(error)) phase.documented503++;
      else if (status >= 500) phase.other5xx[`${status} ${error ?? ''}`.trim()] = (phase.other5xx[`${status} ${error ?? ''}`.trim()] ?? 0) + 1;
      else if (status === 401) phase.forcedSignIns++;
      else phase.other4xx[`${status} ${error ?? ''}`.trim()] = (phase.other4xx[`${status} ${error ?? ''}`.trim()] ?? 0) + 1;
    };
    const lane = async (seed: number): Promise<void> => {
      let n = seed;
      while (running) {
        const phase = current!;
        const entry = loadUsers[(n = (n * 1103515245 + 12345) % 2147483648) % loadUsers.length]!;
        const instance = instances[n % INSTANCES]!;
        const { status, error, retryAfter, ms } = await getMail(instance.url, entry.cookie);
        record(phase, status, error, retryAfter, ms);
        if (status === 401) entry.cookie = await signInAt(entry.user, instances[0]!.url).catch(() => entry.cookie);
        // A 503 says when to come back; a client that honours it does not hammer the instance.
        if (status === 503) await sleep(Math.min(2, Number(retryAfter) || 1) * 1000);
      }
    };
    const newPhase = (name: string): PhaseFigures => ({ name, requests: 0, ok: 0, documented503: 0, other5xx: {}, forcedSignIns: 0, other4xx: {}, networkErrors: 0, latencies: [] });

    current = newPhase(phases[0]!.name);
    const lanes = Array.from({ length: options.concurrency }, (_, i) => lane(i * 7919 + 1));
    for (const [index, phase] of phases.entries()) {
      if (index > 0) current = newPhase(phase.name);
      figures.push(current);
      log(`phase ${index + 1}/${phases.length}: ${phase.name} (${(phaseMs / 1000).toFixed(0)} s)`);
      const started = Date.now();
      await phase.start();
      await sleep(Math.max(0, phaseMs - (Date.now() - started)));
      await phase.stop();
    }
    running = false;
    await Promise.all(lanes);
    clearInterval(sampler);

    // --- afterwards: every user once more, the victim included ---
    const final = newPhase('afterwards: every user once');
    await mapLimit([...loadUsers, victim], 8, async (entry, i) => {
      const { status, error, retryAfter, ms } = await getMail(instances[i % INSTANCES]!.url, entry.cookie);
      record(final, status, error, retryAfter, ms);
    });
    figures.push(final);

    const entraStats = (await adminCall(info.entra.url, 'GET', 'stats')) as { rotatedRefreshTokenRedemptionAttempts: number; refreshTokenRedemptions: number };
    const storageCounts = proxy.snapshot();
    const all = figures.flatMap((f) => f.latencies).sort((a, b) => a - b);
    const sum = (pick: (f: PhaseFigures) => number): number => figures.reduce((total, f) => total + pick(f), 0);
    const results = {
      settings: { ...options, instances: INSTANCES, phaseSeconds: phaseMs / 1000, accessTokenTtlSeconds: ACCESS_TOKEN_TTL_SECONDS, machine: `${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} at the end` },
      requests: sum((f) => f.requests),
      other5xx: sum((f) => Object.values(f.other5xx).reduce((a, b) => a + b, 0)),
      documented503: sum((f) => f.documented503),
      forcedSignIns: sum((f) => f.forcedSignIns),
      networkErrors: sum((f) => f.networkErrors),
      lostCacheUpdates: storageCounts.lostUpdates - storageBefore.lostUpdates,
      blindOverwrites: storageCounts.blindOverwrites - storageBefore.blindOverwrites,
      rotatedRefreshTokensPresentedAgain: entraStats.rotatedRefreshTokenRedemptionAttempts - entraStatsBefore.rotatedRefreshTokenRedemptionAttempts,
      refreshTokenRedemptions: entraStats.refreshTokenRedemptions,
      killedInstanceRefresh: killed ? { instance: killed.slot, statusSeenByClient: await killed.refreshStatus } : undefined,
      p50Ms: Math.round(percentile(all, 50)),
      p99Ms: Math.round(percentile(all, 99)),
      storageFaultsServed: proxy.faultsServed,
      phases: figures.map(({ latencies, ...f }) => {
        const sorted = [...latencies].sort((a, b) => a - b);
        return { ...f, p50Ms: Math.round(percentile(sorted, 50)), p99Ms: Math.round(percentile(sorted, 99)) };
      }),
      rss: rss.map((series) => ({ ...series, trendMbPerMinute: trend(series.samples) })),
    };
    writeFileSync(path.join(ROOT, 'bench', 'soak-results.json'), `${JSON.stringify(results, null, 2)}\n`);
    console.log(report(results));
    if (results.other5xx > 0 || results.forcedSignIns > 0 || results.lostCacheUpdates > 0) process.exitCode = 1;
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => {});
  }
}

/** Least-squares slope of RSS over time, in MB per minute, after the first 30 s (start-up growth). */
function trend(samples: readonly { s: number; mb: number }[]): number | undefined {
  const points = samples.filter((p, _i, all) => p.s >= (all[0]?.s ?? 0) + 30);
  if (points.length < 3) return undefined;
  const mean = (f: (p: { s: number; mb: number }) => number): number => points.reduce((a, p) => a + f(p), 0) / points.length;
  const ms = mean((p) => p.s);
  const mm = mean((p) => p.mb);
  const slope = points.reduce((a, p) => a + (p.s - ms) * (p.mb - mm), 0) / points.reduce((a, p) => a + (p.s - ms) ** 2, 0);
  return Math.round(slope * 60 * 100) / 100;
}

function report(results: {
  requests: number;
  other5xx: number;
  documented503: number;
  forcedSignIns: number;
  networkErrors: number;
  lostCacheUpdates: number;
  blindOverwrites: number;
  rotatedRefreshTokensPresentedAgain: number;
  p50Ms: number;
  p99Ms: number;
  phases: { name: string; requests: number; ok: number; documented503: number; other5xx: Record<string, number>; forcedSignIns: number; other4xx: Record<string, number>; networkErrors: number; p50Ms: number; p99Ms: number }[];
  rss: { slot: number; pid: number; samples: { s: number; mb: number }[]; trendMbPerMinute: number | undefined }[];
}): string {
  const lines = [
    '',
    '| phase | requests | 200 | documented 503 | other 5xx | forced sign-ins | other 4xx | network errors | p50 ms | p99 ms |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...results.phases.map(
      (p) =>
        `| ${p.name} | ${p.requests} | ${p.ok} | ${p.documented503} | ${Object.values(p.other5xx).reduce((a, b) => a + b, 0)}${Object.keys(p.other5xx).length ? ` (${Object.entries(p.other5xx).map(([k, v]) => `${k}: ${v}`).join(', ')})` : ''} | ${p.forcedSignIns} | ${Object.entries(p.other4xx).map(([k, v]) => `${k}: ${v}`).join(', ') || 0} | ${p.networkErrors} | ${p.p50Ms} | ${p.p99Ms} |`,
    ),
    '',
    `requests ${results.requests}; 5xx other than the documented 503s: ${results.other5xx}; forced sign-ins: ${results.forcedSignIns}; lost cache updates: ${results.lostCacheUpdates} (blind overwrites ${results.blindOverwrites}); rotated refresh tokens presented again: ${results.rotatedRefreshTokensPresentedAgain}; p50 ${results.p50Ms} ms, p99 ${results.p99Ms} ms`,
    '',
    '| instance (pid) | RSS first MB | RSS last MB | RSS max MB | trend MB/min (after 30 s) |',
    '|---|---:|---:|---:|---:|',
    ...results.rss.map((r) => {
      const mbs = r.samples.map((s) => s.mb);
      return `| ${r.slot} (${r.pid}) | ${mbs[0] ?? '-'} | ${mbs.at(-1) ?? '-'} | ${mbs.length ? Math.max(...mbs) : '-'} | ${r.trendMbPerMinute ?? '-'} |`;
    }),
  ];
  return lines.join('\n');
}

main().catch(async (error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  await stopAllChildren().catch(() => {});
  process.exit(1);
});
