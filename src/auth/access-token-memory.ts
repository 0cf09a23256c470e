/**
 * Access tokens this instance handed out in the last few seconds, per user and scopes.
 *
 * What it buys: a warm request skips building an MSAL application and loading the user's whole
 * serialized cache into it (the bulk of the app's own CPU per request) when the same instance
 * served that user moments ago.
 *
 * It follows the token-cache memory copy's rules (memory-l1.ts), with the same TTL
 * (TOKEN_CACHE_MEMORY_TTL_SECONDS), because it is a digest of that copy:
 * - an entry is at most `ttlMs` old, and never served once MSAL itself would refresh the token
 *   (`refreshMarginMs` before expiry, MSAL's default 5 minutes), so it cannot delay a refresh;
 * - a refresh, a claims challenge or a refused token never reads it (the token service bypasses it
 *   and replaces the entry with the new token); taking the refresh lease forgets the account;
 * - sign-out and "forget me" forget the account at once, and a token an acquisition in flight
 *   during the forget brings back is not remembered (invalidation-log.ts);
 * - at most `maxEntries` entries, least recently used out first, holding the access token only.
 */
import { InvalidationLog } from '../cache/invalidation-log';
import type { Clock } from '../clock';
import type { AccessToken } from './token-service';

/** msal-node refreshes an access token this long before it expires (its default refresh offset). */
export const MSAL_REFRESH_MARGIN_MS = 300_000;

export interface AccessTokenMemoryOptions {
  readonly ttlMs: number;
  readonly maxEntries: number;
  readonly clock: Clock;
  readonly refreshMarginMs?: number;
}

interface Entry {
  readonly token: AccessToken;
  readonly storedAt: number;
}

export class AccessTokenMemory {
  readonly stats = { hits: 0, misses: 0 };
  /** `homeAccountId|scopes` -> entry; Map order is insertion order, so re-inserting on use keeps LRU first. */
  readonly #entries = new Map<string, Entry>();
  readonly #forgotten = new InvalidationLog();

  constructor(private readonly options: AccessTokenMemoryOptions) {}

  get(homeAccountId: string, scopes: readonly string[]): AccessToken | undefined {
    const key = keyOf(homeAccountId, scopes);
    const entry = this.#entries.get(key);
    const now = this.options.clock();
    const usable =
      entry !== undefined &&
      now - entry.storedAt < this.options.ttlMs &&
      entry.token.expiresOn !== null &&
      entry.token.expiresOn.getTime() - (this.options.refreshMarginMs ?? MSAL_REFRESH_MARGIN_MS) > now;
    if (!usable) {
      if (entry !== undefined) this.#entries.delete(key);
      this.stats.misses++;
      return undefined;
    }
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    this.stats.hits++;
    return entry.token;
  }

  /** Take before asking MSAL for the token that goes to `set`. */
  mark(): number {
    return this.#forgotten.mark();
  }

  /** Remembers `token`, unless the account was forgotten after `mark` (the token may predate a sign-out or a refusal). */
  set(homeAccountId: string, scopes: readonly string[], token: AccessToken, mark: number): void {
    if (this.options.ttlMs <= 0 || this.options.maxEntries <= 0) return;
    if (this.#forgotten.forgottenSince(homeAccountId.toLowerCase(), mark)) return;
    const key = keyOf(homeAccountId, scopes);
    this.#entries.delete(key);
    // Only what a caller needs: MSAL's result also carries the ID token and the account.
    this.#entries.set(key, { token: { accessToken: token.accessToken, expiresOn: token.expiresOn }, storedAt: this.options.clock() });
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.options.maxEntries) break;
      this.#entries.delete(oldest);
    }
  }

  forgetAccount(homeAccountId: string): void {
    this.#forgotten.forget(homeAccountId.toLowerCase());
    const prefix = `${homeAccountId.toLowerCase()}|`;
    for (const key of this.#entries.keys()) if (key.startsWith(prefix)) this.#entries.delete(key);
  }

  clear(): void {
    this.#forgotten.forgetAll();
    this.#entries.clear();
  }
}

function keyOf(homeAccountId: string, scopes: readonly string[]): string {
  return `${homeAccountId.toLowerCase()}|${[...scopes].map((s) => s.toLowerCase()).sort().join(' ')}`;
}
