/**
 * `npm run bench -- --scale [--quick]`: does the sweep's cost follow what expired, or the table's
 * size? Two table sizes at least 10x apart (full: 10,000 and 100,000 users; --quick: 2,000 and
 * 20,000) with the same number of expired users at each, in Azurite (no injected latency).
 *
 * Per size it measures, against the app's own services (storage requests counted at the SDK
 * pipeline, as test/flows/storage-cost.test.ts does):
 *   sweep     the timer job (src/functions/sweep.ts) run after run until a run finds nothing
 *   warm      /api/mail for real signed-in users: a first visit to an instance, then a revisit
 *   memory    this process (which holds both app instances) after the sweep, heap after a GC
 *   backfill  the one-time migration of a table written before the expiry index: the markers
 *             removed, sweep runs until both kinds are indexed (a scan of the whole table, once)
 *
 * Seeding: the users besides the few signed in for real are copies of one real user's session
 * and token-cache rows (the same layout and size; the cache copies would not open in another
 * partition, and nothing opens them), each user's two rows in one transaction (its partition),
 * their index rows 100 to a transaction (one day's partition), many transactions at once:
 * Table Storage batches never span partitions, so concurrency is what makes it fast.
 *
 * It writes `scale` into bench/results.json (or --out), keeping the rest of the file.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { InvocationContext } from '@azure/functions';
import type { TableClient, TransactionAction } from '@azure/data-tables';
import { loadConfig } from '../src/config';
import { createServices, lazyServices } from '../src/create-services';
import { sweepExpired } from '../src/functions/sweep';
import { startLocalHost } from '../src/http/local-host';
import { createRoutes } from '../src/routes';
import type { Services } from '../src/services';
import { parseSessionCookie } from '../src/auth/session-cookie';
import type { TableSessionStore } from '../src/auth/session-store';
import { sessionExpiry } from '../src/auth/session-sweep';
import type { RememberingSessionStore } from '../src/auth/session-memory';
import type { TableTokenCacheStore } from '../src/cache/table-token-cache-store';
import type { L1TokenCacheStore } from '../src/cache/l1-token-cache-store';
import { partitionKeyOf } from '../src/cache/token-cache-store';
import { expiryBucketOf, type ExpiryIndex } from '../src/storage/expiry-index';
import { createTableClient, TABLES } from '../src/storage/tables';
import { Browser, signIn } from './browser';
import { EmulatorAdmin, startEmulators, type EntraUser } from './emulators';
import { mapLimit } from './load';

const ROOT = path.resolve(__dirname, '..');
const DAY = 86_400_000;
/** Transactions in flight while seeding. */
const SEED_CONCURRENCY = 32;
/** Users signed in through the real flow at each size, for the warm-request figures. */
const SIGNED_IN = 10;
/** The target: storage requests per expired user within this factor across the sizes. */
const TARGET_RATIO = 1.5;

export interface ScaleSweep {
  readonly users: number;
  readonly expired: number;
  readonly storageRequests: number;
  readonly ms: number;
}

export interface ScaleResults {
  readonly generatedAt: string;
  readonly quick: boolean;
  readonly sweep: ScaleSweep[];
  readonly sweepDetail: {
    users: number;
    runs: number;
    reads: number;
    writes: number;
    requestsPerExpiredUser: number;
    deleted: { sessions: number; tokenCachePartitions: number };
    /** Median ms of one query for one account's rows (what the sweep does per entry), in this emulator at this size. */
    partitionQueryMs: number;
  }[];
  readonly warm: { users: number; firstVisit: { reads: number; writes: number }; revisit: { reads: number; writes: number } }[];
  readonly memory: { users: number; rssBytes: number; heapUsedBytes: number }[];
  readonly backfill: { users: number; storageRequests: number; ms: number; runs: number }[];
  readonly seeding: { users: number; seconds: number; transactions: number }[];
  readonly target: { name: string; value: number; limit: number; met: boolean };
  durationSeconds?: number;
}

interface Options {
  readonly quick: boolean;
  readonly sizes: readonly [number, number];
  readonly expired: number;
  readonly out: string;
}

function parseOptions(argv: readonly string[]): Options {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const quick = argv.includes('--quick');
  const expired = Number(value('--expired') ?? (quick ? 200 : 1000));
  if (!Number.isInteger(expired) || expired < 1) throw new Error(`--expired must be a whole number above 0 ("${value('--expired')}")`);
  return {
    quick,
    sizes: quick ? [2_000, 20_000] : [10_000, 100_000],
    expired,
    out: path.resolve(value('--out') ?? path.join(ROOT, 'bench', 'results.json')),
  };
}

function log(message: string): void {
  process.stderr.write(`bench --scale: ${message}\n`);
}

/** The scale run; `cleanups` are run by bench.ts at the end, also on error or a signal. */
export async function runScale(argv: readonly string[], cleanups: (() => Promise<void>)[]): Promise<void> {
  const options = parseOptions(argv);
  const started = Date.now();
  log('starting the emulators');
  const emulators = await startEmulators(ROOT);
  cleanups.push(() => emulators.stop());
  const admin = new EmulatorAdmin(emulators.info);
  const env = { ...emulators.info.env };

  // Two app instances in this process: A signs users in and runs the sweep, B is where the warm
  // requests land for the first time (nothing of the users in its memory).
  const instance = async () => {
    let services: Services | undefined;
    const host = await startLocalHost({ routes: createRoutes(lazyServices(() => services!)), port: 0, log: () => {} });
    cleanups.push(() => host.stop());
    services = createServices(loadConfig({ ...env, PUBLIC_BASE_URL: host.url }), { log: { warn: () => {}, error: (m) => log(`app error: ${m}`) } });
    return { host, services };
  };
  const a = await instance();
  const b = await instance();
  const client = createTableClient(loadConfig({ ...env, PUBLIC_BASE_URL: a.host.url }), TABLES.accounts);

  // The first sign-in creates the table; the first sweep finds a new table and marks its backfill done.
  const real: { user: EntraUser; cookie: string }[] = [];
  const signInSome = async (count: number) => {
    const users = await mapLimit(Array.from({ length: count }, (_, i) => i), 4, () => admin.createUser());
    for (const user of users) {
      const browser = new Browser();
      await signIn(browser, a.host.url, user);
      real.push({ user, cookie: `__Host-session=${browser.jar.get(a.host.url, '__Host-session')!.value}` });
    }
  };
  await signInSome(SIGNED_IN);
  await sweepUntilDone(a.services);
  const templates = await readTemplates(client, real[0]!.cookie);

  const results: ScaleResults = {
    generatedAt: new Date().toISOString(),
    quick: options.quick,
    sweep: [],
    sweepDetail: [],
    warm: [],
    memory: [],
    backfill: [],
    seeding: [],
    target: { name: 'sweep storage requests per expired user, larger size / smaller size', value: Number.NaN, limit: TARGET_RATIO, met: false },
  };
  let users = SIGNED_IN;
  for (const size of options.sizes) {
    const live = size - users - options.expired;
    if (live < 0) throw new Error(`a table of ${size} users cannot hold ${options.expired} expired users besides those already there`);
    log(`seeding ${live} live and ${options.expired} expired users (table: ${size} users)`);
    const seedStarted = performance.now();
    const transactions = await seed(client, templates, { session: tableSessionsOf(a.services).expiryIndex, cache: tableCacheOf(a.services).expiryIndex }, live, options.expired);
    users = size;
    results.seeding.push({ users: size, seconds: (performance.now() - seedStarted) / 1000, transactions });
    log(`seeded in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s (${transactions} transactions)`);

    const partitionQueryMs = await timePartitionQuery(client, real.map((r) => partitionOfCookie(r.cookie)));
    const sweep = await measureSweep(a.services);
    results.sweep.push({ users: size, expired: options.expired, storageRequests: sweep.reads + sweep.writes, ms: Math.round(sweep.ms) });
    results.sweepDetail.push({
      users: size,
      runs: sweep.runs,
      reads: sweep.reads,
      writes: sweep.writes,
      requestsPerExpiredUser: (sweep.reads + sweep.writes) / options.expired,
      deleted: sweep.deleted,
      partitionQueryMs,
    });
    log(`sweep: ${sweep.reads + sweep.writes} storage requests in ${sweep.ms.toFixed(0)} ms over ${sweep.runs} runs; deleted ${JSON.stringify(sweep.deleted)}`);
    if (sweep.deleted.sessions !== options.expired || sweep.deleted.tokenCachePartitions !== options.expired) {
      throw new Error(`the sweep deleted ${JSON.stringify(sweep.deleted)}, expected ${options.expired} of each`);
    }

    results.warm.push({ users: size, ...(await measureWarm(b.services, b.host.url, real.map((r) => r.cookie))) });
    results.memory.push({ users: size, ...memoryNow() });

    const backfill = await measureBackfill(a.services);
    results.backfill.push({ users: size, storageRequests: backfill.reads + backfill.writes, ms: Math.round(backfill.ms), runs: backfill.runs });
    log(`backfill of the whole table (one-time migration): ${backfill.reads + backfill.writes} storage requests in ${backfill.ms.toFixed(0)} ms over ${backfill.runs} runs`);
  }
  const [small, large] = results.sweepDetail;
  const ratio = large!.requestsPerExpiredUser / small!.requestsPerExpiredUser;
  results.target.value = ratio;
  results.target.met = ratio <= TARGET_RATIO;
  results.durationSeconds = (Date.now() - started) / 1000;

  const previous = existsSync(options.out) ? (JSON.parse(readFileSync(options.out, 'utf8')) as Record<string, unknown>) : {};
  writeFileSync(options.out, `${JSON.stringify({ ...previous, scale: results }, null, 2)}\n`);
  process.stdout.write(formatScale(results));
  log(`wrote scale into ${path.relative(process.cwd(), options.out)} in ${results.durationSeconds.toFixed(1)} s`);
}

/** Keeps the scale section of an existing results file when bench.ts writes the other sections. */
export function withScaleSection(out: string, results: object): object {
  try {
    const previous = JSON.parse(readFileSync(out, 'utf8')) as { scale?: unknown };
    return previous.scale === undefined ? results : { ...results, scale: previous.scale };
  } catch {
    return results;
  }
}

interface Templates {
  readonly session: Record<string, unknown>;
  readonly cache: Record<string, unknown>;
}

/** The account partition a session cookie names (src/auth/session-cookie.ts). */
function partitionOfCookie(cookie: string): string {
  return partitionKeyOf(parseSessionCookie(cookie)!.homeAccountId);
}

/**
 * Azurite keeps a table in one in-memory collection and evaluates queries against all of it, so
 * its time per request may grow with the table (Azure serves a PartitionKey query from that
 * partition), and a loaded machine slows everything: the median time of the per-entry query the
 * sweep makes, at each size, tells which one the sweep's time shows.
 */
async function timePartitionQuery(client: TableClient, partitions: readonly string[]): Promise<number> {
  const times: number[] = [];
  for (const partition of partitions) {
    const start = performance.now();
    for await (const _row of client.listEntities({ queryOptions: { filter: `PartitionKey eq '${partition}'`, select: ['RowKey'] } })) {
      // drain
    }
    times.push(performance.now() - start);
  }
  times.sort((x, y) => x - y);
  return Math.round(times[Math.floor(times.length / 2)]! * 10) / 10;
}

/** One real user's session row and cache head, without keys and metadata: what filler users copy. */
async function readTemplates(client: TableClient, cookie: string): Promise<Templates> {
  const partition = partitionOfCookie(cookie);
  const strip = (row: Record<string, unknown>) => {
    const { partitionKey: _p, rowKey: _r, etag: _e, timestamp: _t, ...rest } = row;
    return rest;
  };
  let session: Record<string, unknown> | undefined;
  let cache: Record<string, unknown> | undefined;
  for await (const row of client.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq '${partition}'` } })) {
    if (row.rowKey!.startsWith('session-')) session = strip(row);
    if (row.rowKey === 'cache') cache = strip(row);
  }
  if (!session || !cache) throw new Error('the signed-in user has no session or cache row to copy');
  if (cache['rows'] !== 1) throw new Error('the template cache spans several rows');
  return { session, cache };
}

/** Adds live users (due in the coming weeks) and expired users (due 2-4 days ago), index rows first. */
async function seed(client: TableClient, templates: Templates, indexes: { readonly session: ExpiryIndex; readonly cache: ExpiryIndex }, live: number, expired: number): Promise<number> {
  const now = Date.now();
  const rand = (from: number, to: number) => from + Math.random() * (to - from);
  const make = (isExpired: boolean) => {
    const partition = `${randomUUID()}.${randomUUID()}`;
    // Live: last seen within the idle timeout, last refresh within it; expired: idle and refresh token both past.
    const lastSeen = isExpired ? now - rand(16 * DAY, 18 * DAY) : now - rand(0, 13 * DAY);
    const created = lastSeen - rand(0, 30 * DAY);
    const idle = lastSeen + 14 * DAY;
    const cacheExpires = isExpired ? now - rand(2 * DAY, 4 * DAY) : lastSeen + 91 * DAY;
    const session = {
      ...templates.session,
      partitionKey: partition,
      rowKey: `session-${randomBytes(32).toString('hex')}`,
      homeAccountId: partition,
      createdAt: new Date(created),
      lastSeenAt: new Date(lastSeen),
      idleExpiresAt: new Date(idle),
      absoluteExpiresAt: new Date(created + 90 * DAY),
    };
    const cache = { ...templates.cache, partitionKey: partition, rowKey: 'cache', gen: randomBytes(8).toString('hex'), expiresAt: new Date(cacheExpires), updatedAt: new Date(lastSeen) };
    return { partition, session, cache, sessionDay: expiryBucketOf(sessionExpiry({ idleExpiresAt: idle, absoluteExpiresAt: created + 90 * DAY })), cacheDay: expiryBucketOf(cacheExpires) };
  };
  const all = [...Array.from({ length: live }, () => make(false)), ...Array.from({ length: expired }, () => make(true))];
  let transactions = 0;
  const CHUNK = 5_000;
  for (let i = 0; i < all.length; i += CHUNK) {
    const chunk = all.slice(i, i + CHUNK);
    // The index rows first (as the stores write them), grouped by day: 100 to a transaction.
    const byDay = new Map<string, string[]>();
    for (const user of chunk) {
      for (const key of [indexes.session.partitionOf(user.sessionDay), indexes.cache.partitionOf(user.cacheDay)]) byDay.set(key, [...(byDay.get(key) ?? []), user.partition]);
    }
    const indexBatches: TransactionAction[][] = [];
    for (const [partitionKey, rowKeys] of byDay) {
      for (let j = 0; j < rowKeys.length; j += 100) indexBatches.push(rowKeys.slice(j, j + 100).map((rowKey): TransactionAction => ['upsert', { partitionKey, rowKey }, 'Replace']));
    }
    await mapLimit(indexBatches, SEED_CONCURRENCY, (batch) => client.submitTransaction(batch));
    await mapLimit(chunk, SEED_CONCURRENCY, (user) => client.submitTransaction([['create', user.session], ['create', user.cache]]));
    transactions += indexBatches.length + chunk.length;
  }
  return transactions;
}

const quietContext = () => new InvocationContext({ functionName: 'sweepExpired', logHandler: () => {} });

async function sweepUntilDone(services: Services): Promise<{ runs: number; deleted: { sessions: number; tokenCachePartitions: number } }> {
  const deleted = { sessions: 0, tokenCachePartitions: 0 };
  for (let runs = 1; ; runs++) {
    const report = await sweepExpired(services, quietContext());
    deleted.sessions += report.sessions;
    deleted.tokenCachePartitions += report.tokenCachePartitions;
    if (report.sessions === 0 && report.tokenCacheRows === 0) return { runs, deleted };
  }
}

async function measureSweep(services: Services) {
  const before = { ...services.storageTraffic };
  const start = performance.now();
  const { runs, deleted } = await sweepUntilDone(services);
  return { ms: performance.now() - start, runs, deleted, reads: services.storageTraffic.reads - before.reads, writes: services.storageTraffic.writes - before.writes };
}

/** The migration: the backfill markers removed, as in a table the version before the index wrote. */
async function measureBackfill(services: Services) {
  const client = createTableClient(services.config, TABLES.accounts);
  for (const kind of ['cache', 'session']) await client.deleteEntity('expiry-meta', `backfill-${kind}`);
  const cache = tableCacheOf(services);
  const sessions = tableSessionsOf(services);
  const before = { ...services.storageTraffic };
  const start = performance.now();
  let runs = 0;
  while (!(await cache.expiryIndex.backfillDone()) || !(await sessions.expiryIndex.backfillDone())) {
    runs += 1;
    await sweepExpired(services, quietContext());
  }
  return { ms: performance.now() - start, runs, reads: services.storageTraffic.reads - before.reads, writes: services.storageTraffic.writes - before.writes };
}

function tableCacheOf(services: Services): TableTokenCacheStore {
  const store = services.tokenCacheStore as Partial<L1TokenCacheStore> & Partial<TableTokenCacheStore>;
  return (store.inner ?? store) as TableTokenCacheStore;
}

function tableSessionsOf(services: Services): TableSessionStore {
  const store = services.sessionStore as Partial<RememberingSessionStore> & Partial<TableSessionStore>;
  return (store.inner ?? store) as TableSessionStore;
}

/** /api/mail for each signed-in user on an instance that has none of them in memory, then again. */
async function measureWarm(services: Services, url: string, cookies: readonly string[]) {
  const l1 = (services.tokenCacheStore as Partial<L1TokenCacheStore>).l1;
  l1?.clear();
  (services.sessionStore as Partial<RememberingSessionStore>).clear?.();
  const round = async () => {
    const before = { ...services.storageTraffic };
    for (const cookie of cookies) {
      const response = await fetch(`${url}/api/mail?top=10`, { headers: { cookie } });
      if (response.status !== 200) throw new Error(`/api/mail answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
      await response.arrayBuffer();
    }
    return { reads: (services.storageTraffic.reads - before.reads) / cookies.length, writes: (services.storageTraffic.writes - before.writes) / cookies.length };
  };
  const firstVisit = await round();
  const revisit = await round();
  return { firstVisit, revisit };
}

function memoryNow(): { rssBytes: number; heapUsedBytes: number } {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (() => void) | undefined;
  gc?.();
  const usage = process.memoryUsage();
  return { rssBytes: usage.rss, heapUsedBytes: usage.heapUsed };
}

export function formatScale(results: ScaleResults): string {
  const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
  const lines = [
    `## Sweep at scale${results.quick ? ' (--quick)' : ''}`,
    '',
    '| users | expired | sweep storage requests | per expired user | sweep ms | one partition query ms (emulator) | runs | warm first visit reads/writes | warm revisit reads/writes | RSS MB | heap MB | backfill requests (once) | backfill ms |',
    '|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|',
    ...results.sweep.map((s, i) => {
      const d = results.sweepDetail[i]!;
      const w = results.warm[i]!;
      const m = results.memory[i]!;
      const b = results.backfill[i]!;
      return `| ${s.users} | ${s.expired} | ${s.storageRequests} | ${d.requestsPerExpiredUser.toFixed(2)} | ${s.ms} | ${d.partitionQueryMs} | ${d.runs} | ${w.firstVisit.reads} / ${w.firstVisit.writes} | ${w.revisit.reads} / ${w.revisit.writes} | ${mb(m.rssBytes)} | ${mb(m.heapUsedBytes)} | ${b.storageRequests} | ${b.ms} |`;
    }),
    '',
    `Target: ${results.target.name} = ${results.target.value.toFixed(2)} (limit ${results.target.limit}): ${results.target.met ? 'met' : 'MISSED'}.`,
    '',
  ];
  return `${lines.join('\n')}\n`;
}
