/**
 * The token-cache store on Azure Table Storage (table `accounts`).
 *
 * Layout, one partition per user (PartitionKey = homeAccountId, validated `<oid>.<tid>`), shared
 * with the user's sessions (`session-*` rows, session-store.ts), which this store never touches:
 * - `cache`: the head row. `kid` (which key sealed it, for rotation audits), `expiresAt` (for the
 *   sweep), `updatedAt`, `rows`/`chunks`/`size`/`gen` (layout), and the ciphertext in `d0..dN`
 *   (Edm.Binary). The whole cache is sealed once with AES-256-GCM, additional data = the partition
 *   key, so a row copied into another user's partition does not open.
 * - `cache-001`...: continuation rows, only for a cache over ~660 KiB (see table-chunks.ts),
 *   written in the same transaction as the head so the head's ETag guards them all.
 * - `lease`: the refresh lease (`holder`, `expiresAt`).
 * - elsewhere in the table, `expiry-cache-<day>` index rows (src/storage/expiry-index.ts): written
 *   before each cache write that moves the expiry to a day not yet indexed, read by the sweep.
 *
 * Concurrency is optimistic: a write names the ETag it read (If-Match) or creates (insert only);
 * 412/409/404 become CacheConflictError and save.ts merges. Every other failure becomes an
 * AppError: 503 storage_unavailable when transient.
 */
import { randomBytes } from 'node:crypto';
import { odata, type TableClient, type TableEntityResult, type TransactionAction } from '@azure/data-tables';
import type { Clock } from '../clock';
import { currentRing, ringKnowing, type KeyRingSource } from '../crypto/keyring';
import { isSealError, sealBuffer, unsealBuffer } from '../crypto/seal';
import { ExpiryIndex, type LegacyScan, type PartitionSweep } from '../storage/expiry-index';
import { deleteIfUnchanged, statusOf } from '../storage/tables';
import { CacheConflictError, CacheUnreadableError, cacheTooLarge, isStorageError, storageFailure } from './errors';
import { CACHE_ROW_RANGE, chunkProperties, continuationRowKey, HEAD_ROW, isContinuationRowKey, readChunkProperties, splitIntoRows } from './table-chunks';
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

const LEASE_ROW = 'lease';
/** The cache's own rows in a partition (head, continuation rows, lease): the account's sessions share it (session-store.ts). */
const OWN_ROWS = odata`(RowKey ge ${CACHE_ROW_RANGE.from} and RowKey lt ${CACHE_ROW_RANGE.to}) or RowKey eq ${LEASE_ROW}`;
const LAYOUT_VERSION = 1;
/** A transaction holds at most 100 operations. */
const MAX_TRANSACTION_OPS = 100;
/** Re-reads when a read straddles a multi-row write (continuation rows of another generation). */
const MAX_READ_ATTEMPTS = 3;

interface HeadEntity {
  partitionKey: string;
  rowKey: string;
  v: number;
  kid: string;
  gen: string;
  rows: number;
  chunks: number;
  size: number;
  expiresAt: Date;
  updatedAt: Date;
  [chunk: `d${number}`]: Uint8Array;
}

interface LeaseEntity {
  partitionKey: string;
  rowKey: string;
  holder: string;
  expiresAt: Date;
}

export interface TableTokenCacheStoreOptions {
  readonly client: TableClient;
  readonly keyRing: KeyRingSource;
  readonly clock?: Clock;
  /** Creates the table before the first write; default: `client.createTable()` once (it tolerates "already exists"). */
  readonly ensureTable?: () => Promise<void>;
}

export class TableTokenCacheStore implements TokenCacheStore {
  readonly counters: StoreCounters = newCounters();
  /** Where the sweep finds the partitions whose cache expires on a given day. */
  readonly expiryIndex: ExpiryIndex;
  readonly #client: TableClient;
  readonly #keyRing: KeyRingSource;
  readonly #clock: Clock;
  readonly #ensureTable: () => Promise<void>;

  constructor(options: TableTokenCacheStoreOptions) {
    this.#client = options.client;
    this.#keyRing = options.keyRing;
    this.#clock = options.clock ?? Date.now;
    this.#ensureTable = options.ensureTable ?? memoizeCreateTable(options.client);
    this.expiryIndex = new ExpiryIndex({ client: options.client, kind: 'cache', clock: this.#clock, ensureTable: this.#ensureTable });
  }

  /** The row keys of a cache (head and continuation rows), as a half-open range [from, to). */
  readonly rowKeyRange = CACHE_ROW_RANGE;

  async read(homeAccountId: string): Promise<StoredCache | undefined> {
    const partition = partitionKeyOf(homeAccountId);
    return this.#guard(async () => {
      for (let attempt = 1; ; attempt++) {
        this.counters.reads += 1;
        const rows: TableEntityResult<Record<string, unknown>>[] = [];
        try {
          const query = this.#client.listEntities<Record<string, unknown>>({
            queryOptions: { filter: odata`PartitionKey eq ${partition} and RowKey ge ${CACHE_ROW_RANGE.from} and RowKey lt ${CACHE_ROW_RANGE.to}` },
          });
          for await (const row of query) rows.push(row);
        } catch (error) {
          if (statusOf(error) !== 404) throw error; // no table yet: no cache
        }
        const decoded = await this.#decode(partition, rows);
        if (!isIncomplete(decoded)) return decoded;
        // The read straddled a multi-row write (rows of two generations): read again.
        if (attempt >= MAX_READ_ATTEMPTS) throw new CacheUnreadableError(decoded.incomplete.kid, decoded.incomplete.etag, 'incomplete rows');
      }
    });
  }

  /**
   * The cache in rows someone else read (the session read fetches them along, see
   * session-store.ts): undefined when they hold no cache or do not fit together; never throws,
   * since the caller can always fall back to `read`.
   */
  async decodeRows(homeAccountId: string, rows: readonly TableEntityResult<Record<string, unknown>>[]): Promise<StoredCache | undefined> {
    try {
      const decoded = await this.#decode(partitionKeyOf(homeAccountId), rows);
      return isIncomplete(decoded) ? undefined : decoded;
    } catch {
      return undefined;
    }
  }

  async write(homeAccountId: string, data: string, options: WriteOptions): Promise<{ etag: string }> {
    const partition = partitionKeyOf(homeAccountId);
    const plaintext = Buffer.from(data, 'utf8');
    if (plaintext.length > MAX_CACHE_BYTES) throw cacheTooLarge(plaintext.length, MAX_CACHE_BYTES);
    const ring = await currentRing(this.#keyRing);
    const sealed = sealBuffer(ring, 'token-cache', plaintext, partition);
    const rows = splitIntoRows(sealed);
    const now = this.#clock();
    const gen = randomBytes(8).toString('hex');
    const expiresAt = new Date(options.expiresAt ?? now + DEFAULT_REFRESH_TOKEN_HORIZON_MS);
    const head = {
      partitionKey: partition,
      rowKey: HEAD_ROW,
      v: LAYOUT_VERSION,
      kid: ring.current.kid,
      gen,
      rows: rows.length,
      chunks: rows[0]!.length,
      size: sealed.length,
      expiresAt,
      updatedAt: new Date(now),
      ...chunkProperties(rows[0]!),
    };

    return this.#guard(async () => {
      await this.#ensureTable();
      // The index row first: a write that then fails leaves a stale entry, which the sweep tolerates.
      const indexed = await this.expiryIndex.note(partition, expiresAt.getTime());
      this.counters.writes += indexed ? 2 : 1;
      try {
        if (rows.length === 1) {
          const response = options.etag === undefined
            ? await this.#client.createEntity(head)
            : await this.#client.updateEntity(head, 'Replace', { etag: options.etag });
          return { etag: response.etag ?? (await this.#headEtag(partition)) };
        }
        const actions: TransactionAction[] = [
          options.etag === undefined ? ['create', head] : ['update', head, 'Replace', { etag: options.etag }],
          ...rows.slice(1).map((chunks, i): TransactionAction => [
            'upsert',
            { partitionKey: partition, rowKey: continuationRowKey(i + 1), gen, chunks: chunks.length, expiresAt, ...chunkProperties(chunks) },
            'Replace',
          ]),
        ];
        const response = await this.#client.submitTransaction(actions);
        const etag = response.subResponses[0]?.etag?.trim();
        return { etag: etag || (await this.#headEtag(partition)) };
      } catch (error) {
        const status = statusOf(error);
        if (status === 412 || status === 409 || (status === 404 && options.etag !== undefined)) {
          this.counters.conflicts += 1;
          throw new CacheConflictError(status === 412 ? 'changed' : status === 409 ? 'exists' : 'gone');
        }
        throw error;
      }
    });
  }

  async version(homeAccountId: string): Promise<string | undefined> {
    const partition = partitionKeyOf(homeAccountId);
    return this.#guard(() => this.#readHeadEtag(partition));
  }

  async removePartition(homeAccountId: string, options: RemoveOptions = {}): Promise<boolean> {
    const partition = partitionKeyOf(homeAccountId);
    const { ifVersion } = options;
    return this.#guard(async () => {
      if (ifVersion !== undefined) return (await this.#deleteGeneration(partition, ifVersion)) > 0;
      for (let attempt = 1; ; attempt++) {
        const rowKeys = await this.#listOwnRowKeys(partition);
        try {
          await this.#deleteRows(partition, rowKeys);
          return true;
        } catch (error) {
          // A row vanished between the listing and the batch (another remover, the sweep): list again.
          if (statusOf(error) !== 404 || attempt >= MAX_READ_ATTEMPTS) throw error;
        }
      }
    });
  }

  async acquireLease(homeAccountId: string, holder: string, ttlMs: number): Promise<Lease | undefined> {
    const partition = partitionKeyOf(homeAccountId);
    return this.#guard(async () => {
      await this.#ensureTable();
      for (let attempt = 1; attempt <= MAX_READ_ATTEMPTS; attempt++) {
        const now = this.#clock();
        const entity: LeaseEntity = { partitionKey: partition, rowKey: LEASE_ROW, holder, expiresAt: new Date(now + ttlMs) };
        const lease = (etag: string | undefined): Lease => ({ homeAccountId: partition, holder, expiresAt: now + ttlMs, etag: etag ?? '*' });
        try {
          this.counters.writes += 1;
          return lease((await this.#client.createEntity(entity)).etag);
        } catch (error) {
          if (statusOf(error) !== 409) throw error;
        }
        const current = await this.#getRow<LeaseEntity>(partition, LEASE_ROW);
        if (current === undefined) continue; // released meanwhile: try to create it again
        if (new Date(current.expiresAt).getTime() > now && current.holder !== holder) return undefined;
        try {
          // Expired (or ours, being extended): take it over, only if nobody did first.
          this.counters.writes += 1;
          return lease((await this.#client.updateEntity(entity, 'Replace', { etag: current.etag })).etag);
        } catch (error) {
          const status = statusOf(error);
          if (status === 412) return undefined;
          if (status !== 404) throw error;
        }
      }
      return undefined;
    });
  }

  async releaseLease(lease: Lease): Promise<void> {
    const partition = partitionKeyOf(lease.homeAccountId);
    await this.#guard(async () => {
      this.counters.deletes += 1;
      try {
        await this.#client.deleteEntity(partition, LEASE_ROW, { etag: lease.etag });
      } catch (error) {
        // 412: it expired and another holder took it; 404: gone already. Either way, not ours to delete.
        const status = statusOf(error);
        if (status !== 412 && status !== 404) throw error;
      }
    });
  }

  async readLease(homeAccountId: string): Promise<LeaseState | undefined> {
    const partition = partitionKeyOf(homeAccountId);
    return this.#guard(async () => {
      const row = await this.#getRow<LeaseEntity>(partition, LEASE_ROW);
      return row === undefined ? undefined : { holder: row.holder, expiresAt: new Date(row.expiresAt).getTime() };
    });
  }

  /**
   * Deletes what expired: a cache row whose refresh token is past its life takes its continuation
   * rows along (a live lease stays until it expires; sessions are the session sweep's); a stale
   * lease or an orphaned continuation row goes alone. Every delete is conditional on the ETag seen,
   * so a row written since is left alone. Only the partitions the expiry index names for days
   * already past are read (src/storage/expiry-index.ts): the cost follows what expired, not the
   * table's size. Bounded by maxRows.
   */
  async sweepExpired({ now, maxRows }: SweepOptions): Promise<SweepResult> {
    return this.#guard(async () => {
      const swept = await this.expiryIndex.sweep({ now, maxRows, legacy: LEGACY_SCAN, visit: (partition) => this.#sweepPartition(partition, now) });
      return { partitions: swept.partitions, rows: swept.rows };
    });
  }

  /** One partition the index named: one listing of the cache's rows and lease, then conditional deletes of what expired. */
  async #sweepPartition(partition: string, now: number): Promise<PartitionSweep> {
    const rows: { rowKey: string; etag: string; gen: unknown; expiresAt: number }[] = [];
    const filter = `${odata`PartitionKey eq ${partition}`} and (${OWN_ROWS})`;
    for await (const page of this.#client.listEntities<{ gen?: string; expiresAt?: Date }>({ queryOptions: { filter, select: ['RowKey', 'gen', 'expiresAt'] } }).byPage()) {
      this.counters.reads += 1;
      for (const row of page) rows.push({ rowKey: row.rowKey!, etag: row.etag, gen: row.gen, expiresAt: row.expiresAt ? new Date(row.expiresAt).getTime() : Number.NaN });
    }
    const head = rows.find((row) => row.rowKey === HEAD_ROW);
    // Re-checked here: a stale index entry finds a head written since, with a later expiry (and its own entry).
    const headGone = head !== undefined && head.expiresAt < now && (await this.#deleteIfUnchanged(partition, HEAD_ROW, head.etag));
    let deleted = headGone ? 1 : 0;
    let recheckAt: number | undefined;
    for (const row of rows) {
      if (row === head) continue;
      if (row.rowKey === LEASE_ROW && row.expiresAt >= now) {
        // A live lease is indexed by nobody: with no cache left to bring the sweep back, look again when it expires.
        if (head === undefined || headGone) recheckAt = row.expiresAt;
        continue;
      }
      // A gone head takes its generation along; an orphan of another generation goes once expired.
      const goes = row.rowKey === LEASE_ROW || (headGone && row.gen === head.gen) || (row.gen !== head?.gen && row.expiresAt < now);
      if (goes && (await this.#deleteIfUnchanged(partition, row.rowKey, row.etag))) deleted += 1;
    }
    return { rows: deleted, partitions: headGone ? 1 : 0, complete: true, ...(recheckAt === undefined ? {} : { recheckAt }) };
  }

  async #open(sealed: Buffer, partition: string, kid: string, etag: string): Promise<string> {
    const ring = await ringKnowing(this.#keyRing, kid);
    try {
      return unsealBuffer(ring, 'token-cache', sealed, partition).toString('utf8');
    } catch (error) {
      if (!isSealError(error)) throw error;
      throw new CacheUnreadableError(kid, etag, error.code === 'SEAL_KEY_UNKNOWN' ? 'unknown key' : 'failed authentication', error);
    }
  }

  async #decode(partition: string, rows: readonly TableEntityResult<Record<string, unknown>>[]): Promise<StoredCache | undefined | Incomplete> {
    const head = rows.find((row) => row.rowKey === HEAD_ROW) as (HeadEntity & { etag: string }) | undefined;
    if (head === undefined) return undefined;
    const etag = head.etag;
    if (head.v !== LAYOUT_VERSION || typeof head.kid !== 'string') throw new CacheUnreadableError(undefined, etag, 'unknown layout');
    const sealed = assemble(head, rows);
    if (sealed === undefined) return { incomplete: { kid: head.kid, etag } };
    return { data: await this.#open(sealed, partition, head.kid, etag), etag };
  }

  async #getRow<T extends object>(partition: string, rowKey: string): Promise<(T & { etag: string }) | undefined> {
    this.counters.reads += 1;
    try {
      return (await this.#client.getEntity<T>(partition, rowKey)) as T & { etag: string };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  async #headEtag(partition: string): Promise<string> {
    const etag = await this.#readHeadEtag(partition);
    if (etag === undefined) throw new CacheConflictError('gone');
    return etag;
  }

  /** The head's ETag, without downloading its ciphertext; undefined when there is no head. */
  async #readHeadEtag(partition: string): Promise<string | undefined> {
    this.counters.reads += 1;
    try {
      return (await this.#client.getEntity(partition, HEAD_ROW, { queryOptions: { select: ['RowKey'] } })).etag;
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /**
   * Deletes the head if it still has `etag`, then the continuation rows of its generation (each
   * if unchanged), all seen in one listing of the cache's rows. Never another generation's rows,
   * nor a head written since (a sign-in right after an expiry or a sign-out), nor the lease (it
   * expires by itself; the sweep takes stale ones). Answers how many rows went: 0 when the head
   * had changed or was gone.
   */
  async #deleteGeneration(partition: string, etag: string): Promise<number> {
    const rows: { rowKey: string; etag: string; gen: unknown }[] = [];
    try {
      const filter = odata`PartitionKey eq ${partition} and RowKey ge ${CACHE_ROW_RANGE.from} and RowKey lt ${CACHE_ROW_RANGE.to}`;
      for await (const page of this.#client.listEntities<{ gen?: string }>({ queryOptions: { filter, select: ['RowKey', 'gen'] } }).byPage()) {
        this.counters.reads += 1;
        for (const row of page) rows.push({ rowKey: row.rowKey!, etag: row.etag, gen: row.gen });
      }
    } catch (error) {
      if (statusOf(error) === 404) return 0;
      throw error;
    }
    const head = rows.find((row) => row.rowKey === HEAD_ROW);
    if (head?.etag !== etag || !(await this.#deleteIfUnchanged(partition, HEAD_ROW, etag))) return 0;
    let deleted = 1;
    for (const row of rows) {
      if (row !== head && row.gen === head.gen && (await this.#deleteIfUnchanged(partition, row.rowKey, row.etag))) deleted += 1;
    }
    return deleted;
  }

  async #listOwnRowKeys(partition: string): Promise<string[]> {
    const rowKeys: string[] = [];
    try {
      const filter = `${odata`PartitionKey eq ${partition}`} and (${OWN_ROWS})`;
      const pages = this.#client.listEntities({ queryOptions: { filter, select: ['RowKey'] } }).byPage();
      for await (const page of pages) {
        this.counters.reads += 1;
        for (const entity of page) rowKeys.push(entity.rowKey!);
      }
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
    return rowKeys;
  }

  /** Unconditional deletes, one transaction per 100 rows (one row: a plain delete). */
  async #deleteRows(partition: string, rowKeys: readonly string[]): Promise<void> {
    for (let i = 0; i < rowKeys.length; i += MAX_TRANSACTION_OPS) {
      const batch = rowKeys.slice(i, i + MAX_TRANSACTION_OPS);
      this.counters.deletes += 1;
      if (batch.length === 1) {
        try {
          await this.#client.deleteEntity(partition, batch[0]!);
        } catch (error) {
          if (statusOf(error) !== 404) throw error;
        }
      } else {
        await this.#client.submitTransaction(batch.map((rowKey): TransactionAction => ['delete', { partitionKey: partition, rowKey }]));
      }
    }
  }

  /** Deletes one row if it still has the ETag we saw; false when it changed or vanished. */
  async #deleteIfUnchanged(partition: string, rowKey: string, etag: string): Promise<boolean> {
    if (rowKey !== HEAD_ROW && rowKey !== LEASE_ROW && !isContinuationRowKey(rowKey)) return false;
    this.counters.deletes += 1;
    return deleteIfUnchanged(this.#client, partition, rowKey, etag);
  }

  /** Storage failures become AppErrors (503 when transient); our own errors and bugs pass as they are. */
  async #guard<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw isStorageError(error) ? storageFailure(error) : error;
    }
  }
}

/** The cache's rows in a table written before the expiry index: what the one-time backfill indexes. */
const LEGACY_SCAN: LegacyScan = {
  filter: OWN_ROWS,
  select: ['PartitionKey', 'expiresAt'],
  expiryOf: (row) => (row['expiresAt'] === undefined ? undefined : new Date(row['expiresAt'] as Date).getTime()),
};

/** A head whose continuation rows are missing or of another generation. */
interface Incomplete {
  readonly incomplete: { readonly kid: string; readonly etag: string };
}

function isIncomplete(value: StoredCache | undefined | Incomplete): value is Incomplete {
  return value !== undefined && 'incomplete' in value;
}

/** The sealed bytes of a head and its continuation rows, or undefined when they do not belong together. */
function assemble(head: HeadEntity, rows: readonly Record<string, unknown>[]): Buffer | undefined {
  const headChunks = readChunkProperties(head, head.chunks);
  if (headChunks === undefined) return undefined;
  const parts = [...headChunks];
  for (let i = 1; i < head.rows; i++) {
    const key = continuationRowKey(i);
    const row = rows.find((candidate) => candidate['rowKey'] === key);
    if (row === undefined || row['gen'] !== head.gen || typeof row['chunks'] !== 'number') return undefined;
    const chunks = readChunkProperties(row, row['chunks']);
    if (chunks === undefined) return undefined;
    parts.push(...chunks);
  }
  const sealed = Buffer.concat(parts);
  return sealed.length === head.size ? sealed : undefined;
}

function memoizeCreateTable(client: TableClient): () => Promise<void> {
  let ready: Promise<void> | undefined;
  return () => {
    ready ??= client.createTable().catch((error: unknown) => {
      ready = undefined; // try again next time: storage may be back
      throw error;
    });
    return ready;
  };
}
