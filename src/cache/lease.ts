/**
 * Refresh once across instances. When a user's access token has expired and several requests
 * (on several instances) need it at once, one takes the partition's lease and refreshes; the
 * others wait for the lease to go away and then read the refreshed cache.
 *
 * Timings:
 * - LEASE_TTL_MS (15 s): longer than a refresh takes (one token request, normally well under a
 *   second, bounded by MSAL's network timeout) and short enough that a holder that crashed
 *   blocks nobody for long. Holders compare times on their own clocks; a few seconds of skew
 *   between instances only shortens or lengthens that bound.
 * - WAIT_MS (10 s): how long a request waits for another's refresh before answering 503 with
 *   Retry-After (the lease may belong to an instance that died).
 * - POLL_MS (100 ms, with jitter): a waiting request costs one read per poll, a handful per refresh.
 *
 * The protocol the token service follows:
 *   1. lease = acquireLease(id, holder, LEASE_TTL_MS)
 *   2. got it: store.invalidate?.(id); read storage; if the access token is still expired,
 *      refresh and save; finally releaseLease(lease).
 *   3. did not: waitForLeaseRelease(id); store.invalidate?.(id); read again and use the new token.
 */
import type { Clock } from '../clock';
import type { TokenCacheStore } from './token-cache-store';

export const LEASE_TTL_MS = 15_000;
export const LEASE_WAIT_MS = 10_000;
export const LEASE_POLL_MS = 100;

export interface WaitForLeaseOptions {
  readonly timeoutMs?: number;
  readonly pollMs?: number;
  readonly clock?: Clock;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

/**
 * Resolves 'released' once the partition has no live lease (released, or expired: a holder that
 * died), or 'timeout' after `timeoutMs`. Storage errors propagate (503).
 */
export async function waitForLeaseRelease(store: TokenCacheStore, homeAccountId: string, options: WaitForLeaseOptions = {}): Promise<'released' | 'timeout'> {
  const clock = options.clock ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const random = options.random ?? Math.random;
  const pollMs = options.pollMs ?? LEASE_POLL_MS;
  const deadline = clock() + (options.timeoutMs ?? LEASE_WAIT_MS);
  for (;;) {
    const lease = await store.readLease(homeAccountId);
    if (lease === undefined || lease.expiresAt <= clock()) return 'released';
    if (clock() >= deadline) return 'timeout';
    // Jitter keeps waiters from polling in lockstep.
    await sleep(Math.min(pollMs * (0.5 + random()), Math.max(0, deadline - clock())));
  }
}
