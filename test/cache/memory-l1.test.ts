import { randomBytes } from 'node:crypto';
import { L1TokenCacheStore } from '../../src/cache/l1-token-cache-store';
import { MemoryL1 } from '../../src/cache/memory-l1';
import { MemoryTokenCacheBacking, MemoryTokenCacheStore } from '../../src/cache/memory-token-cache-store';
import { saveTokenCache } from '../../src/cache/save';
import { tokenCacheRowsSink } from '../../src/cache/shared-read';
import type { TableTokenCacheStore } from '../../src/cache/table-token-cache-store';
import { partitionKeyOf } from '../../src/cache/token-cache-store';
import { parseKeyRing } from '../../src/crypto/keyring';
import { accessTokenEntry, accessTokenKey, buildCache, newIdentity } from './msal-cache-fixture';

describe('MemoryL1', () => {
  let now = 0;
  const clock = () => now;
  const entry = (size: number) => ({ data: 'x'.repeat(size), etag: 'e' });

  beforeEach(() => {
    now = 1_000;
  });

  it('serves an entry until its TTL, then forgets it', () => {
    const l1 = new MemoryL1({ maxBytes: 10_000, ttlMs: 30_000, clock });
    l1.set('p', entry(10), l1.mark());
    now += 29_999;
    expect(l1.get('p')).toEqual(entry(10));
    now += 1;
    expect(l1.get('p')).toBeUndefined();
    expect(l1.size).toBe(0);
    expect(l1.bytes).toBe(0);
    expect(l1.stats).toMatchObject({ hits: 1, misses: 1 });
  });

  it('evicts the least recently used entries when over its byte bound', () => {
    const l1 = new MemoryL1({ maxBytes: 3 * (2 * (1 + 100 + 1) + 64), ttlMs: 60_000, clock });
    l1.set('a', entry(100), l1.mark());
    l1.set('b', entry(100), l1.mark());
    l1.set('c', entry(100), l1.mark());
    l1.get('a'); // a is now the most recently used
    l1.set('d', entry(100), l1.mark());
    expect(l1.get('b')).toBeUndefined();
    expect(l1.get('a')).toBeDefined();
    expect(l1.get('c')).toBeDefined();
    expect(l1.get('d')).toBeDefined();
    expect(l1.stats.evictions).toBe(1);
    expect(l1.bytes).toBeLessThanOrEqual(3 * (2 * 102 + 64));
  });

  it('does not let one oversized entry flush the others, and is off with maxBytes 0', () => {
    const l1 = new MemoryL1({ maxBytes: 1_000, ttlMs: 60_000, clock });
    l1.set('small', entry(10), l1.mark());
    l1.set('huge', entry(10_000), l1.mark());
    expect(l1.get('huge')).toBeUndefined();
    expect(l1.get('small')).toBeDefined();
    const off = new MemoryL1({ maxBytes: 0, ttlMs: 60_000, clock });
    off.set('p', entry(1), off.mark());
    expect(off.enabled).toBe(false);
    expect(off.get('p')).toBeUndefined();
  });

  it('replaces an entry in place and drops it on invalidate', () => {
    const l1 = new MemoryL1({ maxBytes: 10_000, ttlMs: 60_000, clock });
    l1.set('p', entry(10), l1.mark());
    l1.set('p', { data: 'new', etag: 'e2' }, l1.mark());
    expect(l1.get('p')).toEqual({ data: 'new', etag: 'e2' });
    l1.invalidate('p');
    expect(l1.get('p')).toBeUndefined();
    expect(l1.bytes).toBe(0);
  });

  it('does not keep a value whose read an invalidation overtook', () => {
    const l1 = new MemoryL1({ maxBytes: 10_000, ttlMs: 60_000, clock });
    const mark = l1.mark(); // a storage read starts
    l1.invalidate('p'); // a refresh on this instance drops the copy before reading storage itself
    l1.set('p', { data: 'old', etag: 'e1' }, mark); // the first read answers, with the old cache
    expect(l1.get('p')).toBeUndefined();
    l1.set('other', { data: 'x', etag: 'e' }, mark); // other partitions are not held up
    expect(l1.get('other')).toBeDefined();
  });
});

describe('L1TokenCacheStore', () => {
  const ring = parseKeyRing(`k1:${randomBytes(32).toString('base64')}`);
  let backing: MemoryTokenCacheBacking;
  let now: number;
  const make = () => {
    const storage = new MemoryTokenCacheStore({ keyRing: ring, backing });
    return { storage, store: new L1TokenCacheStore(storage, new MemoryL1({ maxBytes: 1_000_000, ttlMs: 30_000, clock: () => now })) };
  };
  const user = newIdentity();

  beforeEach(() => {
    backing = new MemoryTokenCacheBacking();
    now = Date.now();
  });

  it('serves repeated reads from memory: a warm request costs no storage read', async () => {
    const { store } = make();
    const { json } = buildCache(user);
    await store.write(user.homeAccountId, json, {});
    const before = { ...store.counters };
    expect((await store.read(user.homeAccountId))?.data).toBe(json);
    expect((await store.read(user.homeAccountId))?.data).toBe(json);
    expect(store.counters.reads - before.reads).toBe(0); // the write filled the copy
    expect(store.l1.stats.hits).toBe(2);
  });

  it('never caches absence: a sign-in on another instance is seen at once', async () => {
    const a = make();
    const b = make();
    expect(await a.store.read(user.homeAccountId)).toBeUndefined();
    await b.store.write(user.homeAccountId, buildCache(user).json, {});
    expect(await a.store.read(user.homeAccountId)).toBeDefined();
  });

  it('loses no update from a stale copy: the ETag conflict drops the copy and the merge re-reads storage', async () => {
    const a = make();
    const b = make();
    const { json } = buildCache(user);
    await a.store.write(user.homeAccountId, json, {});
    const staleOnA = (await a.store.read(user.homeAccountId))!;

    // Instance B adds a token; A's copy is now stale but still within its TTL.
    const onB = (await b.store.read(user.homeAccountId))!;
    const withB = JSON.parse(onB.data) as { AccessToken: Record<string, unknown> };
    withB.AccessToken[accessTokenKey(user, 'B.Scope')] = accessTokenEntry(user, { target: 'B.Scope' });
    await b.store.write(user.homeAccountId, JSON.stringify(withB), { etag: onB.etag });
    expect(await a.store.read(user.homeAccountId)).toEqual(staleOnA);

    // A writes from its stale copy: conflict, re-read from storage, merge.
    const withA = JSON.parse(staleOnA.data) as { AccessToken: Record<string, unknown> };
    withA.AccessToken[accessTokenKey(user, 'A.Scope')] = accessTokenEntry(user, { target: 'A.Scope' });
    const result = await saveTokenCache(a.store, user.homeAccountId, { base: staleOnA.data, mine: JSON.stringify(withA), etag: staleOnA.etag }, { sleep: async () => {} });
    expect(result).toMatchObject({ outcome: 'written', attempts: 2 });
    // B's own copy is now the stale one (for up to its TTL); storage has both tokens.
    const final = JSON.parse((await b.storage.read(user.homeAccountId))!.data) as { AccessToken: Record<string, unknown> };
    expect(Object.keys(final.AccessToken)).toEqual(expect.arrayContaining([accessTokenKey(user, 'A.Scope'), accessTokenKey(user, 'B.Scope')]));
  });

  it('drops the copy on invalidate (after taking the refresh lease) and on removal', async () => {
    const { store } = make();
    await store.write(user.homeAccountId, buildCache(user).json, {});
    store.invalidate(user.homeAccountId);
    const before = store.counters.reads;
    await store.read(user.homeAccountId);
    expect(store.counters.reads - before).toBe(1);
    await store.removePartition(user.homeAccountId);
    expect(store.l1.get(partitionKeyOf(user.homeAccountId))).toBeUndefined();
    expect(await store.read(user.homeAccountId)).toBeUndefined();
  });

  it('a read in flight across an invalidate does not put the old cache back, from the store or from the shared session read', async () => {
    const { storage, store } = make();
    const { json } = buildCache(user);
    await storage.write(user.homeAccountId, json, {});
    const partition = partitionKeyOf(user.homeAccountId);

    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slowRead = storage.read.bind(storage);
    jest.spyOn(storage, 'read').mockImplementationOnce(async (account) => {
      const found = await slowRead(account);
      await gate;
      return found;
    });
    const reading = store.read(user.homeAccountId); // request 1 reads storage
    const table = { rowKeyRange: { from: 'cache', to: 'cache.' }, decodeRows: async () => ({ data: 'old', etag: 'e-old' }) };
    const receiver = tokenCacheRowsSink(table as unknown as TableTokenCacheStore, store.l1).receiverFor(user.homeAccountId)!; // request 2's session read goes out
    store.invalidate(user.homeAccountId); // request 3 took the refresh lease
    release();
    await reading;
    await receiver([]);
    expect(store.l1.isFresh(partition)).toBe(false);
    const before = store.counters.reads;
    expect((await store.read(user.homeAccountId))?.data).toBe(json); // request 3 reads storage, not a stale copy
    expect(store.counters.reads - before).toBe(1);
  });
});
