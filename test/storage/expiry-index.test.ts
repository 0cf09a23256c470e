/**
 * The expiry index on Azurite (src/storage/expiry-index.ts): writers index first, the sweep reads
 * only past days' entries, tolerates stale ones, deletes conditionally, backfills old tables once,
 * and costs the same number of storage requests whatever the number of live users.
 */
import { randomBytes } from 'node:crypto';
import { odata, type TableClient } from '@azure/data-tables';
import { TableSessionStore } from '../../src/auth/session-store';
import { sweepSessions } from '../../src/auth/session-sweep';
import { TableTokenCacheStore } from '../../src/cache/table-token-cache-store';
import { parseKeyRing } from '../../src/crypto/keyring';
import { ExpiryIndex, expiryBucketOf } from '../../src/storage/expiry-index';
import { countTraffic, type StorageTraffic } from '../../src/storage/tables';
import { useAzurite } from '../support/azurite';
import { newAccount, rowKeysOf, sessionRecord, sessionRef } from '../support/session-rows';

const azurite = useAzurite();
const ring = parseKeyRing(`k1:${randomBytes(32).toString('base64')}`);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const SESSION_ROWS = { from: 'session-', to: 'session.' };

interface Fixture {
  readonly client: TableClient;
  readonly traffic: StorageTraffic;
  cache(clock?: () => number): TableTokenCacheStore;
  sessions(clock?: () => number): TableSessionStore;
}

async function setUp(): Promise<Fixture> {
  const table = azurite().uniqueTable('exp');
  const client = azurite().tableClient(table);
  await client.createTable();
  const traffic: StorageTraffic = { reads: 0, writes: 0 };
  countTraffic(client, traffic);
  return {
    client,
    traffic,
    cache: (clock = Date.now) => new TableTokenCacheStore({ client, keyRing: ring, clock }),
    sessions: (clock = Date.now) => new TableSessionStore(client, { keyRing: ring, clock }),
  };
}

/** Every index row of a kind, as `<day>/<account partition>`. */
async function indexRows(client: TableClient, kind: string): Promise<string[]> {
  const rows: string[] = [];
  const filter = odata`PartitionKey ge ${`expiry-${kind}-`} and PartitionKey lt ${`expiry-${kind}.`}`;
  for await (const row of client.listEntities({ queryOptions: { filter, select: ['PartitionKey', 'RowKey'] } })) {
    rows.push(`${row.partitionKey!.slice(`expiry-${kind}-`.length)}/${row.rowKey}`);
  }
  return rows.sort();
}

/** Sweeps both kinds until a run finds nothing, as successive timer runs would; answers what went. */
async function sweepAll(fixture: Fixture, now: number, maxRows = 500): Promise<{ caches: number; sessions: number; runs: number }> {
  const cache = fixture.cache();
  const sessions = fixture.sessions();
  let total = { caches: 0, sessions: 0, runs: 0 };
  for (;;) {
    const swept = await cache.sweepExpired({ now, maxRows });
    const ended = await sessions.sweepExpired(now, maxRows);
    total = { caches: total.caches + swept.partitions, sessions: total.sessions + ended, runs: total.runs + 1 };
    if (swept.rows === 0 && ended === 0) return total;
  }
}

describe('expiry index: what writers add', () => {
  it('a cache write indexes its expiry day before it writes, once per day and instance', async () => {
    const fixture = await setUp();
    const cache = fixture.cache();
    const account = newAccount();
    const expiresAt = Date.now() + 91 * DAY;
    await cache.write(newAccount(), '{}', {}); // the store's first write also creates its table
    const before = { ...fixture.traffic };
    const { etag } = await cache.write(account, '{}', { expiresAt });
    expect(fixture.traffic.writes - before.writes).toBe(2);
    expect(await indexRows(fixture.client, 'cache')).toContain(`${expiryBucketOf(expiresAt)}/${account}`);

    // A refresh moves the expiry by half an hour: on the same day (unless that crosses midnight UTC,
    // when the new day costs its index write) this instance knows it, no extra write.
    const sameDay = expiryBucketOf(expiresAt + HOUR / 2) === expiryBucketOf(expiresAt);
    const again = { ...fixture.traffic };
    await cache.write(account, '{"a":1}', { etag, expiresAt: expiresAt + HOUR / 2 });
    expect(fixture.traffic.writes - again.writes).toBe(sameDay ? 1 : 2);
    expect(cache.expiryIndex.counters).toEqual(sameDay ? { noted: 2, remembered: 1 } : { noted: 3, remembered: 0 });
  });

  it('the index row is written first: a write refused after it leaves a stale entry, never an unindexed row', async () => {
    const fixture = await setUp();
    const account = newAccount();
    await fixture.cache().write(account, '{}', { expiresAt: Date.now() + DAY });
    const other = fixture.cache(); // another instance, which never indexed this account
    const later = Date.now() + 30 * DAY;
    await expect(other.write(account, '{}', { expiresAt: later })).rejects.toMatchObject({ code: 'token_cache_conflict' });
    expect(await indexRows(fixture.client, 'cache')).toEqual([`${expiryBucketOf(Date.now() + DAY)}/${account}`, `${expiryBucketOf(later)}/${account}`].sort());
  });

  it('a session indexes the earlier of its idle and absolute expiry at sign-in, and its new day at a sliding write', async () => {
    const fixture = await setUp();
    const now = Date.now();
    const sessions = fixture.sessions(() => now);
    const account = newAccount();
    const device = sessionRef(account);
    const before = { ...fixture.traffic };
    await sessions.create(device, sessionRecord(account, now));
    expect(fixture.traffic.writes - before.writes).toBe(2);
    // The sliding write, an hour later: the same expiry day costs nothing more on this instance...
    const slide = { ...fixture.traffic };
    await sessions.touch(device, now + HOUR, now + HOUR + 14 * DAY - HOUR / 2);
    expect(fixture.traffic.writes - slide.writes).toBe(1 + (expiryBucketOf(now + 14 * DAY + HOUR / 2) === expiryBucketOf(now + 14 * DAY) ? 0 : 1));
    // ...a new day costs one index write (none when the slide above already crossed into that day:
    // near midnight UTC, now + 14 days + 30 minutes falls on the day of now + 15 days).
    const nextDay = { ...fixture.traffic };
    await sessions.touch(device, now + DAY, now + 15 * DAY);
    expect(fixture.traffic.writes - nextDay.writes).toBe(1 + (expiryBucketOf(now + 15 * DAY) === expiryBucketOf(now + 14 * DAY + HOUR / 2) ? 0 : 1));
    const rows = await indexRows(fixture.client, 'session');
    expect(rows).toContain(`${expiryBucketOf(now + 14 * DAY)}/${account}`);
    expect(rows).toContain(`${expiryBucketOf(now + 15 * DAY)}/${account}`);
  });

  it('a warm read writes nothing', async () => {
    const fixture = await setUp();
    const account = newAccount();
    const device = sessionRef(account);
    await fixture.sessions().create(device, sessionRecord(account, Date.now()));
    await fixture.cache().write(account, '{}', {});
    const before = { ...fixture.traffic };
    await fixture.sessions().get(device);
    await fixture.cache().read(account);
    expect(fixture.traffic.writes - before.writes).toBe(0);
  });
});

describe('expiry index: the sweep', () => {
  it('tolerates stale entries: re-checks the expiry, keeps rows written since, drops the entry', async () => {
    const fixture = await setUp();
    const now = Date.now();
    const past = () => now - 20 * DAY;
    const account = newAccount();
    const device = sessionRef(account);
    // Written 20 days ago, due 10 days ago; then renewed (a refresh, a sliding write) on another day.
    const { etag } = await fixture.cache(past).write(account, '{}', { expiresAt: now - 10 * DAY });
    await fixture.sessions(past).create(device, sessionRecord(account, now - 20 * DAY));
    await fixture.cache().write(account, '{"renewed":1}', { etag, expiresAt: now + 91 * DAY });
    await fixture.sessions().touch(device, now, now + 14 * DAY);
    expect(await indexRows(fixture.client, 'cache')).toHaveLength(2);

    expect(await sweepAll(fixture, now)).toMatchObject({ caches: 0, sessions: 0 });
    expect(await rowKeysOf(fixture.client, account)).toEqual(['cache', `session-${device.idHash}`]);
    expect(await indexRows(fixture.client, 'cache')).toEqual([`${expiryBucketOf(now + 91 * DAY)}/${account}`]);
    expect(await indexRows(fixture.client, 'session')).toEqual([`${expiryBucketOf(now + 14 * DAY)}/${account}`]);
  });

  it('deletes a row only if unchanged since its read: a session slid meanwhile stays, and so does an entry indexed again', async () => {
    const fixture = await setUp();
    const now = Date.now();
    const past = () => now - 20 * DAY;
    const account = newAccount();
    const device = sessionRef(account);
    await fixture.sessions(past).create(device, sessionRecord(account, now - 20 * DAY));
    const sessions = fixture.sessions();
    const deleteEntity = fixture.client.deleteEntity.bind(fixture.client);
    let raced = false;
    fixture.client.deleteEntity = (async (partitionKey: string, rowKey: string, options?: { etag?: string }) => {
      if (!raced) {
        raced = true; // between the sweep's query and its delete, the user comes back (on an instance whose clock says 20 days ago)
        await fixture.sessions(past).touch(device, now - 19 * DAY, now + 14 * DAY);
        await fixture.client.upsertEntity({ partitionKey: `expiry-session-${expiryBucketOf(now - 6 * DAY)}`, rowKey: account }, 'Replace');
      }
      return deleteEntity(partitionKey, rowKey, options);
    }) as typeof fixture.client.deleteEntity;
    expect(await sessions.sweepExpired(now, 10)).toBe(0);
    expect(raced).toBe(true);
    expect(await sessions.get(device)).toMatchObject({ idleExpiresAt: now + 14 * DAY });
    // The entry indexed again meanwhile stayed: the next run visits it, finds nothing due, drops it.
    expect(await indexRows(fixture.client, 'session')).toContain(`${expiryBucketOf(now - 6 * DAY)}/${account}`);
    fixture.client.deleteEntity = deleteEntity;
    expect(await sessions.sweepExpired(now, 10)).toBe(0);
    expect(await indexRows(fixture.client, 'session')).not.toContain(`${expiryBucketOf(now - 6 * DAY)}/${account}`);
    expect(await sessions.get(device)).toBeDefined();
  });

  it('leaves today and yesterday until the day ended an hour ago', async () => {
    const fixture = await setUp();
    const account = newAccount();
    const now = Date.UTC(2030, 0, 10, 0, 30); // half past midnight: yesterday ended 30 minutes ago
    await fixture.cache(() => now - HOUR).write(account, '{}', { expiresAt: now - HOUR });
    expect(await fixture.cache().sweepExpired({ now, maxRows: 10 })).toEqual({ partitions: 0, rows: 0 });
    expect(await fixture.cache().sweepExpired({ now: now + HOUR, maxRows: 10 })).toEqual({ partitions: 1, rows: 1 });
  });
});

describe('expiry index: migration of a table written before it', () => {
  /** Writes rows through the stores, then removes every index row: the table as the old version left it. */
  async function legacyTable(fixture: Fixture, accounts: { live: number; expired: number }, now: number) {
    const past = () => now - 100 * DAY;
    const live = Array.from({ length: accounts.live }, newAccount);
    const expired = Array.from({ length: accounts.expired }, newAccount);
    for (const account of live) {
      await fixture.cache().write(account, '{}', { expiresAt: now + 91 * DAY });
      await fixture.sessions().create(sessionRef(account), sessionRecord(account, now));
    }
    for (const account of expired) {
      await fixture.cache(past).write(account, '{}', { expiresAt: now - 5 * DAY });
      await fixture.sessions(past).create(sessionRef(account), sessionRecord(account, now - 100 * DAY));
    }
    for (const kind of ['cache', 'session']) {
      const filter = odata`PartitionKey ge ${`expiry-${kind}-`} and PartitionKey lt ${`expiry-${kind}.`}`;
      for await (const row of fixture.client.listEntities({ queryOptions: { filter, select: ['PartitionKey', 'RowKey'] } })) {
        await fixture.client.deleteEntity(row.partitionKey!, row.rowKey!);
      }
    }
    await fixture.client.deleteEntity('expiry-meta', 'backfill-cache').catch(() => {});
    await fixture.client.deleteEntity('expiry-meta', 'backfill-session').catch(() => {});
    return { live, expired };
  }

  it('backfills the index once: old expired rows go, live rows get their entries, later runs scan nothing', async () => {
    const fixture = await setUp();
    const now = Date.now();
    const { live, expired } = await legacyTable(fixture, { live: 4, expired: 3 }, now);
    expect(await indexRows(fixture.client, 'cache')).toEqual([]);

    expect(await sweepAll(fixture, now)).toMatchObject({ caches: 3, sessions: 3 });
    for (const account of expired) expect(await rowKeysOf(fixture.client, account)).toEqual([]);
    for (const account of live) expect(await rowKeysOf(fixture.client, account)).toHaveLength(2);
    expect(await indexRows(fixture.client, 'cache')).toEqual(live.map((a) => `${expiryBucketOf(now + 91 * DAY)}/${a}`).sort());
    expect(await indexRows(fixture.client, 'session')).toEqual(live.map((a) => `${expiryBucketOf(now + 14 * DAY)}/${a}`).sort());

    // Done: a run now reads the marker and one page of entries per kind, nothing else.
    const before = { ...fixture.traffic };
    expect(await sweepAll(fixture, now)).toMatchObject({ caches: 0, sessions: 0, runs: 1 });
    expect({ reads: fixture.traffic.reads - before.reads, writes: fixture.traffic.writes - before.writes }).toEqual({ reads: 4, writes: 0 });
    // And when the live rows expire, they go through the index the backfill wrote.
    expect(await sweepAll(fixture, now + 93 * DAY)).toMatchObject({ caches: 4, sessions: 4 });
  });

  it('resumes the backfill run after run from where it stopped', async () => {
    const fixture = await setUp();
    const now = Date.now();
    const { live, expired } = await legacyTable(fixture, { live: 5, expired: 4 }, now);
    const index = new ExpiryIndex({ client: fixture.client, kind: 'session', backfillPageSize: 2, backfillPagesPerRun: 2 });
    const runs: number[] = [];
    let swept = 0;
    while (!(await index.backfillDone())) {
      const before = index.counters.noted;
      swept += await sweepSessions(fixture.client, index, SESSION_ROWS, now, 100);
      runs.push(index.counters.noted - before);
      expect(runs.length).toBeLessThan(10);
    }
    // 9 sessions, 4 a run (2 pages of 2): three runs; the expired ones went as the backfill reached them.
    expect(runs).toHaveLength(3);
    expect(swept).toBe(expired.length);
    expect(await indexRows(fixture.client, 'session')).toEqual(live.map((a) => `${expiryBucketOf(now + 14 * DAY)}/${a}`).sort());
  });
});

describe('expiry index: the sweep costs what expired, not the number of users', () => {
  async function sweepCost(liveUsers: number, expiredUsers: number): Promise<{ reads: number; writes: number }> {
    const fixture = await setUp();
    const now = Date.now();
    await sweepAll(fixture, now); // a new table: the backfill finds nothing and is done
    const past = () => now - 100 * DAY;
    const write = async (account: string, clock: () => number, at: number, expiresAt: number) => {
      await fixture.cache(clock).write(account, '{}', { expiresAt });
      await fixture.sessions(clock).create(sessionRef(account), sessionRecord(account, at));
    };
    const accounts = [...Array.from({ length: liveUsers }, () => ({ clock: Date.now, at: now, expiresAt: now + 91 * DAY })), ...Array.from({ length: expiredUsers }, () => ({ clock: past, at: now - 100 * DAY, expiresAt: now - 5 * DAY }))];
    for (let i = 0; i < accounts.length; i += 20) {
      await Promise.all(accounts.slice(i, i + 20).map(({ clock, at, expiresAt }) => write(newAccount(), clock, at, expiresAt)));
    }
    const before = { ...fixture.traffic };
    expect(await sweepAll(fixture, now)).toMatchObject({ caches: expiredUsers, sessions: expiredUsers });
    return { reads: fixture.traffic.reads - before.reads, writes: fixture.traffic.writes - before.writes };
  }

  it('the same storage requests with 10x the live users', async () => {
    const small = await sweepCost(20, 5);
    const large = await sweepCost(200, 5);
    expect(large).toEqual(small);
    // Per expired user: its two index entries' visits (one query each) and deletes, its cache and session deletes.
    expect(small.writes).toBe(5 * 4);
  }, 60_000);
});
