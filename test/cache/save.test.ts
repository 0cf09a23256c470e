import { randomBytes } from 'node:crypto';
import { parseCacheJson } from '../../src/cache/cache-json';
import { CacheConflictError, CacheUnreadableError } from '../../src/cache/errors';
import { MemoryTokenCacheBacking, MemoryTokenCacheStore } from '../../src/cache/memory-token-cache-store';
import { saveTokenCache, type SaveOptions } from '../../src/cache/save';
import { partitionKeyOf, type TokenCacheStore } from '../../src/cache/token-cache-store';
import { parseKeyRing } from '../../src/crypto/keyring';
import { accessTokenEntry, accessTokenKey, buildCache, newIdentity } from './msal-cache-fixture';

const ring = parseKeyRing(`k1:${randomBytes(32).toString('base64')}`);
const fast: SaveOptions = { sleep: async () => {} };

function withAccessToken(json: string, user: ReturnType<typeof newIdentity>, target: string): string {
  const parsed = JSON.parse(json) as { AccessToken: Record<string, unknown> };
  parsed.AccessToken[accessTokenKey(user, target)] = accessTokenEntry(user, { target });
  return JSON.stringify(parsed);
}

describe('saveTokenCache', () => {
  let backing: MemoryTokenCacheBacking;
  let store: MemoryTokenCacheStore;
  const user = newIdentity();

  beforeEach(() => {
    backing = new MemoryTokenCacheBacking();
    store = new MemoryTokenCacheStore({ keyRing: ring, backing });
  });

  it('creates the row when nothing was read', async () => {
    const { json } = buildCache(user);
    const result = await saveTokenCache(store, user.homeAccountId, { base: undefined, mine: json, etag: undefined }, fast);
    expect(result).toMatchObject({ outcome: 'written', attempts: 1 });
    expect(parseCacheJson((await store.read(user.homeAccountId))!.data)).toEqual(parseCacheJson(json));
  });

  it('does not write when the content did not change (whatever the key order)', async () => {
    const { json } = buildCache(user);
    const { etag } = await store.write(user.homeAccountId, json, {});
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(json) as object).reverse()));
    expect(await saveTokenCache(store, user.homeAccountId, { base: json, mine: reordered, etag }, fast)).toEqual({ outcome: 'unchanged' });
    expect(store.counters.writes).toBe(1);
  });

  it('deletes the partition when the cache became empty', async () => {
    const { json } = buildCache(user);
    const { etag } = await store.write(user.homeAccountId, json, {});
    await store.acquireLease(user.homeAccountId, 'x', 15_000);
    const empty = JSON.stringify({ Account: {}, IdToken: {}, AccessToken: {}, RefreshToken: {}, AppMetadata: JSON.parse(json).AppMetadata });
    expect(await saveTokenCache(store, user.homeAccountId, { base: json, mine: empty, etag }, fast)).toEqual({ outcome: 'removed' });
    expect(backing.caches.size).toBe(0);
    expect(backing.leases.size).toBe(1); // left to expire: it may guard someone's refresh
  });

  it('does not delete what another request wrote after the read: merges it instead', async () => {
    const { json } = buildCache(user);
    const { etag } = await store.write(user.homeAccountId, json, {});
    const empty = JSON.stringify({ Account: {}, IdToken: {}, AccessToken: {}, RefreshToken: {}, AppMetadata: JSON.parse(json).AppMetadata });
    const theirs = withAccessToken(json, user, 'User.Read');
    await store.write(user.homeAccountId, theirs, { etag });
    const result = await saveTokenCache(store, user.homeAccountId, { base: json, mine: empty, etag }, fast);
    expect(result).toMatchObject({ outcome: 'written', attempts: 2 });
    const stored = JSON.parse((await store.read(user.homeAccountId))!.data) as { AccessToken: Record<string, unknown> };
    expect(Object.keys(stored.AccessToken)).toEqual([accessTokenKey(user, 'User.Read')]);
  });

  it('does not resurrect a partition deleted after the read', async () => {
    const { json } = buildCache(user);
    const { etag } = await store.write(user.homeAccountId, json, {});
    await store.removePartition(user.homeAccountId);
    const mine = withAccessToken(json, user, 'User.Read');
    expect(await saveTokenCache(store, user.homeAccountId, { base: json, mine, etag }, fast)).toEqual({ outcome: 'gone' });
    expect(await store.read(user.homeAccountId)).toBeUndefined();
  });

  it('recreates it for a sign-in', async () => {
    const { json } = buildCache(user);
    const { etag } = await store.write(user.homeAccountId, json, {});
    await store.removePartition(user.homeAccountId);
    const result = await saveTokenCache(store, user.homeAccountId, { base: json, mine: buildCache(user).json, etag }, { ...fast, replaceUnreadable: true });
    expect(result).toMatchObject({ outcome: 'written', attempts: 2 });
  });

  it('merges into a row another request created first (sign-in racing a sign-in)', async () => {
    const theirs = buildCache(user);
    await store.write(user.homeAccountId, theirs.json, {});
    const mine = withAccessToken(buildCache(user).json, user, 'User.Read');
    const result = await saveTokenCache(store, user.homeAccountId, { base: undefined, mine, etag: undefined }, fast);
    expect(result).toMatchObject({ outcome: 'written', attempts: 2 });
    const stored = parseCacheJson((await store.read(user.homeAccountId))!.data);
    expect(Object.keys(stored['AccessToken']!).sort()).toEqual(
      [accessTokenKey(user, 'Mail.Read openid profile offline_access'), accessTokenKey(user, 'User.Read')].sort(),
    );
  });

  it('does not overwrite a row that became unreadable, unless it is a sign-in', async () => {
    const { json } = buildCache(user);
    const { etag } = await store.write(user.homeAccountId, json, {});
    await store.write(user.homeAccountId, json, { etag }); // another instance wrote since our read...
    const row = backing.caches.get(partitionKeyOf(user.homeAccountId))!;
    row.sealed[row.sealed.length - 1]! ^= 1; // ...and the row is now corrupt
    const mine = withAccessToken(json, user, 'User.Read');
    await expect(saveTokenCache(store, user.homeAccountId, { base: json, mine, etag }, fast)).rejects.toBeInstanceOf(CacheUnreadableError);
    const replaced = await saveTokenCache(store, user.homeAccountId, { base: json, mine, etag }, { ...fast, replaceUnreadable: true });
    expect(replaced).toMatchObject({ outcome: 'written' });
    expect((await store.read(user.homeAccountId))!.data).toContain('user.read');
  });

  it('gives up after maxAttempts with token_cache_conflict (503, Retry-After), sleeping with jitter between tries', async () => {
    const { json } = buildCache(user);
    await store.write(user.homeAccountId, json, {});
    // A store whose every write loses the race.
    const losing: TokenCacheStore = {
      counters: store.counters,
      read: (id) => store.read(id),
      write: async () => {
        throw new CacheConflictError('changed');
      },
      version: (id) => store.version(id),
      removePartition: (id, options) => store.removePartition(id, options),
      acquireLease: (id, h, t) => store.acquireLease(id, h, t),
      releaseLease: (l) => store.releaseLease(l),
      readLease: (id) => store.readLease(id),
      sweepExpired: (o) => store.sweepExpired(o),
    };
    const sleeps: number[] = [];
    const { etag } = (await store.read(user.homeAccountId))!;
    const error = await saveTokenCache(losing, user.homeAccountId, { base: json, mine: withAccessToken(json, user, 'X'), etag }, {
      maxAttempts: 4,
      random: () => 0.5,
      sleep: async (ms) => void sleeps.push(ms),
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'token_cache_conflict', status: 503, retryAfterSeconds: 1 });
    expect(sleeps).toEqual([25, 50, 100]);
  });

  it('refuses to store another account\'s entries in this partition', async () => {
    const other = newIdentity();
    await expect(saveTokenCache(store, user.homeAccountId, { base: undefined, mine: buildCache(other).json, etag: undefined }, fast)).rejects.toMatchObject({
      code: 'token_cache_partition_mismatch',
    });
    expect(store.counters.writes).toBe(0);
  });
});
