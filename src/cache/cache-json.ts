/**
 * Reading MSAL's serialized cache (the JSON `TokenCache.serialize()` produces) without depending on
 * MSAL's internal classes: top-level sections (Account, IdToken, AccessToken, RefreshToken,
 * AppMetadata, and any section a later MSAL adds) each map a cache key to an entry object.
 */

export type CacheEntry = Readonly<Record<string, unknown>>;
export type CacheSection = Readonly<Record<string, CacheEntry>>;
export type CacheJson = Readonly<Record<string, CacheSection>>;

export const KNOWN_SECTIONS = ['Account', 'IdToken', 'AccessToken', 'RefreshToken', 'AppMetadata'] as const;

export class CacheJsonError extends Error {
  readonly code = 'TOKEN_CACHE_JSON_INVALID';
  constructor(what: string) {
    // The text itself is never quoted: it holds tokens.
    super(`The serialized token cache is not MSAL cache JSON (${what}).`);
    this.name = 'CacheJsonError';
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** '' (MSAL's "nothing yet") parses to the empty cache. */
export function parseCacheJson(text: string): CacheJson {
  if (text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CacheJsonError('not JSON');
  }
  if (!isObject(parsed)) throw new CacheJsonError('not an object');
  const cache: Record<string, CacheSection> = {};
  for (const [name, section] of Object.entries(parsed)) {
    if (!isObject(section)) throw new CacheJsonError(`section ${JSON.stringify(name)} is not an object`);
    const entries: Record<string, CacheEntry> = {};
    for (const [key, entry] of Object.entries(section)) {
      if (!isObject(entry)) throw new CacheJsonError(`an entry of ${JSON.stringify(name)} is not an object`);
      entries[key] = entry;
    }
    cache[name] = entries;
  }
  return cache;
}

/** Always writes MSAL's five sections, so MSAL's deserializer sees the shape it produced. */
export function serializeCacheJson(cache: CacheJson): string {
  const out: Record<string, CacheSection> = {};
  for (const name of KNOWN_SECTIONS) out[name] = cache[name] ?? {};
  for (const [name, section] of Object.entries(cache)) if (!(name in out)) out[name] = section;
  return JSON.stringify(out);
}

export function entryCount(cache: CacheJson): number {
  return Object.values(cache).reduce((n, section) => n + Object.keys(section).length, 0);
}

/**
 * Nothing worth keeping: no account and no token. AppMetadata alone (MSAL leaves it behind after
 * removeAccount) does not keep a partition alive.
 */
export function isEmptyCache(cache: CacheJson): boolean {
  return Object.entries(cache).every(([name, section]) => name === 'AppMetadata' || Object.keys(section).length === 0);
}

/** Entry equality that ignores key order (MSAL may rebuild objects in another order). */
export function sameEntry(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b as object).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => sameEntry((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

export function sameCache(a: CacheJson, b: CacheJson): boolean {
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const name of names) {
    const sa = a[name] ?? {};
    const sb = b[name] ?? {};
    const keys = new Set([...Object.keys(sa), ...Object.keys(sb)]);
    for (const key of keys) if (!sameEntry(sa[key], sb[key])) return false;
  }
  return true;
}

/**
 * Home account ids named by entries that do not belong to the partition's account. One partition
 * holds one user's tokens; anything else is a bug that must not be persisted.
 */
export function foreignAccounts(cache: CacheJson, homeAccountId: string): string[] {
  const expected = homeAccountId.toLowerCase();
  const foreign = new Set<string>();
  for (const section of Object.values(cache)) {
    for (const entry of Object.values(section)) {
      const id = entry['home_account_id'];
      if (typeof id === 'string' && id.toLowerCase() !== expected) foreign.add(id);
    }
  }
  return [...foreign];
}

function seconds(value: unknown): number | undefined {
  const n = typeof value === 'string' ? Number(value) : typeof value === 'number' ? value : NaN;
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/**
 * When the stored cache stops being useful, for eviction. msal-node does not serialize a refresh
 * token's expiry, and Entra slides it (90 days from each use, and each refresh writes the row), so
 * with a refresh token the answer is "now + horizon". Without one, the cache is worth keeping only
 * until its last access token expires.
 */
export function usefulUntil(cache: CacheJson, now: number, refreshTokenHorizonMs: number): number {
  if (Object.keys(cache['RefreshToken'] ?? {}).length > 0) return now + refreshTokenHorizonMs;
  let latest = now;
  for (const entry of Object.values(cache['AccessToken'] ?? {})) {
    const until = seconds(entry['extended_expires_on']) ?? seconds(entry['expires_on']);
    if (until !== undefined) latest = Math.max(latest, until * 1000);
  }
  return latest;
}
