import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isUint8Array } from 'node:util/types';
import { odata, type TableClient } from '@azure/data-tables';
import { randomBytes } from 'node:crypto';
import { parseKeyRing } from '../../src/crypto/keyring';
import { TableTokenCacheStore } from '../../src/cache/table-token-cache-store';
import { partitionKeyOf } from '../../src/cache/token-cache-store';
import { startAzurite } from '../../emulators/azurite';
import { TableClient as PlainTableClient } from '@azure/data-tables';
import { useAzurite } from '../support/azurite';
import { L1TokenCacheStore } from '../../src/cache/l1-token-cache-store';
import { MemoryL1 } from '../../src/cache/memory-l1';
import { createTokenCachePlugin } from '../../src/cache/msal-cache-plugin';
import { buildCache, buildLargeCache, newIdentity } from './msal-cache-fixture';
import { createApp, offlineNetwork, tokenResponse } from './msal-harness';
import { runTokenCacheStoreTests } from './store-suite';

async function rawRows(client: TableClient, homeAccountId: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  const partition = partitionKeyOf(homeAccountId);
  for await (const entity of client.listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey eq ${partition}` } })) {
    rows.push(entity);
  }
  return rows;
}

function render(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '';
  return rows
    .map((row) =>
      Object.entries(row)
        .map(([k, v]) => (isUint8Array(v) ? `${k}=${Buffer.from(v).toString('utf8')}|${Buffer.from(v).toString('base64')}` : `${k}=${String(v)}`))
        .join('\n'),
    )
    .join('\n---\n');
}

const ring = parseKeyRing(`k1:${randomBytes(32).toString('base64')}`);
/** One Azurite for the file (in memory); each test works in its own table. */
const azurite = useAzurite();

describe('TableTokenCacheStore on Azurite', () => {
  runTokenCacheStoreTests('TableTokenCacheStore', async () => {
    const table = azurite().uniqueTable('tc');
    const raw = azurite().tableClient(table);
    await raw.createTable();
    return {
      makeStore: ({ keyRing, clock }) => new TableTokenCacheStore({ client: azurite().tableClient(table), keyRing, ...(clock ? { clock } : {}) }),
      async corrupt(homeAccountId) {
        const head = await raw.getEntity<Record<string, unknown>>(partitionKeyOf(homeAccountId), 'cache');
        const d0 = Buffer.from(head['d0'] as Uint8Array);
        d0[d0.length - 20]! ^= 1;
        const partitionKey = partitionKeyOf(homeAccountId);
        await raw.updateEntity({ ...head, partitionKey, rowKey: 'cache', d0: new Uint8Array(d0) }, 'Replace', { etag: head.etag });
      },
      rawDump: async (homeAccountId) => render(await rawRows(raw, homeAccountId)),
      expiryIndexWrites: 1,
    };
  });

  describe('row layout', () => {
    let table: string;
    let raw: TableClient;
    let store: TableTokenCacheStore;
    beforeEach(async () => {
      table = azurite().uniqueTable('layout');
      raw = azurite().tableClient(table);
      store = new TableTokenCacheStore({ client: azurite().tableClient(table), keyRing: ring });
    });

    it('creates its table on the first write and reads a missing table as empty', async () => {
      const user = newIdentity();
      expect(await store.read(user.homeAccountId)).toBeUndefined();
      await store.write(user.homeAccountId, buildCache(user).json, {});
      expect(await store.read(user.homeAccountId)).toBeDefined();
    });

    it('keeps the kid, expiry and update time as plain columns and the ciphertext as binary chunks under 64 KiB', async () => {
      const user = newIdentity();
      const expiresAt = Date.now() + 3_600_000;
      const { json } = buildLargeCache(user, 300 * 1024);
      await store.write(user.homeAccountId, json, { expiresAt });
      const rows = await rawRows(raw, user.homeAccountId);
      expect(rows.map((r) => r['rowKey'])).toEqual(['cache']);
      const head = rows[0]!;
      expect(head['kid']).toBe('k1');
      expect(new Date(head['expiresAt'] as Date).getTime()).toBe(expiresAt);
      expect(Number.isFinite(new Date(head['updatedAt'] as Date).getTime())).toBe(true);
      const chunks = Math.ceil((json.length + 2 + 2 + 12 + 16) / (60 * 1024));
      expect(chunks).toBeGreaterThanOrEqual(5);
      expect(head['chunks']).toBe(chunks);
      expect(head['size']).toBe(json.length + 2 + 2 + 12 + 16);
      for (let i = 0; i < chunks; i++) {
        const chunk = head[`d${i}`] as Uint8Array;
        expect(isUint8Array(chunk)).toBe(true);
        expect(chunk.length).toBeLessThan(64 * 1024);
      }
    });

    it('spreads a cache over ~660 KiB across rows written in one transaction', async () => {
      const user = newIdentity();
      await store.write(user.homeAccountId, buildLargeCache(user, 1200 * 1024).json, {});
      const rows = await rawRows(raw, user.homeAccountId);
      expect(rows.map((r) => r['rowKey'])).toEqual(['cache', 'cache-001']);
      expect(rows[1]!['gen']).toBe(rows[0]!['gen']);
    });

    it('does not open a row copied into another user\'s partition', async () => {
      const victim = newIdentity();
      const attacker = newIdentity();
      await store.write(victim.homeAccountId, buildCache(victim).json, {});
      const head = await raw.getEntity<Record<string, unknown>>(partitionKeyOf(victim.homeAccountId), 'cache');
      const { etag: _etag, timestamp: _timestamp, ...copy } = head as Record<string, unknown>;
      await raw.createEntity({ ...copy, partitionKey: partitionKeyOf(attacker.homeAccountId), rowKey: 'cache' });
      await expect(store.read(attacker.homeAccountId)).rejects.toMatchObject({ code: 'token_cache_unreadable', kid: 'k1' });
    });

    it('a sweep racing a sign-in deletes only the expired cache: never the head (or rows) written just after', async () => {
      for (const size of [1024, 1000 * 1024]) {
        const user = newIdentity();
        const now = Date.now();
        await store.write(user.homeAccountId, buildLargeCache(user, size).json, { expiresAt: now - 1000 });
        const fresh = buildLargeCache(user, size).json;
        const client = azurite().tableClient(table);
        const deleteEntity = client.deleteEntity.bind(client);
        let signedIn = false;
        client.deleteEntity = (async (partitionKey: string, rowKey: string, options?: { etag?: string }) => {
          const result = await deleteEntity(partitionKey, rowKey, options);
          if (!signedIn && rowKey === 'cache') {
            signedIn = true; // the user signs in again between the head's delete and the rest
            await store.write(user.homeAccountId, fresh, {});
          }
          return result;
        }) as typeof client.deleteEntity;
        const sweeper = new TableTokenCacheStore({ client, keyRing: ring });
        expect(await sweeper.sweepExpired({ now: now + 2 * 86_400_000, maxRows: 10 })).toMatchObject({ partitions: 1 });
        expect(signedIn).toBe(true);
        expect((await store.read(user.homeAccountId))?.data).toBe(fresh);
        const rows = await rawRows(raw, user.homeAccountId);
        expect(rows.map((r) => r['rowKey'])).toEqual(size > 1024 ? ['cache', 'cache-001'] : ['cache']);
        expect(new Set(rows.map((r) => r['gen'])).size).toBe(1);
      }
    });

    it('sweeps an orphaned continuation row left by a shrinking write once it expires', async () => {
      const user = newIdentity();
      const past = Date.now() - 1000;
      const first = await store.write(user.homeAccountId, buildLargeCache(user, 1000 * 1024).json, { expiresAt: past });
      await store.write(user.homeAccountId, buildCache(user).json, { etag: first.etag });
      expect((await rawRows(raw, user.homeAccountId)).map((r) => r['rowKey'])).toEqual(['cache', 'cache-001']);
      expect(await store.sweepExpired({ now: Date.now() + 2 * 86_400_000, maxRows: 10 })).toEqual({ partitions: 0, rows: 1 });
      expect((await rawRows(raw, user.homeAccountId)).map((r) => r['rowKey'])).toEqual(['cache']);
      expect(await store.read(user.homeAccountId)).toBeDefined();
    });
  });
});

describe('MSAL with the cache plugin on Table Storage (Azurite)', () => {
  async function setUp() {
    const table = azurite().uniqueTable('msal');
    const raw = azurite().tableClient(table);
    const storage = new TableTokenCacheStore({ client: azurite().tableClient(table), keyRing: ring });
    const user = newIdentity();
    const built = buildCache(user);
    await storage.write(user.homeAccountId, built.json, {});
    Object.assign(storage.counters, { reads: 0, writes: 0, deletes: 0, conflicts: 0 });
    return { raw, storage, user, built };
  }

  const network = (respond: (body: URLSearchParams) => Promise<Record<string, unknown>>) => offlineNetwork(respond, { gets: [], posts: [] });
  const noNetwork = network(async () => {
    throw new Error('no token request expected');
  });

  it('a warm request (valid access token) costs one read and no write', async () => {
    const { storage, user, built } = await setUp();
    const msal = createApp(createTokenCachePlugin({ store: storage, homeAccountId: user.homeAccountId }), noNetwork);
    const account = (await msal.getTokenCache().getAccountByHomeId(user.homeAccountId))!;
    expect(storage.counters).toMatchObject({ reads: 1, writes: 0 });
    const result = await msal.acquireTokenSilent({ account, scopes: ['Mail.Read'] });
    expect(result.accessToken).toBe(built.secrets[0]);
    expect(storage.counters).toMatchObject({ reads: 2, writes: 0, deletes: 0 });
  });

  it('with the L1, the next request on the same instance costs no storage round trip at all', async () => {
    const { storage, user } = await setUp();
    const store = new L1TokenCacheStore(storage, new MemoryL1({ maxBytes: 1_000_000, ttlMs: 30_000 }));
    const request = async () => {
      const msal = createApp(createTokenCachePlugin({ store, homeAccountId: user.homeAccountId }), noNetwork);
      const account = (await msal.getTokenCache().getAccountByHomeId(user.homeAccountId))!;
      return msal.acquireTokenSilent({ account, scopes: ['Mail.Read'] });
    };
    await request();
    expect(storage.counters).toMatchObject({ reads: 1, writes: 0 });
    await request();
    expect(storage.counters).toMatchObject({ reads: 1, writes: 0 });
  });

  it('a refresh writes once, and the new tokens are not readable in the raw rows', async () => {
    const { raw, storage, user } = await setUp();
    const response = tokenResponse(user, 'User.Read');
    const msal = createApp(createTokenCachePlugin({ store: storage, homeAccountId: user.homeAccountId }), network(async () => response));
    const account = (await msal.getTokenCache().getAccountByHomeId(user.homeAccountId))!;
    const result = await msal.acquireTokenSilent({ account, scopes: ['User.Read'] });
    expect(result.accessToken).toBe(response.access_token);
    expect(storage.counters.writes).toBe(1);
    const dump = render(await rawRows(raw, user.homeAccountId));
    expect(dump).not.toContain(response.access_token);
    expect(dump).not.toContain(response.refresh_token);
    expect(dump).not.toContain('-SECRET-');
  });
});

describe('TableTokenCacheStore when storage goes down', () => {
  let folder: string;
  beforeAll(async () => {
    folder = await mkdtemp(path.join(tmpdir(), 'azurite-'));
  });
  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('answers storage_unavailable (503, Retry-After) while down, and finds the row intact after a restart', async () => {
    const azurite = await startAzurite({ location: folder });
    try {
      const client = PlainTableClient.fromConnectionString(azurite.connectionString, 'tokencache', {
        allowInsecureConnection: true,
        retryOptions: { maxRetries: 0 },
      });
      const store = new TableTokenCacheStore({ client, keyRing: ring });
      const user = newIdentity();
      const { json } = buildCache(user);
      const { etag } = await store.write(user.homeAccountId, json, {});

      await azurite.stop();
      expect(azurite.running).toBe(false);
      const down = { code: 'storage_unavailable', status: 503, retryAfterSeconds: 5 };
      await expect(store.read(user.homeAccountId)).rejects.toMatchObject(down);
      await expect(store.write(user.homeAccountId, json, { etag })).rejects.toMatchObject(down);
      await expect(store.acquireLease(user.homeAccountId, 'h', 15_000)).rejects.toMatchObject(down);

      await azurite.restart();
      expect(await store.read(user.homeAccountId)).toEqual({ data: json, etag });
    } finally {
      await azurite.stop();
    }
  }, 60_000);
});
