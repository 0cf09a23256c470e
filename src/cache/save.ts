/**
 * Saving a changed MSAL cache: an ETag-conditional write that, when another request wrote first,
 * re-reads, merges (merge.ts) and tries again, a bounded number of times with jitter.
 *
 * Used by the cache plugin after MSAL changed the cache, and by the sign-in callback to store a
 * fresh sign-in. Rules that keep a user's tokens safe:
 * - Nothing changed (semantically) since the read: no write at all.
 * - The cache became empty (the last account was removed): the partition is deleted.
 * - The row we read was deleted meanwhile (sign-out, "forget me", eviction): the deletion wins; a
 *   refresh finishing late must not resurrect tokens the user asked us to drop. A sign-in
 *   (`replaceUnreadable`) is the exception: it is the user asking to be signed in again.
 * - A row that turns out unreadable is replaced only by a sign-in; otherwise the error propagates.
 */
import type { Clock } from '../clock';
import { CacheConflictError, CacheErrorCode, CacheUnreadableError, isCacheConflict } from './errors';
import { AppError } from '../errors';
import { foreignAccounts, isEmptyCache, parseCacheJson, sameCache, serializeCacheJson, usefulUntil, type CacheJson } from './cache-json';
import { mergeCaches } from './merge';
import { DEFAULT_REFRESH_TOKEN_HORIZON_MS, type TokenCacheStore } from './token-cache-store';

const KEPT_CHANGING = 'Your sign-in data kept changing on other requests at the same time. Try again.';

export interface SaveInput {
  /** What the request read ('' or undefined when the partition was empty or unreadable). */
  readonly base: string | undefined;
  /** What the request wants stored: `tokenCache.serialize()`. */
  readonly mine: string;
  /** The ETag of what was read; undefined when nothing was read (create-if-absent). */
  readonly etag: string | undefined;
}

export interface SaveOptions {
  /** A fresh sign-in: may replace an unreadable row, and recreates a partition deleted meanwhile. */
  readonly replaceUnreadable?: boolean;
  readonly maxAttempts?: number;
  readonly refreshTokenHorizonMs?: number;
  readonly clock?: Clock;
  readonly random?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export type SaveResult =
  | { readonly outcome: 'written'; readonly data: string; readonly etag: string; readonly attempts: number }
  | { readonly outcome: 'unchanged' }
  | { readonly outcome: 'removed' }
  /** The partition was deleted after our read; nothing was written. */
  | { readonly outcome: 'gone' };

export const DEFAULT_SAVE_ATTEMPTS = 5;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function saveTokenCache(store: TokenCacheStore, homeAccountId: string, input: SaveInput, options: SaveOptions = {}): Promise<SaveResult> {
  const clock = options.clock ?? Date.now;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? defaultSleep;
  const maxAttempts = options.maxAttempts ?? DEFAULT_SAVE_ATTEMPTS;
  const horizon = options.refreshTokenHorizonMs ?? DEFAULT_REFRESH_TOKEN_HORIZON_MS;

  const base = parseCacheJson(input.base ?? '');
  const mine = parseCacheJson(input.mine);
  const foreign = foreignAccounts(mine, homeAccountId);
  if (foreign.length > 0) {
    throw new AppError(CacheErrorCode.PARTITION_MISMATCH, 'The token cache of one account holds entries of another account.', { status: 500 });
  }

  // `stored` is what the row holds as far as we know: first what we read, then what the re-read found.
  let stored: CacheJson = base;
  let target: CacheJson = mine;
  let etag = input.etag;
  for (let attempt = 1; ; attempt++) {
    if (isEmptyCache(target)) {
      if (etag === undefined) return { outcome: 'unchanged' };
      // Only the version we merged against: a write since (a sign-in, a refresh) is merged first.
      if (await store.removePartition(homeAccountId, { ifVersion: etag })) return { outcome: 'removed' };
      if (attempt >= maxAttempts) throw new CacheConflictError('changed', KEPT_CHANGING);
    } else {
      // The row already says what we would write (MSAL flagged a change that changed nothing, or
      // the other writer's version already contains ours): a write would only cost money.
      if (etag !== undefined && sameCache(target, stored)) return { outcome: 'unchanged' };
      const data = serializeCacheJson(target);
      try {
        const written = await store.write(homeAccountId, data, { etag, expiresAt: usefulUntil(target, clock(), horizon) });
        return { outcome: 'written', data, etag: written.etag, attempts: attempt };
      } catch (error) {
        if (!isCacheConflict(error)) throw error;
        if (attempt >= maxAttempts) throw new CacheConflictError(error.reason, KEPT_CHANGING);
      }
    }
    await sleep(Math.floor(random() * 25 * 2 ** attempt));

    const readEtag = etag;
    try {
      const current = await store.read(homeAccountId);
      if (current === undefined) {
        if (readEtag !== undefined && !options.replaceUnreadable) return { outcome: 'gone' };
        stored = {};
        etag = undefined;
      } else {
        stored = parseCacheJson(current.data);
        etag = current.etag;
      }
    } catch (error) {
      if (!(error instanceof CacheUnreadableError) || !options.replaceUnreadable) throw error;
      stored = {};
      etag = error.etag;
    }
    target = mergeCaches(base, mine, stored);
  }
}
