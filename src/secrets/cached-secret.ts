/**
 * One Key Vault secret, read once per instance and kept in memory.
 *
 * - First use reads it; every caller that arrives while that read runs waits for the same promise
 *   (50 concurrent first requests cost one vault read).
 * - After `ttlMs` the value is stale: callers still get it at once while one background read fetches
 *   the newest version. A failed background read keeps the old value and is logged.
 * - `refresh()` forces a read of the newest version (Entra said invalid_client, or a sealed value
 *   names an unknown kid). Callers share one forced read, and forced reads are rate-limited
 *   (`minRefreshIntervalMs`): inside that window `refresh()` answers from what the last read found.
 * - A failed read is never cached as a promise: it is remembered with a backoff deadline (1 s, 2 s,
 *   4 s ... up to `backoff.maxMs`); callers before the deadline get the same error at once with a
 *   Retry-After, the first caller after it tries the vault again. So a vault outage costs the vault
 *   little and the app recovers by itself, without a restart.
 *
 * The value never appears in an error or a log line: errors name the vault, the secret and the
 * setting; `parse` reports problems through UnusableSecretError, whose text must not quote it.
 */
import { createHash } from 'node:crypto';
import { systemClock, type Clock } from '../clock';
import { AppError } from '../errors';
import { mapVaultError, secretUnusable, type SecretSite } from './vault-errors';

/** What the cache needs from `SecretClient` (which satisfies it); tests pass a fake. */
export interface SecretReader {
  getSecret(name: string, options?: { abortSignal?: AbortSignal }): Promise<SecretRead>;
}

export interface SecretRead {
  readonly value?: string | undefined;
  readonly properties: { readonly version?: string | undefined; readonly contentType?: string | undefined };
}

export interface SecretLogger {
  warn(message: string): void;
  error(message: string): void;
}

/** The raw secret handed to `parse`. */
export interface SecretText {
  readonly value: string;
  readonly contentType: string | undefined;
  readonly version: string | undefined;
  /** ms since epoch, from the cache's clock. */
  readonly now: number;
}

/**
 * Thrown by a `parse` function: the secret was read but cannot be used. The message completes
 * `secret "<name>" (<SETTING>) ...` and must never quote the value.
 */
export class UnusableSecretError extends Error {
  readonly code = 'SECRET_UNUSABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnusableSecretError';
  }
}

export interface CachedSecretOptions<T> {
  readonly reader: SecretReader;
  readonly site: SecretSite;
  /** Turns the text into what callers need; throws UnusableSecretError. */
  readonly parse: (secret: SecretText) => T;
  readonly clock?: Clock;
  /** How long a value is fresh. Default 10 minutes. */
  readonly ttlMs?: number;
  /** Forced reads (`refresh()`) happen at most this often. Default 30 seconds. */
  readonly minRefreshIntervalMs?: number;
  /** One vault read (with the SDK's own retry) gives up after this long. Default 10 seconds. */
  readonly timeoutMs?: number;
  /** Wait after a failed read before the next: doubles from `initialMs` up to `maxMs`. Default 1 s .. 30 s. */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  readonly log?: SecretLogger;
}

export const DEFAULT_SECRET_TTL_MS = 10 * 60_000;
export const DEFAULT_MIN_REFRESH_INTERVAL_MS = 30_000;
export const DEFAULT_VAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_BACKOFF = { initialMs: 1_000, maxMs: 30_000 } as const;

interface Entry<T> {
  readonly value: T;
  readonly version: string | undefined;
  /** SHA-256 of the text: tells a changed value apart without keeping a second copy of it. */
  readonly fingerprint: string;
  readonly fetchedAt: number;
  /** When a read last found a value different from the one before (-Infinity: never). */
  readonly changedAt: number;
}

interface Failure {
  readonly error: AppError;
  readonly attempts: number;
  /** No read before this time (ms since epoch). */
  readonly until: number;
}

/** Counters for tests and diagnostics. */
export interface CachedSecretStats {
  reads: number;
  failedReads: number;
  backgroundReads: number;
  forcedReads: number;
}

export class CachedSecret<T> {
  readonly stats: CachedSecretStats = { reads: 0, failedReads: 0, backgroundReads: 0, forcedReads: 0 };
  readonly #options: CachedSecretOptions<T>;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #minRefreshIntervalMs: number;
  readonly #timeoutMs: number;
  readonly #backoff: { readonly initialMs: number; readonly maxMs: number };
  #entry: Entry<T> | undefined;
  #failure: Failure | undefined;
  /** The read in flight (first, background or forced): everyone shares it. */
  #read: Promise<Entry<T>> | undefined;
  #forced: Promise<boolean> | undefined;
  #lastForcedAt = Number.NEGATIVE_INFINITY;

  constructor(options: CachedSecretOptions<T>) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#ttlMs = options.ttlMs ?? DEFAULT_SECRET_TTL_MS;
    this.#minRefreshIntervalMs = options.minRefreshIntervalMs ?? DEFAULT_MIN_REFRESH_INTERVAL_MS;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_VAULT_TIMEOUT_MS;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
  }

  get site(): SecretSite {
    return this.#options.site;
  }

  /** The version the cached value came from, when the vault named one. */
  get version(): string | undefined {
    return this.#entry?.version;
  }

  /** The value: cached, read on first use, refreshed in the background when stale. */
  async get(): Promise<T> {
    const now = this.#clock();
    const entry = this.#entry;
    if (entry !== undefined) {
      if (now - entry.fetchedAt >= this.#ttlMs && this.#read === undefined && !this.#backingOff(now)) {
        this.stats.backgroundReads++;
        this.#start().catch((error: unknown) => this.#logKept(error));
      }
      return entry.value;
    }
    if (this.#read !== undefined) return (await this.#read).value;
    this.#throwIfBackingOff(now);
    return (await this.#start()).value;
  }

  /**
   * Reads the newest version now. Resolves true when the value differs from the one held before,
   * so a retry with it is worth it. At most one forced read per `minRefreshIntervalMs`: inside that
   * window it resolves true only if the value changed within the window.
   */
  refresh(): Promise<boolean> {
    if (this.#forced !== undefined) return this.#forced;
    const now = this.#clock();
    if (now - this.#lastForcedAt < this.#minRefreshIntervalMs) {
      const changedAt = this.#entry?.changedAt ?? Number.NEGATIVE_INFINITY;
      return Promise.resolve(now - changedAt < this.#minRefreshIntervalMs);
    }
    try {
      this.#throwIfBackingOff(now);
    } catch (error) {
      return Promise.reject(error);
    }
    this.#lastForcedAt = now;
    this.stats.forcedReads++;
    const before = this.#entry?.fingerprint;
    const forced = (async () => {
      // A read already under way may have started before the rotation: let it land, then read again.
      const running = this.#read;
      if (running !== undefined) await running.catch(() => undefined);
      const entry = await this.#start();
      return entry.fingerprint !== before;
    })();
    this.#forced = forced.finally(() => {
      this.#forced = undefined;
    });
    return this.#forced;
  }

  #start(): Promise<Entry<T>> {
    const read = this.#fetch().finally(() => {
      if (this.#read === read) this.#read = undefined;
    });
    this.#read = read;
    return read;
  }

  async #fetch(): Promise<Entry<T>> {
    const { reader, site, parse } = this.#options;
    this.stats.reads++;
    let secret: SecretRead;
    try {
      secret = await reader.getSecret(site.secretName, { abortSignal: AbortSignal.timeout(this.#timeoutMs) });
    } catch (error) {
      throw this.#fail(error);
    }
    const now = this.#clock();
    const text = secret.value;
    if (text === undefined || text === '') throw this.#fail(secretUnusable(site, 'is empty: give it a value.'));
    let value: T;
    try {
      value = parse({ value: text, contentType: secret.properties.contentType, version: secret.properties.version, now });
    } catch (error) {
      // Only UnusableSecretError text is known to be free of the value; anything else stays generic.
      // The cause is dropped too: a foreign error's message or stack could carry the value.
      throw this.#fail(error instanceof UnusableSecretError ? secretUnusable(site, error.message, error) : secretUnusable(site, 'could not be read.'));
    }
    const fingerprint = createHash('sha256').update(text, 'utf8').digest('hex');
    const previous = this.#entry;
    const changed = previous !== undefined && previous.fingerprint !== fingerprint;
    const entry: Entry<T> = {
      value,
      version: secret.properties.version,
      fingerprint,
      fetchedAt: now,
      changedAt: changed ? now : (previous?.changedAt ?? Number.NEGATIVE_INFINITY),
    };
    this.#entry = entry;
    this.#failure = undefined;
    return entry;
  }

  /** Records a failed read (for the backoff) and returns the AppError to throw. */
  #fail(error: unknown): AppError {
    this.stats.failedReads++;
    const now = this.#clock();
    const attempts = (this.#failure?.attempts ?? 0) + 1;
    const delayMs = Math.min(this.#backoff.initialMs * 2 ** Math.min(attempts - 1, 30), this.#backoff.maxMs);
    const mapped = mapVaultError(error, this.#options.site, Math.max(1, Math.ceil(delayMs / 1000)));
    const waitMs = Math.max(delayMs, (mapped.retryAfterSeconds ?? 0) * 1000);
    const appError = withRetryAfter(mapped, Math.max(1, Math.ceil(waitMs / 1000)));
    this.#failure = { error: appError, attempts, until: now + waitMs };
    return appError;
  }

  #backingOff(now: number): boolean {
    return this.#failure !== undefined && now < this.#failure.until;
  }

  #throwIfBackingOff(now: number): void {
    const failure = this.#failure;
    if (failure === undefined || now >= failure.until) return;
    throw withRetryAfter(failure.error, Math.max(1, Math.ceil((failure.until - now) / 1000)));
  }

  #logKept(error: unknown): void {
    const entry = this.#entry;
    const age = entry === undefined ? '' : ` (read ${Math.round((this.#clock() - entry.fetchedAt) / 1000)} s ago)`;
    const detail = error instanceof AppError ? `${error.code}: ${error.message}` : 'unexpected error';
    this.#options.log?.warn(`Key Vault: could not refresh secret "${this.#options.site.secretName}"; still using the version held${age}. ${detail}`);
  }
}

function withRetryAfter(error: AppError, retryAfterSeconds: number): AppError {
  if (error.retryAfterSeconds === retryAfterSeconds) return error;
  return new AppError(error.code, error.message, {
    status: error.status,
    cause: error.cause,
    retryAfterSeconds,
    ...(error.details !== undefined ? { details: error.details } : {}),
  });
}
