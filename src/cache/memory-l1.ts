/**
 * A bounded per-instance copy of recently used token-cache rows (partition -> { data, etag }):
 * least recently used first out when over `maxBytes`, and never trusted longer than `ttlMs`.
 *
 * What it buys: a warm request for a user this instance served recently reads no token-cache row
 * from storage (its one storage read is the session's check, session-memory.ts).
 *
 * What it trades, exactly:
 * - A copy may be stale for up to `ttlMs`: another instance may have refreshed the user's tokens.
 *   Reading a stale copy is harmless: the old access token is still valid until its own expiry
 *   (Entra does not revoke it when it issues a new one), and Graph accepts it.
 * - A stale copy can never lose an update: every write is conditional on the ETag the copy
 *   carries, so a write based on it fails with 412, the L1 entry is dropped, and save.ts re-reads
 *   storage and merges.
 * - The real cost: a stale copy may say "access token expired" when another instance already
 *   refreshed it. Redeeming the refresh token from the stale copy would be a second redemption:
 *   Entra tolerates it (the old refresh token stays valid), a provider with reuse detection
 *   revokes the whole grant. So a refresh never starts from the L1: after taking the lease the
 *   caller drops the copy (`invalidate`) and reads storage, sees the other instance's refresh and
 *   uses it. A read that started before the `invalidate` and answers after it cannot refill the
 *   copy in between (`set` takes the `mark` from before the read; invalidation-log.ts). The price
 *   of staleness is therefore one lease round trip and one extra read, never an extra redemption.
 * - Sign-out or "forget me" on another instance: storage is cleared at once, but this instance may
 *   keep its copy for up to `ttlMs`. The session row is read from storage on every request (the
 *   same read that fills this copy on a miss, shared-read.ts) and is deleted first, so the copy is
 *   unreachable; a write from it finds the row gone and is dropped
 *   (save.ts "gone"); the copy itself is gone from memory within `ttlMs`.
 * - Memory: plaintext token caches live in process memory (as they do inside MSAL during a
 *   request), bounded by `maxBytes`; `maxBytes: 0` turns the L1 off.
 */
import type { Clock } from '../clock';
import { InvalidationLog } from './invalidation-log';
import type { StoredCache } from './token-cache-store';

export interface MemoryL1Options {
  readonly maxBytes: number;
  readonly ttlMs: number;
  readonly clock?: Clock;
}

interface Slot {
  readonly value: StoredCache;
  readonly bytes: number;
  readonly storedAt: number;
}

export interface L1Stats {
  hits: number;
  misses: number;
  evictions: number;
}

export class MemoryL1 {
  readonly stats: L1Stats = { hits: 0, misses: 0, evictions: 0 };
  /** Map iteration order is insertion order: re-inserting on use keeps the least recently used first. */
  readonly #slots = new Map<string, Slot>();
  readonly #maxBytes: number;
  readonly #ttlMs: number;
  readonly #clock: Clock;
  readonly #invalidations = new InvalidationLog();
  #bytes = 0;

  constructor(options: MemoryL1Options) {
    this.#maxBytes = Math.max(0, options.maxBytes);
    this.#ttlMs = Math.max(0, options.ttlMs);
    this.#clock = options.clock ?? Date.now;
  }

  get enabled(): boolean {
    return this.#maxBytes > 0 && this.#ttlMs > 0;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#slots.size;
  }

  get(partition: string): StoredCache | undefined {
    const slot = this.#slots.get(partition);
    if (slot === undefined || this.#clock() - slot.storedAt >= this.#ttlMs) {
      if (slot !== undefined) this.#remove(partition, slot);
      this.stats.misses += 1;
      return undefined;
    }
    this.#slots.delete(partition);
    this.#slots.set(partition, slot);
    this.stats.hits += 1;
    return slot.value;
  }

  /** Whether `get` would hit, without counting it or touching the order. */
  isFresh(partition: string): boolean {
    const slot = this.#slots.get(partition);
    return slot !== undefined && this.#clock() - slot.storedAt < this.#ttlMs;
  }

  /** Take before the storage read or write whose result goes to `set`. */
  mark(): number {
    return this.#invalidations.mark();
  }

  /**
   * Keeps `value` as the partition's copy, unless the partition was invalidated after `mark`: the
   * value then came from a read or write that an invalidation overtook, and may be older than it.
   */
  set(partition: string, value: StoredCache, mark: number): void {
    if (this.#invalidations.forgottenSince(partition, mark)) return;
    const existing = this.#slots.get(partition);
    if (existing !== undefined) this.#remove(partition, existing);
    if (!this.enabled) return;
    // JavaScript strings are UTF-16: two bytes per code unit is the honest estimate.
    const bytes = 2 * (partition.length + value.data.length + value.etag.length) + 64;
    if (bytes > this.#maxBytes) return; // one huge cache must not flush everyone else's
    this.#slots.set(partition, { value, bytes, storedAt: this.#clock() });
    this.#bytes += bytes;
    for (const [key, slot] of this.#slots) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#remove(key, slot);
      this.stats.evictions += 1;
    }
  }

  invalidate(partition: string): void {
    this.#invalidations.forget(partition);
    const slot = this.#slots.get(partition);
    if (slot !== undefined) this.#remove(partition, slot);
  }

  clear(): void {
    this.#invalidations.forgetAll();
    this.#slots.clear();
    this.#bytes = 0;
  }

  #remove(partition: string, slot: Slot): void {
    this.#slots.delete(partition);
    this.#bytes -= slot.bytes;
  }
}
