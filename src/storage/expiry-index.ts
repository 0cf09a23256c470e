/**
 * Expiry-bucket index rows: what lets a sweep read only what expired, not the whole table.
 *
 * Layout (same table as the rows they index, `accounts`):
 * - `expiry-<kind>-<YYYYMMDD>` / `<account partition>`: "in this account's partition, a row of
 *   this kind (`cache`, `session`) expires on this UTC day". Two keys, no other property.
 * - `expiry-meta` / `backfill-<kind>`: the one-time backfill's progress (see `sweep`).
 *
 * "Written together with the rows they index": Table Storage transactions hold one partition only,
 * and an index row lives in its day's partition, not the account's. So the order is what keeps it
 * safe, never a transaction:
 * 1. the writer upserts the index row first, then writes its row. A crash or a refused write in
 *    between leaves an index row pointing at nothing new: a stale entry, which the sweep tolerates;
 *    a written row always has its index row.
 * 2. The writer indexes the day of max(expiry, now), never a day already past; the sweep only
 *    reads days whose end is at least EXPIRY_GRACE_MS ago. So a writer never adds to a day the
 *    sweep is reading (clock skew below the grace), and a row is deleted within a day and the grace
 *    of its expiry (the sessions and tokens themselves are refused at once at their expiry).
 * 3. The sweep visits each account the entry names, re-checks the expiry of every row there
 *    (a row written since has a later expiry, indexed by its own writer), deletes expired rows
 *    only if their ETag is unchanged, then deletes the index entry if its ETag is unchanged.
 *
 * Cost: one extra write when a write moves its row's expiry to a day this instance has not yet
 * indexed for that account (a bounded per-instance memory remembers what it indexed, so a refresh
 * or a sliding write on the same day and instance costs none). A read never writes an index row.
 * The sweep costs about one page per 1,000 entries, one query per entry, and the deletes: it
 * follows what expired (and stale entries, at most one per write), not the number of users.
 *
 * Migration: tables written before this index have no index rows. The sweep backfills them once,
 * in bounded pages per run (the only table scan left, resumable through a continuation token kept
 * in `expiry-meta`); until it has passed a row, that row simply stays a little longer.
 */
import { odata, type TableClient, type TransactionAction } from '@azure/data-tables';
import type { Clock } from '../clock';
import { deleteIfUnchanged, statusOf } from './tables';

export const EXPIRY_BUCKET_MS = 24 * 3600_000;
/** A day is swept once it ended this long ago: more than any clock skew between instances. */
export const EXPIRY_GRACE_MS = 3600_000;
const META_PARTITION = 'expiry-meta';
/** Remembered index rows per instance (about 100 bytes each). */
const DEFAULT_MEMORY_ENTRIES = 20_000;
/** A transaction holds at most 100 operations. */
const MAX_TRANSACTION_OPS = 100;
/** Accounts the sweep visits at once, and backfill transactions in flight. */
const CONCURRENCY = 16;

/** What the sweep did in one account's partition. */
export interface PartitionSweep {
  /** Rows deleted. */
  readonly rows: number;
  /** Units the caller counts (the cache: 1 when its cache went). */
  readonly partitions: number;
  /** False when the visit stopped for its row budget: the entry stays for the next run. */
  readonly complete: boolean;
  /** A row left behind that no writer indexed (a live lease): when to look again. */
  readonly recheckAt?: number;
}

/** How to find a kind's rows in a table written before the index (the one-time backfill). */
export interface LegacyScan {
  readonly filter: string;
  readonly select: string[];
  /** The row's expiry (ms), or undefined when it has none. */
  expiryOf(row: Record<string, unknown>): number | undefined;
}

export interface ExpirySweepOptions {
  readonly now: number;
  /** Bound on entries visited and on rows deleted in one run. */
  readonly maxRows: number;
  readonly visit: (partition: string, budget: number) => Promise<PartitionSweep>;
  readonly legacy: LegacyScan;
}

export interface ExpirySweepResult {
  readonly rows: number;
  readonly partitions: number;
  /** Index entries visited (including stale ones). */
  readonly entries: number;
  /** Legacy rows the backfill indexed in this run. */
  readonly backfilled: number;
}

export interface ExpiryIndexOptions {
  readonly client: TableClient;
  /** Names the index partitions: `expiry-<kind>-<day>`; letters only. */
  readonly kind: string;
  readonly clock?: Clock;
  readonly ensureTable?: () => Promise<void>;
  readonly memoryEntries?: number;
  /** Backfill: rows per page and pages per sweep run (defaults 1,000 and 100). */
  readonly backfillPageSize?: number;
  readonly backfillPagesPerRun?: number;
}

export interface ExpiryIndexCounters {
  /** Index rows upserted by writers (what a sign-in, refresh or sliding write pays extra). */
  noted: number;
  /** Notes skipped because this instance had indexed that day for that account already. */
  remembered: number;
}

/** The UTC day of a time, `YYYYMMDD`: fixed width, so days sort as strings. */
export function expiryBucketOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');
}

export class ExpiryIndex {
  readonly counters: ExpiryIndexCounters = { noted: 0, remembered: 0 };
  readonly #client: TableClient;
  readonly #kind: string;
  readonly #clock: Clock;
  readonly #ensureTable: () => Promise<void>;
  readonly #maxRemembered: number;
  readonly #pageSize: number;
  readonly #pagesPerRun: number;
  /** `<day>|<partition>` this instance indexed; Map order is insertion order, the oldest go first. */
  readonly #remembered = new Map<string, true>();

  constructor(options: ExpiryIndexOptions) {
    if (!/^[a-z]+$/.test(options.kind)) throw new Error(`"kind" must be lower-case letters ("${options.kind}")`);
    this.#client = options.client;
    this.#kind = options.kind;
    this.#clock = options.clock ?? Date.now;
    this.#ensureTable = options.ensureTable ?? (async () => {});
    this.#maxRemembered = options.memoryEntries ?? DEFAULT_MEMORY_ENTRIES;
    this.#pageSize = options.backfillPageSize ?? 1000;
    this.#pagesPerRun = options.backfillPagesPerRun ?? 100;
  }

  /** The index partition of a day. */
  partitionOf(bucket: string): string {
    return `expiry-${this.#kind}-${bucket}`;
  }

  /**
   * Call before writing a row of this kind that expires at `expiresAt` in `partition`: upserts the
   * index row of that day (or of today, for an expiry already past), unless this instance did so.
   * Answers whether it wrote one.
   */
  async note(partition: string, expiresAt: number): Promise<boolean> {
    const bucket = expiryBucketOf(Math.max(expiresAt, this.#clock()));
    const key = `${bucket}|${partition}`;
    if (this.#remembered.has(key)) {
      this.counters.remembered += 1;
      return false;
    }
    await this.#ensureTable();
    await this.#upsertEntry(bucket, partition);
    this.#remember(key);
    return true;
  }

  /**
   * One sweep run: the backfill's next pages while it is unfinished, then the index entries of
   * every day that ended at least EXPIRY_GRACE_MS before `now`, oldest first, each visited and
   * then deleted, within `maxRows`. What a run leaves, the next run takes.
   */
  async sweep({ now, maxRows, visit, legacy }: ExpirySweepOptions): Promise<ExpirySweepResult> {
    let backfilled: number;
    try {
      backfilled = await this.#backfill(legacy);
    } catch (error) {
      if (statusOf(error) === 404) return { rows: 0, partitions: 0, entries: 0, backfilled: 0 }; // no table yet
      throw error;
    }
    const lastDay = expiryBucketOf(now - EXPIRY_BUCKET_MS - EXPIRY_GRACE_MS);
    const filter = odata`PartitionKey ge ${this.partitionOf('')} and PartitionKey le ${this.partitionOf(lastDay)}`;
    let rows = 0;
    let partitions = 0;
    let entries = 0;
    const pages = this.#client.listEntities({ queryOptions: { filter, select: ['PartitionKey', 'RowKey'] } }).byPage({ maxPageSize: Math.min(1000, Math.max(1, maxRows)) });
    outer: for await (const page of pages) {
      // Several accounts at once (each visit is a query and a few deletes): a run of thousands stays short.
      for (let i = 0; i < page.length; ) {
        const room = Math.min(CONCURRENCY, maxRows - entries, page.length - i);
        if (room <= 0 || rows >= maxRows) break outer;
        const chunk = page.slice(i, i + room);
        i += room;
        entries += room;
        const budget = Math.max(1, Math.floor((maxRows - rows) / room));
        const visits = await Promise.all(
          chunk.map(async (entry) => {
            const visited = await visit(entry.rowKey!, budget);
            if (visited.complete) {
              if (visited.recheckAt !== undefined) await this.#upsertEntry(expiryBucketOf(Math.max(visited.recheckAt, now)), entry.rowKey!);
              // On its ETag: an entry a writer indexed again since the listing must stay (412); 404: another sweep took it.
              await deleteIfUnchanged(this.#client, entry.partitionKey!, entry.rowKey!, entry.etag);
            }
            return visited;
          }),
        );
        for (const visited of visits) {
          rows += visited.rows;
          partitions += visited.partitions;
        }
        if (visits.some((visited) => !visited.complete)) break outer;
      }
    }
    return { rows, partitions, entries, backfilled };
  }

  /** Whether the one-time backfill has finished. */
  async backfillDone(): Promise<boolean> {
    return (await this.#readMarker())?.done === true;
  }

  async #upsertEntry(bucket: string, partition: string): Promise<void> {
    this.counters.noted += 1;
    await this.#client.upsertEntity({ partitionKey: this.partitionOf(bucket), rowKey: partition }, 'Replace');
  }

  async #readMarker(): Promise<{ done: boolean; continuation?: string } | undefined> {
    try {
      const row = await this.#client.getEntity<{ done?: boolean; continuation?: string }>(META_PARTITION, `backfill-${this.#kind}`);
      return { done: row.done === true, ...(row.continuation ? { continuation: row.continuation } : {}) };
    } catch (error) {
      if (statusOf(error) === 404 && !isTableMissing(error)) return undefined;
      throw error;
    }
  }

  /**
   * Indexes the next pages of rows written before the index existed (a table scan, once per
   * table, resumed run after run), grouped per day into transactions of up to 100 upserts.
   * Answers how many rows it indexed; 0 once done (one point read per run).
   */
  async #backfill(legacy: LegacyScan): Promise<number> {
    const marker = await this.#readMarker();
    if (marker?.done) return 0;
    let continuation = marker?.continuation;
    const byDay = new Map<string, Set<string>>();
    let indexed = 0;
    let pages = 0;
    const scan = this.#client.listEntities<Record<string, unknown>>({ queryOptions: { filter: legacy.filter, select: legacy.select } });
    for await (const page of scan.byPage({ maxPageSize: this.#pageSize, ...(continuation ? { continuationToken: continuation } : {}) })) {
      for (const row of page) {
        const expiresAt = legacy.expiryOf(row);
        if (expiresAt === undefined) continue;
        const day = expiryBucketOf(expiresAt);
        const partitions = byDay.get(day) ?? new Set<string>();
        partitions.add(row.partitionKey!);
        byDay.set(day, partitions);
        indexed += 1;
      }
      continuation = page.continuationToken;
      pages += 1;
      if (continuation === undefined || pages >= this.#pagesPerRun) break;
    }
    const batches: TransactionAction[][] = [];
    for (const [day, partitions] of byDay) {
      const keys = [...partitions];
      for (let i = 0; i < keys.length; i += MAX_TRANSACTION_OPS) {
        batches.push(keys.slice(i, i + MAX_TRANSACTION_OPS).map((rowKey): TransactionAction => ['upsert', { partitionKey: this.partitionOf(day), rowKey }, 'Replace']));
      }
    }
    for (let i = 0; i < batches.length; i += CONCURRENCY) {
      await Promise.all(batches.slice(i, i + CONCURRENCY).map((batch) => this.#client.submitTransaction(batch)));
    }
    // Progress is saved only after the index rows it covers: a run that fails redoes its pages.
    await this.#client.upsertEntity(
      { partitionKey: META_PARTITION, rowKey: `backfill-${this.#kind}`, done: continuation === undefined, continuation: continuation ?? '' },
      'Replace',
    );
    return indexed;
  }

  #remember(key: string): void {
    this.#remembered.set(key, true);
    if (this.#remembered.size > this.#maxRemembered) this.#remembered.delete(this.#remembered.keys().next().value!);
  }
}

/** A 404 for the whole table (TableNotFound), not for one row. */
function isTableMissing(error: unknown): boolean {
  const code = (error as { code?: unknown; details?: { errorCode?: unknown } }).code ?? (error as { details?: { errorCode?: unknown } }).details?.errorCode;
  return code === 'TableNotFound';
}
