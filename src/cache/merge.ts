/**
 * Three-way merge of MSAL caches, for a write that lost the ETag race.
 *
 *   base   = what this request read (the version its changes were made against)
 *   mine   = what this request wants to store
 *   theirs = what storage holds now (another request's write landed in between)
 *
 * Per section, per cache key:
 * 1. I did not touch the entry (mine = base): take theirs, including their removal.
 * 2. They did not touch it (theirs = base): take mine, including my removal.
 * 3. Both touched it:
 *    - I removed it: it stays removed (a deliberate removal, such as a revoked token MSAL dropped,
 *      must not come back from the other copy);
 *    - they removed it and I rewrote it: keep mine (a refreshed token is the newest thing known);
 *    - both rewrote it: the later one by `cached_at`, then `expires_on`, then
 *      `last_modification_time`; on a tie (entries without timestamps: refresh tokens, id
 *      tokens) mine, the write that happened last. Both candidates are valid grants from Entra.
 * Keys neither side has are absent; keys only one side added are kept (the union).
 */
import { sameEntry, type CacheEntry, type CacheJson, type CacheSection } from './cache-json';

const TIMESTAMPS = ['cached_at', 'expires_on', 'last_modification_time'] as const;

function timestamp(entry: CacheEntry, field: string): number | undefined {
  const value = entry[field];
  const n = typeof value === 'string' ? Number(value) : typeof value === 'number' ? value : NaN;
  return Number.isFinite(n) ? n : undefined;
}

/** Positive when a is newer than b, negative when older, 0 when no timestamp tells them apart. */
export function compareFreshness(a: CacheEntry, b: CacheEntry): number {
  for (const field of TIMESTAMPS) {
    const ta = timestamp(a, field);
    const tb = timestamp(b, field);
    if (ta !== undefined && tb !== undefined && ta !== tb) return ta - tb;
  }
  return 0;
}

function mergeEntry(base: CacheEntry | undefined, mine: CacheEntry | undefined, theirs: CacheEntry | undefined): CacheEntry | undefined {
  if (sameEntry(mine, base)) return theirs;
  if (sameEntry(theirs, base)) return mine;
  if (mine === undefined) return undefined;
  if (theirs === undefined) return mine;
  return compareFreshness(theirs, mine) > 0 ? theirs : mine;
}

export function mergeCaches(base: CacheJson, mine: CacheJson, theirs: CacheJson): CacheJson {
  const merged: Record<string, CacheSection> = {};
  const sections = new Set([...Object.keys(base), ...Object.keys(mine), ...Object.keys(theirs)]);
  for (const name of sections) {
    const b = base[name] ?? {};
    const m = mine[name] ?? {};
    const t = theirs[name] ?? {};
    const out: Record<string, CacheEntry> = {};
    for (const key of new Set([...Object.keys(b), ...Object.keys(m), ...Object.keys(t)])) {
      const entry = mergeEntry(b[key], m[key], t[key]);
      if (entry !== undefined) out[key] = entry;
    }
    merged[name] = out;
  }
  return merged;
}
