/**
 * A token-cache store with a per-instance memory copy (memory-l1.ts) in front of another store.
 * Reads are served from the copy while it is fresh; writes go to storage, ETag-conditional as
 * always, and refresh the copy with the new ETag; any failed write drops the copy, so the merge
 * path re-reads storage. Absence is never cached: a sign-in on another instance must be seen at once.
 * A read or write that an invalidation overtook (it started before, answered after) does not fill
 * the copy: it may hold what the invalidation was there to drop.
 */
import type { MemoryL1 } from './memory-l1';
import {
  partitionKeyOf,
  type Lease,
  type LeaseState,
  type RemoveOptions,
  type StoredCache,
  type StoreCounters,
  type SweepOptions,
  type SweepResult,
  type TokenCacheStore,
  type WriteOptions,
} from './token-cache-store';

export class L1TokenCacheStore implements TokenCacheStore {
  constructor(
    readonly inner: TokenCacheStore,
    readonly l1: MemoryL1,
  ) {}

  /** Storage round trips only: L1 hits cost nothing and show in `l1.stats`. */
  get counters(): StoreCounters {
    return this.inner.counters;
  }

  async read(homeAccountId: string): Promise<StoredCache | undefined> {
    const partition = partitionKeyOf(homeAccountId);
    const copy = this.l1.get(partition);
    if (copy !== undefined) return copy;
    const mark = this.l1.mark();
    const stored = await this.inner.read(homeAccountId);
    if (stored === undefined) this.l1.invalidate(partition);
    else this.l1.set(partition, stored, mark);
    return stored;
  }

  async write(homeAccountId: string, data: string, options: WriteOptions): Promise<{ etag: string }> {
    const partition = partitionKeyOf(homeAccountId);
    const mark = this.l1.mark();
    try {
      const written = await this.inner.write(homeAccountId, data, options);
      this.l1.set(partition, { data, etag: written.etag }, mark);
      return written;
    } catch (error) {
      this.l1.invalidate(partition);
      throw error;
    }
  }

  version(homeAccountId: string): Promise<string | undefined> {
    return this.inner.version(homeAccountId);
  }

  async removePartition(homeAccountId: string, options: RemoveOptions = {}): Promise<boolean> {
    const partition = partitionKeyOf(homeAccountId);
    this.l1.invalidate(partition);
    try {
      return await this.inner.removePartition(homeAccountId, options);
    } finally {
      this.l1.invalidate(partition);
    }
  }

  invalidate(homeAccountId: string): void {
    this.l1.invalidate(partitionKeyOf(homeAccountId));
    this.inner.invalidate?.(homeAccountId);
  }

  acquireLease(homeAccountId: string, holder: string, ttlMs: number): Promise<Lease | undefined> {
    return this.inner.acquireLease(homeAccountId, holder, ttlMs);
  }

  releaseLease(lease: Lease): Promise<void> {
    return this.inner.releaseLease(lease);
  }

  readLease(homeAccountId: string): Promise<LeaseState | undefined> {
    return this.inner.readLease(homeAccountId);
  }

  sweepExpired(options: SweepOptions): Promise<SweepResult> {
    return this.inner.sweepExpired(options);
  }
}
