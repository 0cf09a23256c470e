/**
 * The token-cache store: where MSAL's serialized cache lives between requests, one partition per
 * user (homeAccountId). The interface is apart from its implementations (Table Storage, memory)
 * and one shared test suite (test/cache/store-suite.ts) holds every implementation to it.
 *
 * Contract, for every implementation:
 * - `read` returns the plaintext cache and an opaque ETag, or undefined when the partition holds
 *   none. A row that exists but cannot be opened throws CacheUnreadableError (with its kid and
 *   ETag). Storage trouble throws an AppError with status 503.
 * - `write` is conditional: with `etag`, only if the row still has that ETag; without, only if
 *   there is no row. Otherwise it throws CacheConflictError, and the caller merges and retries
 *   (see save.ts). Nothing is ever overwritten blindly.
 * - Data is encrypted at rest with the key ring, bound to its partition.
 * - `removePartition` deletes the account's cache (every row of it, and the lease); rows of
 *   others sharing the partition (the account's sessions) stay. With `ifVersion` (an ETag from
 *   `version`), only if nobody has written the cache since: a sign-in racing a sign-out keeps its
 *   tokens.
 * - Leases make one refresh happen once across instances (see lease.ts).
 * - `counters` count storage round trips, so tests and the benchmark can assert the cost of a
 *   request ("a warm request does no write and at most one read").
 */
import { invalidPartition } from './errors';

export interface RemoveOptions {
  /** Remove only the cache of this version (see `version`); its lease is left to expire. */
  readonly ifVersion?: string;
}

export interface StoredCache {
  /** MSAL's serialized cache (JSON). */
  readonly data: string;
  readonly etag: string;
}

export interface WriteOptions {
  /** The ETag the caller read; absent means "create, only if there is no row". */
  readonly etag?: string | undefined;
  /** When the row may be evicted (ms since epoch): the refresh token's expiry. */
  readonly expiresAt?: number | undefined;
}

export interface Lease {
  readonly homeAccountId: string;
  readonly holder: string;
  readonly expiresAt: number;
  /** The lease row's ETag: release is conditional on it, so an expired lease retaken by another holder is never released by us. */
  readonly etag: string;
}

export interface LeaseState {
  readonly holder: string;
  readonly expiresAt: number;
}

export interface SweepOptions {
  /** Rows whose expiresAt is before this are deleted (ms since epoch). */
  readonly now: number;
  /** Upper bound of expired rows handled in one call, so a timer run stays short. */
  readonly maxRows: number;
}

export interface SweepResult {
  /** Partitions whose cache had expired, deleted whole. */
  readonly partitions: number;
  /** Rows deleted in total (cache rows, continuation rows, stale leases). */
  readonly rows: number;
}

/** Storage round trips. Lease operations count too: they cost the same. */
export interface StoreCounters {
  reads: number;
  writes: number;
  deletes: number;
  /** Writes refused by a precondition (412/409/404): the merge path ran. */
  conflicts: number;
}

export function newCounters(): StoreCounters {
  return { reads: 0, writes: 0, deletes: 0, conflicts: 0 };
}

export interface TokenCacheStore {
  read(homeAccountId: string): Promise<StoredCache | undefined>;
  write(homeAccountId: string, data: string, options: WriteOptions): Promise<{ readonly etag: string }>;
  /** The cache's version (its head row's ETag) in storage, never a memory copy's; undefined when there is no cache. */
  version(homeAccountId: string): Promise<string | undefined>;
  /** False when `ifVersion` was given and the cache has been written (or removed) since. */
  removePartition(homeAccountId: string, options?: RemoveOptions): Promise<boolean>;
  /** Takes the partition's lease when it is free or expired; undefined when someone else holds it. */
  acquireLease(homeAccountId: string, holder: string, ttlMs: number): Promise<Lease | undefined>;
  /** Releases the lease if it is still ours (ETag-conditional); a lease lost meanwhile is left alone. */
  releaseLease(lease: Lease): Promise<void>;
  /** The current lease, expired or not, or undefined. */
  readLease(homeAccountId: string): Promise<LeaseState | undefined>;
  sweepExpired(options: SweepOptions): Promise<SweepResult>;
  /**
   * Forgets any copy of the partition kept in this instance's memory, so the next read goes to
   * storage. Call it after taking the refresh lease: a refresh must start from the latest row.
   * Stores without a local copy need not implement it.
   */
  invalidate?(homeAccountId: string): void;
  readonly counters: StoreCounters;
}

const GUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const HOME_ACCOUNT_ID = new RegExp(`^${GUID}\\.${GUID}$`, 'i');

/**
 * The partition key of an account: its homeAccountId (`<oid>.<tid>`), lower-cased. Anything else
 * is refused rather than encoded: Table keys forbid / \ # ? and control characters, and a strict
 * shape means no id can ever address another user's partition.
 */
export function partitionKeyOf(homeAccountId: string): string {
  if (typeof homeAccountId !== 'string' || !HOME_ACCOUNT_ID.test(homeAccountId)) throw invalidPartition();
  return homeAccountId.toLowerCase();
}

export function isHomeAccountId(value: string): boolean {
  return HOME_ACCOUNT_ID.test(value);
}

/** Default eviction horizon: Entra refresh tokens live 90 days from their last use; a day of margin. */
export const DEFAULT_REFRESH_TOKEN_HORIZON_MS = 91 * 24 * 60 * 60 * 1000;

/** Bound on the serialized cache of one user: far above a real cache (a few KiB), far below Table limits. */
export const MAX_CACHE_BYTES = 2 * 1024 * 1024;
