/**
 * The token cache's half of the shared session read (session-store.ts): when a request's session
 * is read and this instance holds no fresh memory copy of the user's token cache, the same query
 * returns the cache rows too, and they land in the memory copy, so MSAL's cache access right after
 * finds them there. A warm request then costs one storage read in all, not one for the session and
 * one for the cache.
 *
 * Only with the memory copy on (TOKEN_CACHE_MEMORY_MB > 0): it is where the rows wait for MSAL.
 * Rows that do not decode (a half-written multi-row cache, a key not loaded yet) are dropped here
 * and the cache store's own read deals with them, with its retries and its errors.
 */
import type { TokenCacheRowsSink } from '../auth/session-store';
import type { MemoryL1 } from './memory-l1';
import type { TableTokenCacheStore } from './table-token-cache-store';
import { partitionKeyOf } from './token-cache-store';

export function tokenCacheRowsSink(table: TableTokenCacheStore, l1: MemoryL1): TokenCacheRowsSink {
  return {
    rowKeyRange: table.rowKeyRange,
    receiverFor: (homeAccountId) => {
      const partition = partitionKeyOf(homeAccountId);
      if (!l1.enabled || l1.isFresh(partition)) return undefined;
      const mark = l1.mark();
      return async (rows) => {
        const stored = await table.decodeRows(homeAccountId, rows);
        if (stored !== undefined) l1.set(partition, stored, mark);
      };
    },
  };
}
