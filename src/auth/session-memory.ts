/**
 * A session store with a per-instance memory of recently read sessions in front of another store.
 *
 * What it buys: a user's requests within a few seconds of each other (a page load and its API
 * calls, paging through mail) do not each read the session in full from storage. With the token
 * cache's own memory copy (memory-l1.ts), such a request makes one small storage read: the
 * confirmation below.
 *
 * What it trades, exactly:
 * - Sign-out or "forget me" on this instance forgets the memory at once, including what a read
 *   still in flight during it would bring back (invalidation-log.ts).
 * - A session ended on another instance (a sign-out, "Your devices", front-channel sign-out, forget)
 *   ends here at once too: a remembered session is only served after `inner.exists`, one point read
 *   of its row that selects nothing but the key (no token-cache rows, nothing to open). So a warm
 *   request costs exactly one small storage read instead of none; what the memory still saves is
 *   the full row, opening its sealed part, and the token cache's rows that a first read brings
 *   along. If storage cannot answer the confirmation, the remembered session is served for the
 *   rest of its TTL (see #stillThere). With `confirmEachUse: false` (tests only) the memory is trusted for `ttlMs` and a
 *   session ended elsewhere stays usable here for up to that long. `ttlMs: 0` turns the memory
 *   off: every request then reads its session in full (one read in all, with the token cache, see
 *   shared-read.ts).
 * - Idle and absolute expiry are checked on every request all the same (sessions.ts), against the
 *   remembered times; the sliding write (at most once an hour) updates the remembered times but
 *   not the moment of the read, so it cannot stretch how long a session ended elsewhere is honoured.
 * - Absence is never remembered: a sign-in on another instance is seen at once.
 * - Memory: at most `maxEntries` small records (profile and times, no tokens), least recently used
 *   out first.
 */
import type { Clock } from '../clock';
import { InvalidationLog } from '../cache/invalidation-log';
import { partitionKeyOf } from '../cache/token-cache-store';
import type { SessionRecord, SessionRef, SessionStore, StoredSession, UnconfirmedSession } from './session-store';

export interface SessionMemoryOptions {
  readonly ttlMs: number;
  readonly maxEntries: number;
  readonly clock: Clock;
  /** Check that a remembered session's row still exists before serving it (default true). */
  readonly confirmEachUse?: boolean;
}

interface Remembered {
  readonly record: SessionRecord;
  readonly readAt: number;
}

export interface SessionMemoryStats {
  hits: number;
  misses: number;
  /** Remembered sessions found ended in storage (by another instance) when confirmed. */
  endedElsewhere: number;
  /** Remembered sessions served although storage could not confirm them (down). */
  unconfirmed: number;
}

export class RememberingSessionStore implements SessionStore {
  readonly stats: SessionMemoryStats = { hits: 0, misses: 0, endedElsewhere: 0, unconfirmed: 0 };
  /** Map iteration order is insertion order: re-inserting on use keeps the least recently used first. */
  readonly #remembered = new Map<string, Remembered>();
  /** Keyed by account partition: a sign-out skips remembering any of the account's sessions read during it. */
  readonly #forgotten = new InvalidationLog();

  constructor(
    readonly inner: SessionStore,
    private readonly options: SessionMemoryOptions,
  ) {}

  async create(ref: SessionRef, record: SessionRecord): Promise<void> {
    await this.inner.create(ref, record);
    this.#remember(ref, record, this.options.clock());
  }

  async get(ref: SessionRef): Promise<SessionRecord | undefined> {
    const remembered = this.#fresh(ref);
    if (remembered !== undefined) {
      if (this.options.confirmEachUse !== false && !(await this.#confirm(ref))) return undefined;
      this.#hit(ref, remembered);
      return remembered.record;
    }
    this.stats.misses += 1;
    this.#remembered.delete(keyOf(ref));
    const mark = this.#forgotten.mark();
    const record = await this.inner.get(ref);
    if (record !== undefined && !this.#forgotten.forgottenSince(partitionKeyOf(ref.homeAccountId), mark)) {
      this.#remember(ref, record, this.options.clock());
    }
    return record;
  }

  /**
   * As `get`, but a remembered session comes back at once with its confirmation read still under
   * way, so the caller can overlap that round trip with its own work (GET /api/mail overlaps it
   * with the Graph call) and must await `confirmed` before it answers or does anything else with
   * the session. A read from storage comes back confirmed.
   */
  async getUnconfirmed(ref: SessionRef): Promise<UnconfirmedSession | undefined> {
    const remembered = this.options.confirmEachUse === false ? undefined : this.#fresh(ref);
    if (remembered === undefined) {
      const record = await this.get(ref);
      return record === undefined ? undefined : { record, confirmed: Promise.resolve(true) };
    }
    this.#hit(ref, remembered);
    return { record: remembered.record, confirmed: this.#confirm(ref) };
  }

  async touch(ref: SessionRef, lastSeenAt: number, idleExpiresAt: number): Promise<void> {
    await this.inner.touch(ref, lastSeenAt, idleExpiresAt);
    const remembered = this.#remembered.get(keyOf(ref));
    if (remembered !== undefined) this.#remember(ref, { ...remembered.record, lastSeenAt, idleExpiresAt }, remembered.readAt);
  }

  async delete(ref: SessionRef, known?: Pick<SessionRecord, 'sidHash'>): Promise<void> {
    this.#forget(ref);
    try {
      await this.inner.delete(ref, known);
    } finally {
      // A read that started before the delete reached storage may still find the row.
      this.#forget(ref);
    }
  }

  countLiveForAccount(homeAccountId: string, now: number): Promise<number> {
    return this.inner.countLiveForAccount(homeAccountId, now);
  }

  async deleteAllForAccount(homeAccountId: string): Promise<number> {
    this.#forgetAccount(homeAccountId);
    try {
      return await this.inner.deleteAllForAccount(homeAccountId);
    } finally {
      this.#forgetAccount(homeAccountId);
    }
  }

  sweepExpired(now: number, maxRows: number): Promise<number> {
    return this.inner.sweepExpired(now, maxRows);
  }

  exists(ref: SessionRef): Promise<boolean> {
    return this.inner.exists(ref);
  }

  listForAccount(homeAccountId: string): Promise<StoredSession[]> {
    return this.inner.listForAccount(homeAccountId);
  }

  findBySid(sidHash: string): Promise<SessionRef[]> {
    return this.inner.findBySid(sidHash);
  }

  /** Forgets every remembered session (the benchmark's "first visit" runs). */
  clear(): void {
    this.#forgotten.forgetAll();
    this.#remembered.clear();
  }

  /** The remembered session, if it was read less than `ttlMs` ago. */
  #fresh(ref: SessionRef): Remembered | undefined {
    const remembered = this.#remembered.get(keyOf(ref));
    return remembered !== undefined && this.options.clock() - remembered.readAt < this.options.ttlMs ? remembered : undefined;
  }

  /** A remembered session served: counted, and moved to the most recently used end. */
  #hit(ref: SessionRef, remembered: Remembered): void {
    const key = keyOf(ref);
    this.#remembered.delete(key);
    this.#remembered.set(key, remembered);
    this.stats.hits += 1;
  }

  /** Whether a remembered session's row is still there (#stillThere); forgotten when it is not. */
  async #confirm(ref: SessionRef): Promise<boolean> {
    const there = await this.#stillThere(ref);
    if (!there) {
      this.stats.endedElsewhere += 1;
      this.#forget(ref);
    }
    return there;
  }

  /**
   * The confirmation read. When storage cannot answer it, the remembered session serves out its TTL
   * as before: nothing can be signed out while storage is down (ending a session writes to it), so
   * only an end in the moments before the outage goes unseen, for at most `ttlMs`.
   */
  async #stillThere(ref: SessionRef): Promise<boolean> {
    try {
      return await this.inner.exists(ref);
    } catch {
      this.stats.unconfirmed += 1;
      return true;
    }
  }

  #remember(ref: SessionRef, record: SessionRecord, readAt: number): void {
    if (this.options.ttlMs <= 0 || this.options.maxEntries <= 0) return;
    const key = keyOf(ref);
    this.#remembered.delete(key);
    this.#remembered.set(key, { record, readAt });
    for (const oldest of this.#remembered.keys()) {
      if (this.#remembered.size <= this.options.maxEntries) break;
      this.#remembered.delete(oldest);
    }
  }

  #forget(ref: SessionRef): void {
    this.#forgotten.forget(partitionKeyOf(ref.homeAccountId));
    this.#remembered.delete(keyOf(ref));
  }

  #forgetAccount(homeAccountId: string): void {
    this.#forgotten.forget(partitionKeyOf(homeAccountId));
    const prefix = `${partitionKeyOf(homeAccountId)}/`;
    for (const key of this.#remembered.keys()) if (key.startsWith(prefix)) this.#remembered.delete(key);
  }
}

function keyOf(ref: SessionRef): string {
  return `${partitionKeyOf(ref.homeAccountId)}/${ref.idHash}`;
}
