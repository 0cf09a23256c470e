import {
  foreignAccounts,
  isEmptyCache,
  parseCacheJson,
  sameCache,
  serializeCacheJson,
  usefulUntil,
  CacheJsonError,
  type CacheJson,
} from '../../src/cache/cache-json';
import { compareFreshness, mergeCaches } from '../../src/cache/merge';

const at = (secret: string, cachedAt: number, expiresOn = cachedAt + 3600) => ({ secret, cached_at: String(cachedAt), expires_on: String(expiresOn) });
const rt = (secret: string) => ({ secret, credential_type: 'RefreshToken' });

function cache(parts: Partial<Record<'Account' | 'AccessToken' | 'RefreshToken' | 'IdToken' | 'AppMetadata', Record<string, object>>>): CacheJson {
  return parseCacheJson(JSON.stringify(parts));
}

describe('mergeCaches (three-way: base, mine, theirs)', () => {
  const base = cache({ AccessToken: { a: at('a0', 100), b: at('b0', 100) }, RefreshToken: { r: rt('r0') }, Account: { acc: { username: 'u' } } });

  it('keeps the union of entries added on either side', () => {
    const mine = cache({ ...base, AccessToken: { ...base['AccessToken'], c: at('c1', 200) } });
    const theirs = cache({ ...base, AccessToken: { ...base['AccessToken'], d: at('d1', 200) } });
    expect(Object.keys(mergeCaches(base, mine, theirs)['AccessToken']!).sort()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('takes their change where I changed nothing, and mine where they changed nothing', () => {
    const mine = cache({ ...base, AccessToken: { a: at('a-mine', 200), b: at('b0', 100) } });
    const theirs = cache({ ...base, AccessToken: { a: at('a0', 100), b: at('b-theirs', 200) } });
    const merged = mergeCaches(base, mine, theirs);
    expect(merged['AccessToken']!['a']!['secret']).toBe('a-mine');
    expect(merged['AccessToken']!['b']!['secret']).toBe('b-theirs');
  });

  it('prefers the later cached_at, then expires_on, when both changed the same entry', () => {
    const newer = cache({ ...base, AccessToken: { a: at('newer', 300), b: at('b0', 100) } });
    const older = cache({ ...base, AccessToken: { a: at('older', 200), b: at('b0', 100) } });
    expect(mergeCaches(base, older, newer)['AccessToken']!['a']!['secret']).toBe('newer');
    expect(mergeCaches(base, newer, older)['AccessToken']!['a']!['secret']).toBe('newer');
    const longer = cache({ ...base, AccessToken: { a: at('longer', 300, 9999), b: at('b0', 100) } });
    expect(mergeCaches(base, newer, longer)['AccessToken']!['a']!['secret']).toBe('longer');
  });

  it('prefers mine when nothing tells two rewrites apart (refresh tokens carry no timestamp)', () => {
    const mine = cache({ ...base, RefreshToken: { r: rt('r-mine') } });
    const theirs = cache({ ...base, RefreshToken: { r: rt('r-theirs') } });
    expect(mergeCaches(base, mine, theirs)['RefreshToken']!['r']!['secret']).toBe('r-mine');
  });

  it('keeps my deliberate removals removed, even when they rewrote the entry', () => {
    const mine = cache({ ...base, AccessToken: { b: at('b0', 100) } });
    const theirs = cache({ ...base, AccessToken: { a: at('a-theirs', 500), b: at('b0', 100) } });
    expect(Object.keys(mergeCaches(base, mine, theirs)['AccessToken']!)).toEqual(['b']);
  });

  it('honours their removal of an entry I did not touch, and keeps my rewrite of one they removed', () => {
    const mine = cache({ ...base, AccessToken: { a: at('a0', 100), b: at('b-mine', 300) } });
    const theirs = cache({ ...base, AccessToken: {} });
    expect(mergeCaches(base, mine, theirs)['AccessToken']).toEqual({ b: at('b-mine', 300) });
  });

  it('ignores key order when deciding whether an entry changed', () => {
    const reordered = parseCacheJson(JSON.stringify({ ...base, AccessToken: { a: { expires_on: '3700', cached_at: '100', secret: 'a0' }, b: at('b0', 100) } }));
    const theirs = cache({ ...base, AccessToken: { a: at('a-theirs', 500), b: at('b0', 100) } });
    expect(mergeCaches(base, reordered, theirs)['AccessToken']!['a']!['secret']).toBe('a-theirs');
  });

  it('merges sections it does not know (a later MSAL) by the same rules', () => {
    const mine = parseCacheJson(JSON.stringify({ ...base, Future: { x: { v: 1 } } }));
    const theirs = parseCacheJson(JSON.stringify({ ...base, Future: { y: { v: 2 } } }));
    expect(mergeCaches(base, mine, theirs)['Future']).toEqual({ x: { v: 1 }, y: { v: 2 } });
  });

  it('compares freshness numerically, not as text', () => {
    expect(compareFreshness({ cached_at: '1000' }, { cached_at: '999' })).toBeGreaterThan(0);
    expect(compareFreshness({ cached_at: 'x' }, { cached_at: '999' })).toBe(0);
  });
});

describe('cache JSON helpers', () => {
  it('parses "" as the empty cache and refuses what is not MSAL cache JSON, without quoting it', () => {
    expect(parseCacheJson('')).toEqual({});
    for (const bad of ['nope-SECRET', '[]', '{"AccessToken":[]}', '{"AccessToken":{"k":"SECRET"}}']) {
      let error: unknown;
      try {
        parseCacheJson(bad);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(CacheJsonError);
      expect((error as Error).message).not.toContain('SECRET');
    }
  });

  it('serializes MSAL\'s five sections always', () => {
    expect(JSON.parse(serializeCacheJson({}))).toEqual({ Account: {}, IdToken: {}, AccessToken: {}, RefreshToken: {}, AppMetadata: {} });
  });

  it('calls a cache with only app metadata empty', () => {
    expect(isEmptyCache(cache({ AppMetadata: { m: { client_id: 'c' } } }))).toBe(true);
    expect(isEmptyCache(cache({ RefreshToken: { r: rt('r') } }))).toBe(false);
  });

  it('compares caches by content', () => {
    expect(sameCache(cache({ AccessToken: { a: at('a', 1) } }), parseCacheJson(JSON.stringify({ AccessToken: { a: at('a', 1) }, IdToken: {} })))).toBe(true);
    expect(sameCache(cache({ AccessToken: { a: at('a', 1) } }), cache({ AccessToken: { a: at('a', 2) } }))).toBe(false);
  });

  it('finds entries of another account', () => {
    const mixed = cache({ AccessToken: { a: { home_account_id: 'A.T' }, b: { home_account_id: 'B.T' } }, AppMetadata: { m: {} } });
    expect(foreignAccounts(mixed, 'a.t')).toEqual(['B.T']);
  });

  it('keeps a cache with a refresh token for the horizon, one without until its last access token expires', () => {
    const now = 1_000_000_000_000;
    expect(usefulUntil(cache({ RefreshToken: { r: rt('r') } }), now, 5000)).toBe(now + 5000);
    const atOnly = cache({ AccessToken: { a: { ...at('a', 1), expires_on: String(now / 1000 + 60), extended_expires_on: String(now / 1000 + 120) } } });
    expect(usefulUntil(atOnly, now, 5000)).toBe(now + 120_000);
    expect(usefulUntil({}, now, 5000)).toBe(now);
  });
});
