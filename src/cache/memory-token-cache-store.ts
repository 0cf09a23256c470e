/**
 * The token-cache store in process memory: for unit tests, and for a single local process that
 * runs without Azurite. It keeps the Table store's semantics exactly (sealed rows bound to their
 * partition, ETags, conditional writes, leases, expiry, counters), so the shared suite holds both
 * to one contract. Several store objects may share one `MemoryTokenCacheBacking`, the way several
 * instances share one table (with different key rings, clocks, ...).
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock';
import { currentRing, ringKnowing, type KeyRingSource } from '../crypto/keyring';
import { isSealError, sealBuffer, sealedKid, unsealBuffer } from '../crypto/seal';
import { storageUnavailable } from '../storage/tables';
import { CacheConflictError, CacheUnreadableError, cacheTooLarge } from './errors';
import {
  DEFAULT_REFRESH_TOKEN_HORIZON_MS,
  MAX_CACHE_BYTES,
  newCounters,
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

interface CacheRow {
  sealed: Buffer;
  kid: string;
  etag: string;
  expiresAt: number;
  updatedAt: number;
}

interface LeaseRow {
  holder: string;
  expiresAt: number;
  etag: string;
}

/** The shared "table". `down` makes every call fail as storage being unreachable. */
export class MemoryTokenCacheBacking {
  readonly caches = new Map<string, CacheRow>();
  readonly leases = new Map<string, LeaseRow>();
  down = false;
  #version = 0;

  nextEtag(): string {
    this.#version += 1;
    return `W/"${this.#version}-${randomBytes(4).toString('hex')}"`;
  }
}

export interface MemoryTokenCacheStoreOptions {
  readonly keyRing: KeyRingSource;
  readonly backing?: MemoryTokenCacheBacking;
  readonly clock?: Clock;
}

export class MemoryTokenCacheStore implements TokenCacheStore {
  readonly counters: StoreCounters = newCounters();
  readonly backing: MemoryTokenCacheBacking;
  readonly #keyRing: KeyRingSource;
  readonly #clock: Clock;

  constructor(options: MemoryTokenCacheStoreOptions) {
    this.#keyRing = options.keyRing;
    this.backing = options.backing ?? new MemoryTokenCacheBacking();
    this.#clock = options.clock ?? Date.now;
  }

  async read(homeAccountId: string): Promise<StoredCache | undefined> {
    const partition = partitionKeyOf(homeAccountId);
    this.#reach('reads');
    const row = this.backing.caches.get(partition);
    if (row === undefined) return undefined;
    return { data: await this.#open(row, partition), etag: row.etag };
  }

  async write(homeAccountId: string, data: string, options: WriteOptions): Promise<{ etag: string }> {
    const partition = partitionKeyOf(homeAccountId);
    const plaintext = Buffer.from(data, 'utf8');
    if (plaintext.length > MAX_CACHE_BYTES) throw cacheTooLarge(plaintext.length, MAX_CACHE_BYTES);
    const ring = await currentRing(this.#keyRing);
    const sealed = sealBuffer(ring, 'token-cache', plaintext, partition);
    this.#reach('writes');
    const existing = this.backing.caches.get(partition);
    if (options.etag === undefined ? existing !== undefined : existing?.etag !== options.etag) {
      this.counters.conflicts += 1;
      throw new CacheConflictError(options.etag === undefined ? 'exists' : existing === undefined ? 'gone' : 'changed');
    }
    const now = this.#clock();
    const row: CacheRow = {
      sealed,
      kid: ring.current.kid,
      etag: this.backing.nextEtag(),
      expiresAt: options.expiresAt ?? now + DEFAULT_REFRESH_TOKEN_HORIZON_MS,
      updatedAt: now,
    };
    this.backing.caches.set(partition, row);
    return { etag: row.etag };
  }

  async version(homeAccountId: string): Promise<string | undefined> {
    this.#reach('reads');
    return this.backing.caches.get(partitionKeyOf(homeAccountId))?.etag;
  }

  async removePartition(homeAccountId: string, options: RemoveOptions = {}): Promise<boolean> {
    const partition = partitionKeyOf(homeAccountId);
    this.#reach('deletes');
    if (options.ifVersion !== undefined) {
      if (this.backing.caches.get(partition)?.etag !== options.ifVersion) return false;
      this.backing.caches.delete(partition);
      return true;
    }
    this.backing.caches.delete(partition);
    this.backing.leases.delete(partition);
    return true;
  }

  async acquireLease(homeAccountId: string, holder: string, ttlMs: number): Promise<Lease | undefined> {
    const partition = partitionKeyOf(homeAccountId);
    this.#reach('writes');
    const now = this.#clock();
    const current = this.backing.leases.get(partition);
    if (current !== undefined && current.expiresAt > now && current.holder !== holder) return undefined;
    const row: LeaseRow = { holder, expiresAt: now + ttlMs, etag: this.backing.nextEtag() };
    this.backing.leases.set(partition, row);
    return { homeAccountId: partition, holder, expiresAt: row.expiresAt, etag: row.etag };
  }

  async releaseLease(lease: Lease): Promise<void> {
    const partition = partitionKeyOf(lease.homeAccountId);
    this.#reach('deletes');
    if (this.backing.leases.get(partition)?.etag === lease.etag) this.backing.leases.delete(partition);
  }

  async readLease(homeAccountId: string): Promise<LeaseState | undefined> {
    const partition = partitionKeyOf(homeAccountId);
    this.#reach('reads');
    const row = this.backing.leases.get(partition);
    return row === undefined ? undefined : { holder: row.holder, expiresAt: row.expiresAt };
  }

  async sweepExpired({ now, maxRows }: SweepOptions): Promise<SweepResult> {
    this.#reach('reads');
    let partitions = 0;
    let rows = 0;
    for (const [partition, row] of [...this.backing.caches]) {
      if (rows >= maxRows) break;
      if (row.expiresAt >= now) continue;
      this.counters.deletes += 1;
      this.backing.caches.delete(partition);
      rows += 1;
      partitions += 1;
    }
    for (const [partition, lease] of [...this.backing.leases]) {
      if (rows >= maxRows) break;
      if (lease.expiresAt >= now) continue;
      this.counters.deletes += 1;
      this.backing.leases.delete(partition);
      rows += 1;
    }
    return { partitions, rows };
  }

  async #open(row: CacheRow, partition: string): Promise<string> {
    const ring = await ringKnowing(this.#keyRing, row.kid);
    try {
      return unsealBuffer(ring, 'token-cache', row.sealed, partition).toString('utf8');
    } catch (error) {
      if (!isSealError(error)) throw error;
      throw new CacheUnreadableError(sealedKid(row.sealed) ?? row.kid, row.etag, error.code === 'SEAL_KEY_UNKNOWN' ? 'unknown key' : 'failed authentication', error);
    }
  }

  /** One storage round trip: counted, and refused when the backing is "down". */
  #reach(kind: 'reads' | 'writes' | 'deletes'): void {
    if (this.backing.down) throw storageUnavailable(new Error('memory token-cache store is down'));
    this.counters[kind] += 1;
  }
}
