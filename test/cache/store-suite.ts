/**
 * The token-cache store contract, run against every implementation (oauth2-proxy's
 * RunSessionStoreTests pattern): test/cache/memory-token-cache-store.test.ts and
 * test/cache/table-token-cache-store.test.ts call runTokenCacheStoreTests with their own harness.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../src/clock';
import { parseKeyRing, type KeyRing } from '../../src/crypto/keyring';
import { CacheConflictError, CacheErrorCode, CacheUnreadableError } from '../../src/cache/errors';
import { parseCacheJson } from '../../src/cache/cache-json';
import { saveTokenCache } from '../../src/cache/save';
import type { TokenCacheStore } from '../../src/cache/token-cache-store';
import { accessTokenKey, buildCache, buildLargeCache, newIdentity, refreshTokenKey, secret } from './msal-cache-fixture';

export interface MakeStoreOptions {
  readonly keyRing: KeyRing | { current(): Promise<KeyRing>; renew?(): Promise<boolean> };
  readonly clock?: Clock;
}

/** One isolated backend per test: every store it makes shares the same data, like instances share a table. */
export interface StoreHarness {
  makeStore(options: MakeStoreOptions): TokenCacheStore;
  /** Flips one byte of the partition's stored ciphertext, behind the store's back. */
  corrupt(homeAccountId: string): Promise<void>;
  /** Everything the backend holds for the partition, rendered as text (binary both as UTF-8 and base64). */
  rawDump(homeAccountId: string): Promise<string>;
  /** Extra writes when a write's expiry falls on a day not yet indexed (the Table store's expiry index: 1). */
  readonly expiryIndexWrites?: number;
}

/**
 * When a sweep sees a row expired at `now`: the Table store sweeps a day (UTC) once it ended an
 * hour ago (src/storage/expiry-index.ts), so these tests sweep two days on.
 */
const SWEEP_LAG_MS = 2 * 86_400_000;

const newKey = (kid: string) => `${kid}:${randomBytes(32).toString('base64')}`;

async function caught(promise: Promise<unknown>): Promise<Error & { code?: string; status?: number }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

export function runTokenCacheStoreTests(name: string, makeHarness: () => Promise<StoreHarness> | StoreHarness): void {
  describe(`token-cache store contract: ${name}`, () => {
    let harness: StoreHarness;
    let ring: KeyRing;
    let store: TokenCacheStore;
    const k1 = newKey('k1');

    beforeEach(async () => {
      harness = await makeHarness();
      ring = parseKeyRing(k1);
      store = harness.makeStore({ keyRing: ring });
    });

    it('reads nothing from an empty partition', async () => {
      expect(await store.read(newIdentity().homeAccountId)).toBeUndefined();
    });

    it('round-trips a cache, with the ETag the write returned, in one read and one write', async () => {
      const user = newIdentity();
      const { json } = buildCache(user);
      const before = { ...store.counters };
      const { etag } = await store.write(user.homeAccountId, json, {});
      const read = await store.read(user.homeAccountId);
      expect(read).toEqual({ data: json, etag });
      // The first write of an expiry day also writes that day's index row, first.
      expect(store.counters.writes - before.writes).toBe(1 + (harness.expiryIndexWrites ?? 0));
      expect(store.counters.reads - before.reads).toBe(1);
      const again = { ...store.counters };
      await store.write(user.homeAccountId, `${json} `, { etag });
      expect(store.counters.writes - again.writes).toBe(1);
    });

    it('treats homeAccountId case-insensitively and keeps partitions apart', async () => {
      const a = newIdentity();
      const b = newIdentity();
      const { json } = buildCache(a);
      await store.write(a.homeAccountId.toUpperCase(), json, {});
      expect((await store.read(a.homeAccountId))?.data).toBe(json);
      expect(await store.read(b.homeAccountId)).toBeUndefined();
    });

    it.each(['', 'oid.tid', 'a/b', '../x', `${newIdentity().homeAccountId}#`, `${newIdentity().homeAccountId}\n`])(
      'refuses the partition %j',
      async (bad) => {
        expect((await caught(store.read(bad))).code).toBe(CacheErrorCode.PARTITION_INVALID);
        expect((await caught(store.write(bad, '{}', {}))).code).toBe(CacheErrorCode.PARTITION_INVALID);
      },
    );

    it('creates only when absent: a second create is a conflict', async () => {
      const user = newIdentity();
      await store.write(user.homeAccountId, buildCache(user).json, {});
      const error = await caught(store.write(user.homeAccountId, buildCache(user).json, {}));
      expect(error).toBeInstanceOf(CacheConflictError);
      expect([error.code, (error as CacheConflictError).reason]).toEqual([CacheErrorCode.CONFLICT, 'exists']);
      expect(store.counters.conflicts).toBe(1);
    });

    it('replaces only with the current ETag', async () => {
      const user = newIdentity();
      const first = await store.write(user.homeAccountId, buildCache(user).json, {});
      const second = await store.write(user.homeAccountId, buildCache(user).json, { etag: first.etag });
      expect(second.etag).not.toBe(first.etag);
      const stale = await caught(store.write(user.homeAccountId, buildCache(user).json, { etag: first.etag }));
      expect((stale as CacheConflictError).reason).toBe('changed');
    });

    it('removes a cache only if it is still the version read (a sign-in racing a sign-out keeps its tokens)', async () => {
      const user = newIdentity();
      expect(await store.version(user.homeAccountId)).toBeUndefined();
      const { etag } = await store.write(user.homeAccountId, buildCache(user).json, {});
      expect(await store.version(user.homeAccountId)).toBe(etag);
      await store.write(user.homeAccountId, buildCache(user).json, { etag }); // a sign-in saves its tokens
      expect(await store.removePartition(user.homeAccountId, { ifVersion: etag })).toBe(false);
      expect(await store.read(user.homeAccountId)).toBeDefined();
      expect(await store.removePartition(user.homeAccountId, { ifVersion: (await store.version(user.homeAccountId))! })).toBe(true);
      expect(await store.read(user.homeAccountId)).toBeUndefined();
      expect(await harness.rawDump(user.homeAccountId)).toBe('');
      expect(await store.removePartition(user.homeAccountId, { ifVersion: etag })).toBe(false);
    });

    it('reports a write against a deleted row as a conflict ("gone"), never recreating it', async () => {
      const user = newIdentity();
      const { etag } = await store.write(user.homeAccountId, buildCache(user).json, {});
      await store.removePartition(user.homeAccountId);
      const error = await caught(store.write(user.homeAccountId, buildCache(user).json, { etag }));
      expect((error as CacheConflictError).reason).toBe('gone');
      expect(await store.read(user.homeAccountId)).toBeUndefined();
    });

    it('never stores a token in plain text', async () => {
      const user = newIdentity();
      const { json, secrets } = buildCache(user, { accessTokens: [{}, { target: 'User.Read' }] });
      await store.write(user.homeAccountId, json, {});
      const raw = await harness.rawDump(user.homeAccountId);
      expect(raw.length).toBeGreaterThan(100);
      for (const token of secrets) {
        expect(raw).not.toContain(token);
        expect(raw).not.toContain(token.split('.')[1]!);
      }
      expect(raw).not.toContain('RefreshToken');
      expect(raw).not.toContain('-SECRET-');
    });

    it('keeps working through a key rotation: old rows open with the new ring, new rows use the new key', async () => {
      const user = newIdentity();
      await store.write(user.homeAccountId, buildCache(user).json, {});
      const rotated = parseKeyRing(`${newKey('k2')},${k1}`);
      const newInstance = harness.makeStore({ keyRing: rotated });
      const old = await newInstance.read(user.homeAccountId);
      expect(old).toBeDefined();
      const updated = buildCache(user).json;
      await newInstance.write(user.homeAccountId, updated, { etag: old!.etag });
      expect((await newInstance.read(user.homeAccountId))?.data).toBe(updated);

      // An instance still on the old ring cannot open it, and says which key it lacks.
      const error = await caught(store.read(user.homeAccountId));
      expect(error).toBeInstanceOf(CacheUnreadableError);
      expect([error.code, error.status, (error as CacheUnreadableError).kid]).toEqual([CacheErrorCode.UNREADABLE, 401, 'k2']);

      // With a provider, it asks once for the newer ring and then opens it.
      let current = ring;
      const provider = { current: async () => current, renew: jest.fn(async () => ((current = rotated), true)) };
      const renewing = harness.makeStore({ keyRing: provider });
      expect((await renewing.read(user.homeAccountId))?.data).toBe(updated);
      expect(provider.renew).toHaveBeenCalledTimes(1);
    });

    it('reports a row sealed with an unknown key as unreadable, with its kid and ETag', async () => {
      const user = newIdentity();
      const { etag } = await store.write(user.homeAccountId, buildCache(user).json, {});
      const stranger = harness.makeStore({ keyRing: parseKeyRing(newKey('other')) });
      const error = (await caught(stranger.read(user.homeAccountId))) as CacheUnreadableError;
      expect(error).toBeInstanceOf(CacheUnreadableError);
      expect([error.kid, error.etag]).toEqual(['k1', etag]);
      expect(error.message).not.toContain('SECRET');
    });

    it('reports a corrupted row as unreadable (it is not thrown as a 500)', async () => {
      const user = newIdentity();
      await store.write(user.homeAccountId, buildCache(user).json, {});
      await harness.corrupt(user.homeAccountId);
      const error = (await caught(store.read(user.homeAccountId))) as CacheUnreadableError;
      expect(error).toBeInstanceOf(CacheUnreadableError);
      expect(error.status).toBe(401);
      expect(error.kid).toBe('k1');
    });

    it('replaces an unreadable row when the writer names its ETag', async () => {
      const user = newIdentity();
      await store.write(user.homeAccountId, buildCache(user).json, {});
      await harness.corrupt(user.homeAccountId);
      const { etag } = (await caught(store.read(user.homeAccountId))) as CacheUnreadableError;
      const fresh = buildCache(user).json;
      await store.write(user.homeAccountId, fresh, { etag });
      expect((await store.read(user.homeAccountId))?.data).toBe(fresh);
    });

    it('stores a 300 KiB cache', async () => {
      const user = newIdentity();
      const { json, secrets } = buildLargeCache(user, 300 * 1024);
      expect(json.length).toBeGreaterThanOrEqual(300 * 1024);
      const { etag } = await store.write(user.homeAccountId, json, {});
      expect(await store.read(user.homeAccountId)).toEqual({ data: json, etag });
      const raw = await harness.rawDump(user.homeAccountId);
      expect(raw).not.toContain(secrets[0]!);
    });

    it('stores a cache larger than one row (1.2 MiB), then shrinks and grows it again', async () => {
      const user = newIdentity();
      const big = buildLargeCache(user, 1200 * 1024).json;
      const first = await store.write(user.homeAccountId, big, {});
      expect(await store.read(user.homeAccountId)).toEqual({ data: big, etag: first.etag });
      const small = buildCache(user).json;
      const second = await store.write(user.homeAccountId, small, { etag: first.etag });
      expect(await store.read(user.homeAccountId)).toEqual({ data: small, etag: second.etag });
      const bigger = buildLargeCache(user, 1500 * 1024).json;
      const third = await store.write(user.homeAccountId, bigger, { etag: second.etag });
      expect(await store.read(user.homeAccountId)).toEqual({ data: bigger, etag: third.etag });
      await store.removePartition(user.homeAccountId);
      expect(await harness.rawDump(user.homeAccountId)).toBe('');
    });

    it('refuses a cache over the size limit', async () => {
      const user = newIdentity();
      const error = await caught(store.write(user.homeAccountId, 'x'.repeat(2 * 1024 * 1024 + 1), {}));
      expect(error.code).toBe(CacheErrorCode.TOO_LARGE);
    });

    it('merges two writers that read the same ETag: nothing is lost', async () => {
      const user = newIdentity();
      const base = buildCache(user);
      const { etag } = await store.write(user.homeAccountId, base.json, {});
      const read = (await store.read(user.homeAccountId))!;
      expect(read.etag).toBe(etag);

      // Two instances add different access tokens to the same version.
      const instanceA = harness.makeStore({ keyRing: ring });
      const instanceB = harness.makeStore({ keyRing: ring });
      const withAt = (target: string) => {
        const json = JSON.parse(read.data) as { AccessToken: Record<string, unknown> };
        json.AccessToken[accessTokenKey(user, target)] = { ...Object.values(json.AccessToken)[0] as object, target, secret: secret('AT') };
        return JSON.stringify(json);
      };
      const noSleep = { sleep: async () => {} };
      const a = await saveTokenCache(instanceA, user.homeAccountId, { base: read.data, mine: withAt('User.Read'), etag: read.etag }, noSleep);
      const b = await saveTokenCache(instanceB, user.homeAccountId, { base: read.data, mine: withAt('Calendars.Read'), etag: read.etag }, noSleep);
      expect(a.outcome).toBe('written');
      expect(b).toMatchObject({ outcome: 'written', attempts: 2 });
      expect(instanceB.counters.conflicts).toBe(1);

      const final = parseCacheJson((await store.read(user.homeAccountId))!.data);
      expect(Object.keys(final['AccessToken']!).sort()).toEqual(
        [accessTokenKey(user, 'Mail.Read openid profile offline_access'), accessTokenKey(user, 'User.Read'), accessTokenKey(user, 'Calendars.Read')].sort(),
      );
      expect(Object.keys(final['RefreshToken']!)).toEqual([refreshTokenKey(user)]);
    });

    it('removes a partition with its lease; removing an absent one is fine', async () => {
      const user = newIdentity();
      await store.write(user.homeAccountId, buildCache(user).json, {});
      await store.acquireLease(user.homeAccountId, 'h1', 15_000);
      await store.removePartition(user.homeAccountId);
      expect(await store.read(user.homeAccountId)).toBeUndefined();
      expect(await store.readLease(user.homeAccountId)).toBeUndefined();
      expect(await harness.rawDump(user.homeAccountId)).toBe('');
      await store.removePartition(newIdentity().homeAccountId);
    });

    describe('leases', () => {
      it('give the lease to one holder at a time, and to the next after release', async () => {
        const user = newIdentity().homeAccountId;
        const lease = await store.acquireLease(user, 'holder-a', 15_000);
        expect(lease).toMatchObject({ holder: 'holder-a' });
        expect(await store.acquireLease(user, 'holder-b', 15_000)).toBeUndefined();
        expect(await store.readLease(user)).toMatchObject({ holder: 'holder-a' });
        await store.releaseLease(lease!);
        expect(await store.readLease(user)).toBeUndefined();
        expect(await store.acquireLease(user, 'holder-b', 15_000)).toMatchObject({ holder: 'holder-b' });
      });

      it('let the holder extend its own lease', async () => {
        const user = newIdentity().homeAccountId;
        const first = await store.acquireLease(user, 'holder-a', 15_000);
        const again = await store.acquireLease(user, 'holder-a', 15_000);
        expect(again).toBeDefined();
        expect(again!.etag).not.toBe(first!.etag);
      });

      it('are taken over once expired, and the old holder cannot release the new lease', async () => {
        const user = newIdentity().homeAccountId;
        const start = Date.now();
        const early = harness.makeStore({ keyRing: ring, clock: () => start });
        const late = harness.makeStore({ keyRing: ring, clock: () => start + 20_000 });
        const stale = await early.acquireLease(user, 'crashed', 15_000);
        expect(await early.acquireLease(user, 'other', 15_000)).toBeUndefined();
        const taken = await late.acquireLease(user, 'other', 15_000);
        expect(taken).toMatchObject({ holder: 'other', expiresAt: start + 35_000 });
        await early.releaseLease(stale!);
        expect(await late.readLease(user)).toMatchObject({ holder: 'other' });
      });

      it('are exclusive under concurrent acquirers', async () => {
        const user = newIdentity().homeAccountId;
        const contenders = Array.from({ length: 8 }, (_, i) => harness.makeStore({ keyRing: ring }).acquireLease(user, `holder-${i}`, 15_000));
        const results = await Promise.all(contenders);
        expect(results.filter((r) => r !== undefined)).toHaveLength(1);
      });

      it('are exclusive when concurrent acquirers race for an expired lease', async () => {
        const user = newIdentity().homeAccountId;
        const start = Date.now();
        await harness.makeStore({ keyRing: ring, clock: () => start }).acquireLease(user, 'crashed', 1_000);
        const later = () => start + 5_000;
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, i) => harness.makeStore({ keyRing: ring, clock: later }).acquireLease(user, `holder-${i}`, 15_000)),
        );
        expect(results.filter((r) => r !== undefined)).toHaveLength(1);
      });
    });

    describe('eviction', () => {
      it('deletes expired caches whole and stale leases, leaves live caches and live leases, within maxRows', async () => {
        const now = Date.now();
        const expired = [newIdentity(), newIdentity(), newIdentity()];
        const live = newIdentity();
        for (const user of expired) {
          await store.write(user.homeAccountId, buildCache(user).json, { expiresAt: now - 1000 });
        }
        const day = 86_400_000;
        await store.acquireLease(expired[0]!.homeAccountId, 'h', SWEEP_LAG_MS + day);
        await store.write(live.homeAccountId, buildCache(live).json, { expiresAt: now + 90 * day });
        // A stale lease (its holder crashed) goes with its partition's expired cache.
        await harness.makeStore({ keyRing: ring, clock: () => now - 60_000 }).acquireLease(expired[1]!.homeAccountId, 'h', 15_000);

        const sweepAt = now + SWEEP_LAG_MS;
        const first = await store.sweepExpired({ now: sweepAt, maxRows: 2 });
        expect(first.partitions).toBeGreaterThanOrEqual(1);
        expect(first.partitions).toBeLessThanOrEqual(2);
        const rest = await store.sweepExpired({ now: sweepAt, maxRows: 100 });
        expect(first.partitions + rest.partitions).toBe(3);
        for (const user of expired) expect(await store.read(user.homeAccountId)).toBeUndefined();
        for (const user of expired.slice(1)) expect(await harness.rawDump(user.homeAccountId)).toBe('');
        expect(await store.read(live.homeAccountId)).toBeDefined();
        // A live lease stays (it may guard a refresh of a cache a sign-in wrote just now); it goes once expired.
        expect(await store.readLease(expired[0]!.homeAccountId)).toBeDefined();
        expect(await store.sweepExpired({ now: sweepAt, maxRows: 100 })).toEqual({ partitions: 0, rows: 0 });
        expect(await store.sweepExpired({ now: sweepAt + SWEEP_LAG_MS + day, maxRows: 100 })).toEqual({ partitions: 0, rows: 1 });
        expect(await harness.rawDump(expired[0]!.homeAccountId)).toBe('');
      });

      it('derives expiry from the cache when saved: 90 days and a margin with a refresh token', async () => {
        const user = newIdentity();
        const now = Date.now();
        await saveTokenCache(store, user.homeAccountId, { base: undefined, mine: buildCache(user).json, etag: undefined }, { clock: () => now });
        expect(await store.sweepExpired({ now: now + 90 * 86_400_000, maxRows: 10 })).toEqual({ partitions: 0, rows: 0 });
        const swept = await store.sweepExpired({ now: now + 91 * 86_400_000 + SWEEP_LAG_MS, maxRows: 10 });
        expect(swept.partitions).toBe(1);
      });
    });
  });
}
