/**
 * Errors of the token cache, as AppErrors (src/errors.ts) so the HTTP layer maps them without
 * knowing this module. Codes are stable; messages never carry a token, a cache body or key material.
 */
import { AppError } from '../errors';
import { statusOf, storageUnavailable } from '../storage/tables';

export const CacheErrorCode = {
  /** The stored cache cannot be opened (unknown kid, tampering, corruption): treat as signed out. */
  UNREADABLE: 'token_cache_unreadable',
  /** Concurrent writers kept winning the ETag race; the request may be retried. */
  CONFLICT: 'token_cache_conflict',
  /** The serialized cache exceeds what one partition is allowed to hold. */
  TOO_LARGE: 'token_cache_too_large',
  /** The homeAccountId is not `<oid>.<tid>`: a bug upstream, never user input. */
  PARTITION_INVALID: 'token_cache_partition_invalid',
  /** The cache holds entries of another account than its partition's. */
  PARTITION_MISMATCH: 'token_cache_partition_mismatch',
  /** Storage refused a request in a way retrying will not fix (a 4xx other than the handled ones). */
  STORAGE_REJECTED: 'token_cache_storage_rejected',
} as const;

/**
 * The row exists but cannot be opened. Status 401: the caller answers login_required, and the
 * fresh sign-in replaces the row (the plugin's `signIn` mode). `etag` lets that sign-in replace
 * exactly the row that was found unreadable.
 */
export class CacheUnreadableError extends AppError {
  constructor(
    readonly kid: string | undefined,
    readonly etag: string,
    reason: string,
    cause?: unknown,
  ) {
    // The kid stays a property for logs; it is not a detail shown to the client.
    super(CacheErrorCode.UNREADABLE, `The stored sign-in could not be opened (${reason}). Sign in again.`, { status: 401, cause });
    this.name = 'CacheUnreadableError';
  }
}

/** An ETag precondition failed (412), the row was created meanwhile (409), or deleted meanwhile (404). */
export class CacheConflictError extends AppError {
  constructor(
    readonly reason: 'changed' | 'exists' | 'gone',
    message = 'Your sign-in data changed on another request at the same time. Try again.',
  ) {
    super(CacheErrorCode.CONFLICT, message, { status: 503, retryAfterSeconds: 1 });
    this.name = 'CacheConflictError';
  }
}

export function isCacheConflict(error: unknown): error is CacheConflictError {
  return error instanceof CacheConflictError;
}

export function cacheTooLarge(bytes: number, limit: number): AppError {
  return new AppError(CacheErrorCode.TOO_LARGE, `The token cache is ${bytes} bytes, over the ${limit}-byte limit of one user.`, { status: 500 });
}

export function invalidPartition(): AppError {
  // The id is not echoed: it may be whatever a bug passed in.
  return new AppError(CacheErrorCode.PARTITION_INVALID, 'The account id of the token cache must be `<oid>.<tid>`.', { status: 500 });
}

/** A failure of the storage SDK or of the network under it (RestError, or anything with an HTTP status). */
export function isStorageError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  return (error as { name?: unknown }).name === 'RestError' || statusOf(error) !== undefined;
}

/**
 * Maps a storage SDK failure: 4xx other than 408/429 is a request storage will keep refusing
 * (a bug), anything else (no status = network, 5xx, 408, 429) is transient: 503 with Retry-After.
 * AppErrors pass through untouched.
 */
export function storageFailure(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const status = statusOf(error);
  if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) {
    return new AppError(CacheErrorCode.STORAGE_REJECTED, `Storage refused a token-cache request (${status}).`, { status: 500, cause: error });
  }
  return storageUnavailable(error);
}
