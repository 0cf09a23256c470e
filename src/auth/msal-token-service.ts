/**
 * Token acquisition over the persisted MSAL cache, with refresh-once semantics.
 *
 * A request first asks MSAL, offline, whether the cache can answer (a valid access token): that
 * costs one storage read (none on an L1 hit) and no write. Only when MSAL wants the network (the
 * access token expired, a claims challenge, a forced refresh) does the request refresh, and then:
 * - within this instance, concurrent callers for the same user and scopes share one promise;
 * - across instances, the user's lease row lets one instance redeem the refresh token while the
 *   others wait and re-read the cache it wrote. After taking the lease the cache is read again,
 *   bypassing the L1, so a refresh finished elsewhere is used instead of redeeming twice (which
 *   a provider with refresh-token reuse detection punishes by revoking the grant).
 */
import { randomUUID } from 'node:crypto';
import type { AccountInfo, AuthenticationResult } from '@azure/msal-node';
import type { Clock } from '../clock';
import { CacheUnreadableError, storageFailure } from '../cache/errors';
import { LEASE_TTL_MS, LEASE_WAIT_MS, waitForLeaseRelease } from '../cache/lease';
import { createTokenCachePlugin, type CacheLogger } from '../cache/msal-cache-plugin';
import { saveTokenCache } from '../cache/save';
import type { TokenCacheStore } from '../cache/token-cache-store';
import { AppError, ErrorCode, isAppError, unavailable } from '../errors';
import type { ClientCredentialProvider } from '../secrets/types';
import { instruments } from '../telemetry/instruments';
import { loginUrl } from './claims';
import { withCredentialRetry } from './credential-retry';
import { neededNetwork, type MsalAppFactory } from './msal-app';
import { classifyTokenError, identityProviderUnavailable, loginRequired, notSignedIn } from './msal-errors';
import type { AccessTokenMemory } from './access-token-memory';
import type { AccessToken, AcquireOptions, TokenService } from './token-service';

/** A conditional sign-out removal re-reads and re-checks this often when other writes keep landing. */
const REMOVE_ATTEMPTS = 3;

export interface MsalTokenServiceOptions {
  readonly msal: MsalAppFactory;
  readonly store: TokenCacheStore;
  readonly credentials: ClientCredentialProvider;
  /** The authority host as MSAL records it in cached entries (`environment`). */
  readonly environment: string;
  readonly clock?: Clock;
  readonly logger?: CacheLogger;
  /** Identifies this instance as a lease holder. */
  readonly instanceId?: string;
  readonly leaseTtlMs?: number;
  readonly leaseWaitMs?: number;
  /** Recently handed-out access tokens (access-token-memory.ts); none: every request asks MSAL. */
  readonly memory?: AccessTokenMemory;
}

/** Counts what the service did, for tests and the benchmark. */
export interface TokenServiceCounters {
  /** Answered from the access-token memory, without MSAL. */
  servedFromMemory: number;
  servedFromCache: number;
  refreshes: number;
  coalesced: number;
  leaseWaits: number;
}

export class MsalTokenService implements TokenService {
  readonly counters: TokenServiceCounters = { servedFromMemory: 0, servedFromCache: 0, refreshes: 0, coalesced: 0, leaseWaits: 0 };
  readonly #inFlight = new Map<string, Promise<AccessToken>>();
  readonly #options: MsalTokenServiceOptions;
  readonly #holder: string;

  constructor(options: MsalTokenServiceOptions) {
    this.#options = options;
    this.#holder = options.instanceId ?? randomUUID();
  }

  acquire(homeAccountId: string, scopes: readonly string[], options: AcquireOptions = {}): Promise<AccessToken> {
    const { memory } = this.#options;
    const plain = options.claims === undefined && options.forceRefresh !== true;
    const remembered = plain ? memory?.get(homeAccountId, scopes) : undefined;
    if (remembered) {
      this.counters.servedFromMemory++;
      instruments().tokenAcquisitions.add(1, { source: 'memory' });
      return Promise.resolve(remembered);
    }
    if (options.sessionConfirmed !== undefined) {
      const { sessionConfirmed, ...rest } = options;
      return sessionConfirmed.then((confirmed) => {
        if (!confirmed) throw notSignedIn(options.returnTo ?? '/');
        return this.acquire(homeAccountId, scopes, rest);
      });
    }
    const key = [homeAccountId, [...scopes].sort().join(' '), options.claims ?? '', options.forceRefresh ? 'force' : ''].join('|');
    const running = this.#inFlight.get(key);
    if (running) {
      this.counters.coalesced++;
      return running;
    }
    const call = this.#acquire(homeAccountId, [...scopes], options).finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, call);
    return call;
  }

  /** Forgets every remembered access token on this instance (the benchmark's first-visit runs). */
  clearMemory(): void {
    this.#options.memory?.clear();
  }

  async saveSignIn(homeAccountId: string, serializedCache: string): Promise<void> {
    const { store } = this.#options;
    let base: string | undefined;
    let etag: string | undefined;
    try {
      const stored = await store.read(homeAccountId);
      base = stored?.data;
      etag = stored?.etag;
    } catch (error) {
      // A row nobody can open any more is exactly what a fresh sign-in replaces.
      if (!(error instanceof CacheUnreadableError)) throw storageFailure(error);
      etag = error.etag;
    }
    await saveTokenCache(store, homeAccountId, { base, mine: serializedCache, etag }, { replaceUnreadable: true, ...(this.#options.clock ? { clock: this.#options.clock } : {}) });
  }

  async removeAccount(homeAccountId: string, options: { onlyIf?: () => Promise<boolean> } = {}): Promise<boolean> {
    const { store, memory } = this.#options;
    memory?.forgetAccount(homeAccountId);
    try {
      if (options.onlyIf === undefined) return await store.removePartition(homeAccountId);
      // The version first, then the check: a sign-in the check misses (its session created just
      // after) saves its tokens after this read, so the conditional delete leaves them alone. Any
      // other write in between (a refresh still running for the ended session) is no reason to
      // keep the tokens: read and check again. A sign-in's write is, and the check then sees its
      // session.
      for (let attempt = 1; attempt <= REMOVE_ATTEMPTS; attempt++) {
        const version = await store.version(homeAccountId);
        if (version === undefined || !(await options.onlyIf())) return false;
        if (await store.removePartition(homeAccountId, { ifVersion: version })) return true;
      }
      return false;
    } finally {
      memory?.forgetAccount(homeAccountId);
    }
  }

  async #acquire(homeAccountId: string, scopes: string[], options: AcquireOptions): Promise<AuthenticationResult> {
    const returnTo = options.returnTo ?? '/';
    try {
      const mustRefresh = options.claims !== undefined || options.forceRefresh === true;
      if (!mustRefresh) {
        const cached = await this.#fromCache(homeAccountId, scopes);
        if (cached) return cached;
      }
      return await this.#refreshUnderLease(homeAccountId, scopes, options, mustRefresh);
    } catch (error) {
      throw this.#mapError(error, returnTo, options.claims);
    }
  }

  /**
   * Asks MSAL offline; undefined when it would need the network (a refresh is due). An access
   * token past its `refresh_in` hint is still served from here: MSAL's inline early refresh is
   * swallowed by the offline network module, so tokens are renewed at expiry minus MSAL's 5-minute
   * margin, under the lease, rather than early and unguarded.
   */
  async #fromCache(homeAccountId: string, scopes: string[]): Promise<AuthenticationResult | undefined> {
    const remember = this.#rememberer(homeAccountId, scopes);
    const app = await this.#options.msal.create({ cachePlugin: this.#plugin(homeAccountId), offline: true });
    try {
      const result = await app.acquireTokenSilent({ account: this.#account(homeAccountId), scopes });
      this.counters.servedFromCache++;
      instruments().tokenAcquisitions.add(1, { source: 'storage' });
      return remember(result);
    } catch (error) {
      if (neededNetwork(app)) return undefined;
      throw error;
    }
  }

  async #refreshUnderLease(homeAccountId: string, scopes: string[], options: AcquireOptions, mustRefresh: boolean): Promise<AuthenticationResult> {
    const { store } = this.#options;
    const deadline = Date.now() + (this.#options.leaseWaitMs ?? LEASE_WAIT_MS);
    // One holder per acquisition, not per instance: the store hands a live lease back to its own
    // holder, and two refreshes of one user on this instance (a plain one and a claims one, which
    // coalescing keeps apart) must not both get it.
    const holder = `${this.#holder}:${randomUUID()}`;
    for (;;) {
      const lease = await store.acquireLease(homeAccountId, holder, this.#options.leaseTtlMs ?? LEASE_TTL_MS);
      if (lease) {
        try {
          // Read storage, not the memory copy: another instance may have refreshed between our
          // first look and the lease, and then MSAL answers from that cache without redeeming.
          this.#forgetMemory(homeAccountId);
          const remember = this.#rememberer(homeAccountId, scopes);
          this.counters.refreshes++;
          const result = await withCredentialRetry(this.#options.credentials, async () => {
            const app = await this.#options.msal.create({ cachePlugin: this.#plugin(homeAccountId) });
            return app.acquireTokenSilent({
              account: this.#account(homeAccountId),
              scopes,
              ...(options.claims ? { claims: options.claims } : {}),
              ...(options.forceRefresh ? { forceRefresh: true } : {}),
            });
          });
          instruments().tokenAcquisitions.add(1, { source: 'refreshed' });
          return remember(result);
        } finally {
          await store.releaseLease(lease).catch(() => {
            // The lease expires by itself; a failed release only delays waiters by its TTL.
          });
        }
      }
      this.counters.leaseWaits++;
      instruments().leaseWaits.add(1);
      const remaining = deadline - Date.now();
      const outcome = remaining > 0 ? await waitForLeaseRelease(store, homeAccountId, { timeoutMs: remaining }) : 'timeout';
      if (outcome === 'timeout') {
        instruments().leaseTimeouts.add(1);
        throw unavailable(ErrorCode.IDENTITY_PROVIDER_UNAVAILABLE, 'Your sign-in is being renewed by another request. Try again in a moment.', undefined, 2);
      }
      this.#forgetMemory(homeAccountId);
      if (!mustRefresh) {
        const cached = await this.#fromCache(homeAccountId, scopes);
        if (cached) return cached;
      }
    }
  }

  /**
   * What keeps a token MSAL is about to hand out in the access-token memory. Made before asking
   * MSAL, so a sign-out or a refresh that forgets the account meanwhile keeps the token out.
   */
  #rememberer(homeAccountId: string, scopes: readonly string[]): (result: AuthenticationResult) => AuthenticationResult {
    const { memory } = this.#options;
    const mark = memory?.mark() ?? 0;
    return (result) => {
      memory?.set(homeAccountId, scopes, result, mark);
      return result;
    };
  }

  /** Drops this instance's memory of the account (cache copy and access tokens): the next look goes to storage. */
  #forgetMemory(homeAccountId: string): void {
    this.#options.store.invalidate?.(homeAccountId);
    this.#options.memory?.forgetAccount(homeAccountId);
  }

  #plugin(homeAccountId: string) {
    return createTokenCachePlugin({
      store: this.#options.store,
      homeAccountId,
      ...(this.#options.logger ? { logger: this.#options.logger } : {}),
      ...(this.#options.clock ? { save: { clock: this.#options.clock } } : {}),
    });
  }

  /**
   * The account MSAL looks tokens up by. Built from the homeAccountId (`<oid>.<tid>`) instead of
   * asking MSAL's cache for it, which would cost another cache access (another storage read).
   */
  #account(homeAccountId: string): AccountInfo {
    const [localAccountId = '', tenantId = ''] = homeAccountId.split('.');
    return { homeAccountId, environment: this.#options.environment, tenantId, localAccountId, username: '' };
  }

  #mapError(error: unknown, returnTo: string, claims: string | undefined): AppError {
    if (error instanceof CacheUnreadableError) {
      instruments().forcedSignIns.add(1, { cause: 'cache_unreadable' });
      return loginRequired(loginUrl(returnTo, claims), 'Your saved sign-in could not be read. Sign in again to continue.', error);
    }
    if (isAppError(error)) return error;
    const failure = classifyTokenError(error);
    switch (failure.kind) {
      case 'interaction_required':
        instruments().forcedSignIns.add(1, { cause: failure.oauthError });
        return loginRequired(loginUrl(returnTo, failure.claims ?? claims), 'Your session has ended. Sign in again to continue.', error);
      case 'transient':
        return identityProviderUnavailable(error);
      case 'invalid_client':
        return new AppError(ErrorCode.IDENTITY_PROVIDER_UNAVAILABLE, 'The app could not prove its identity to Microsoft. An operator must check its client credential.', {
          status: 503,
          retryAfterSeconds: 30,
          cause: error,
        });
      case 'other':
        instruments().forcedSignIns.add(1, { cause: 'provider_refused' });
        return new AppError('identity_provider_error', 'Microsoft sign-in refused to renew your session. Sign in again to continue.', {
          status: 401,
          cause: error,
          details: { loginUrl: loginUrl(returnTo, claims) },
        });
    }
  }
}

