/**
 * The MSAL cache plugin: persists one user's MSAL token cache in the token-cache store.
 *
 * One plugin per request, bound to one partition (homeAccountId), given to a
 * ConfidentialClientApplication built for that request: an application never holds two users'
 * tokens (the distributed-cache pattern of the msal-node samples).
 *
 * MSAL calls `beforeCacheAccess` before it looks at or changes the cache and `afterCacheAccess`
 * afterwards, in a `finally` (so `after` also runs when `before` threw). The rules:
 * - before: read the partition (through the store's L1 if it has one) and load it into MSAL. A
 *   partition that is absent clears MSAL's in-memory cache, so tokens of a user signed out
 *   meanwhile cannot linger in this request.
 * - after: write only when MSAL says the access changed the cache (`cacheHasChanged`) and the
 *   content really differs from what was read. A warm request (valid access token) therefore does
 *   one read and no write. Writes are ETag-conditional, merged on conflict (save.ts).
 * - A failed read never leads to a write: `after` writes only after a successful `before` of the
 *   same access. Storage errors propagate as AppError 503 storage_unavailable.
 * - An unreadable row (unknown kid, tampering, corruption) is logged with its kid and reported as
 *   CacheUnreadableError (401: the caller asks the user to sign in again); it is not overwritten,
 *   except in `signIn` mode, where the fresh sign-in replaces it.
 * - A row deleted during the request (sign-out elsewhere) is not recreated, except by a sign-in.
 */
import type { ICachePlugin, TokenCacheContext } from '@azure/msal-node';
import { AppError } from '../errors';
import { CacheUnreadableError, isStorageError, storageFailure } from './errors';
import { saveTokenCache, type SaveOptions, type SaveResult } from './save';
import { partitionKeyOf, type TokenCacheStore } from './token-cache-store';

export interface CacheLogger {
  warn(message: string): void;
  error(message: string): void;
}

export type PluginMode =
  /** Serve requests from a stored sign-in: an unreadable row is an error, a removed row stays removed. */
  | 'use'
  /** Store a fresh sign-in (the callback): replaces an unreadable row, recreates a removed one. */
  | 'signIn';

export interface TokenCachePluginOptions {
  readonly store: TokenCacheStore;
  readonly homeAccountId: string;
  readonly mode?: PluginMode;
  readonly logger?: CacheLogger;
  readonly save?: Omit<SaveOptions, 'replaceUnreadable'>;
}

type Access =
  | { readonly state: 'read'; readonly base: string; readonly etag: string | undefined }
  /** The read failed, the row was unreadable, or it vanished during the request: never write. */
  | { readonly state: 'no-write' };

/** MSAL's five sections, empty: deserializing it replaces MSAL's in-memory cache with nothing. */
const EMPTY_CACHE = JSON.stringify({ Account: {}, IdToken: {}, AccessToken: {}, RefreshToken: {}, AppMetadata: {} });

const silentLogger: CacheLogger = { warn: () => {}, error: () => {} };

export class TokenCachePlugin implements ICachePlugin {
  /** The outcome of the last write attempt of this request, for the caller's logs and tests. */
  lastSave: SaveResult | undefined;
  readonly homeAccountId: string;
  readonly #store: TokenCacheStore;
  readonly #mode: PluginMode;
  readonly #logger: CacheLogger;
  readonly #save: Omit<SaveOptions, 'replaceUnreadable'>;
  #access: Access | undefined;
  /** Whether any access of this request found a row: if a later one finds none, it was removed meanwhile. */
  #sawRow = false;

  constructor(options: TokenCachePluginOptions) {
    this.homeAccountId = partitionKeyOf(options.homeAccountId);
    this.#store = options.store;
    this.#mode = options.mode ?? 'use';
    this.#logger = options.logger ?? silentLogger;
    this.#save = options.save ?? {};
  }

  async beforeCacheAccess(context: TokenCacheContext): Promise<void> {
    this.#access = { state: 'no-write' };
    let stored;
    try {
      stored = await this.#store.read(this.homeAccountId);
    } catch (error) {
      if (error instanceof CacheUnreadableError) {
        this.#logger.warn(`token cache unreadable (kid ${error.kid ?? 'unknown'}): ${error.message}`);
        if (this.#mode === 'signIn') {
          context.tokenCache.deserialize(EMPTY_CACHE);
          this.#access = { state: 'read', base: '', etag: error.etag };
          return;
        }
        throw error;
      }
      const failure = isStorageError(error) ? storageFailure(error) : error;
      this.#logger.warn(`token cache read failed: ${failure instanceof AppError ? failure.code : 'unexpected error'}`);
      throw failure;
    }

    if (stored === undefined) {
      context.tokenCache.deserialize(EMPTY_CACHE);
      if (this.#sawRow && this.#mode === 'use') {
        this.#logger.warn('token cache was removed during the request; its changes are not kept');
        return;
      }
      this.#access = { state: 'read', base: '', etag: undefined };
      return;
    }
    this.#sawRow = true;
    context.tokenCache.deserialize(stored.data);
    this.#access = { state: 'read', base: stored.data, etag: stored.etag };
  }

  async afterCacheAccess(context: TokenCacheContext): Promise<void> {
    const access = this.#access;
    this.#access = undefined;
    if (!context.cacheHasChanged || access?.state !== 'read') return;
    const result = await saveTokenCache(
      this.#store,
      this.homeAccountId,
      { base: access.base, mine: context.tokenCache.serialize(), etag: access.etag },
      { ...this.#save, replaceUnreadable: this.#mode === 'signIn' },
    );
    this.lastSave = result;
    if (result.outcome === 'written') this.#sawRow = true;
    if (result.outcome === 'gone') this.#logger.warn('token cache was removed during the request; its changes are not kept');
  }
}

export function createTokenCachePlugin(options: TokenCachePluginOptions): TokenCachePlugin {
  return new TokenCachePlugin(options);
}
