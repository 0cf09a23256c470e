/**
 * Server-side sessions in Table Storage. The browser holds a random 256-bit id; storage holds only
 * its SHA-256 hash, so a leaked table cannot be replayed as cookies.
 *
 * Layout (table `accounts`, one partition per account, shared with the token cache):
 *  - `session-<hash(id)>`: one row per signed-in device.
 *
 * Why the account's partition: a warm request must check the session and load the token cache,
 * and Table Storage can return rows of one partition in one query. So the session read brings the
 * token-cache rows along (`TokenCacheRowsSink`) whenever the token cache has no fresh memory copy,
 * and a request costs one storage read, not two. "Sign out everywhere" and "forget me" are a
 * partition query too, with no index to keep in step.
 *
 * One index does exist, for front-channel sign-out (GET /api/logout/frontchannel?sid=): Entra
 * names the sign-in by its `sid` only, with no cookie, so a session whose ID token carried a sid
 * also gets a row `session-<hash(id)>` in the partition `sid-<hash(sid)>`, pointing at its account.
 * It costs one more write at sign-in; the sweep removes it when it removes its session (the session
 * row names it by its sidHash), and "forget me" removes it with the sessions.
 *
 * What a row holds in plain text, and what is sealed: see session-row.ts.
 */
import { createHash } from 'node:crypto';
import { odata, type TableClient, type TableEntityResult, type TransactionAction } from '@azure/data-tables';
import { isHomeAccountId, partitionKeyOf } from '../cache/token-cache-store';
import type { KeyRingSource } from '../crypto/keyring';
import type { ExpiryIndex } from '../storage/expiry-index';
import { entityExists, queryEntities } from '../storage/table-query';
import { statusOf, storageUnavailable } from '../storage/tables';
import { sidIndexPartition, toEntity, toRecord, type SessionEntity, type SessionRecord } from './session-row';
import { sessionExpiry, sessionExpiryIndex, sweepSessions } from './session-sweep';

export type { SessionRecord } from './session-row';

/** Where a session lives: its account and the hash of its id. */
export interface SessionRef {
  readonly homeAccountId: string;
  readonly idHash: string;
}

/** A session read whose confirmation in storage may still be under way (session-memory.ts). */
export interface UnconfirmedSession {
  readonly record: SessionRecord;
  /** Resolves false when storage no longer holds the session (ended on another instance). */
  readonly confirmed: Promise<boolean>;
}

export interface SessionStore {
  create(ref: SessionRef, record: SessionRecord): Promise<void>;
  get(ref: SessionRef): Promise<SessionRecord | undefined>;
  /**
   * As `get`, but a remembered session is handed out before storage confirms it, with the
   * confirmation still under way; stores without a memory answer it already confirmed.
   */
  getUnconfirmed?(ref: SessionRef): Promise<UnconfirmedSession | undefined>;
  touch(ref: SessionRef, lastSeenAt: number, idleExpiresAt: number): Promise<void>;
  /**
   * Deletes the session and its front-channel row. `known`: the session's record when the caller
   * already read it, which names that row; without it the store reads the row's sidHash first.
   */
  delete(ref: SessionRef, known?: Pick<SessionRecord, 'sidHash'>): Promise<void>;
  /** How many sessions of the account have reached neither their idle nor their absolute expiry. */
  countLiveForAccount(homeAccountId: string, now: number): Promise<number>;
  /** Deletes every session of the account; returns how many there were. */
  deleteAllForAccount(homeAccountId: string): Promise<number>;
  /** Deletes up to `maxRows` sessions whose idle or absolute expiry is past; returns the count. */
  sweepExpired(now: number, maxRows: number): Promise<number>;
  /** Whether the session's row is still there: one small point read, nothing opened. */
  exists(ref: SessionRef): Promise<boolean>;
  /** Every session of the account, expired or not, with the hash that names each. */
  listForAccount(homeAccountId: string): Promise<StoredSession[]>;
  /** The sessions whose sign-in carried the sid with this hash (session-row.ts hashSid). */
  findBySid(sidHash: string): Promise<SessionRef[]>;
}

export interface StoredSession {
  readonly ref: SessionRef;
  readonly record: SessionRecord;
}

/**
 * The token cache's side of the shared read: whether it wants its rows, which rows are its own,
 * and what to do with them. Implemented by the token cache's memory copy (l1-token-cache-store.ts).
 */
export interface TokenCacheRowsSink {
  /** The row keys the token cache reads, as a half-open range [from, to). */
  readonly rowKeyRange: { readonly from: string; readonly to: string };
  /**
   * Called just before the read. Undefined when the account's token cache has a fresh copy in
   * memory (the read is then the session row alone); otherwise what takes the rows the read found
   * (possibly none), which must not throw.
   */
  receiverFor(homeAccountId: string): TokenCacheRowsReceiver | undefined;
}

export type TokenCacheRowsReceiver = (rows: readonly TableEntityResult<Record<string, unknown>>[]) => Promise<void>;

export function hashSessionId(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

const ROW_PREFIX = 'session-';
/** Every session row key sorts inside [ROW_PREFIX, ROWS_END). */
const ROWS_END = 'session.';
/** A transaction holds at most 100 operations. */
const MAX_TRANSACTION_OPS = 100;

function keysOf(ref: SessionRef): { partitionKey: string; rowKey: string } {
  return { partitionKey: partitionKeyOf(ref.homeAccountId), rowKey: `${ROW_PREFIX}${ref.idHash}` };
}

/** The front-channel index row: which account's session a sid's sign-in made. */
interface SidIndexEntity {
  partitionKey: string;
  rowKey: string;
  homeAccountId: string;
  /** The session's absolute expiry, twice: the session sweep filters on both. */
  idleExpiresAt: Date;
  absoluteExpiresAt: Date;
}

export class TableSessionStore implements SessionStore {
  /** Expiry index (session-sweep.ts): noted before each write of a session's expiry, read by the sweep. */
  readonly expiryIndex: ExpiryIndex;

  constructor(
    private readonly client: TableClient,
    private readonly options: {
      /** Seals what names a person in each row (session-row.ts). */
      readonly keyRing: KeyRingSource;
      readonly ensureTable?: () => Promise<void>;
      /** The token cache, when it wants its rows read along with the session. */
      readonly tokenCacheRows?: TokenCacheRowsSink;
      readonly clock?: () => number;
    },
  ) {
    this.expiryIndex = sessionExpiryIndex(client, options);
  }

  async create(ref: SessionRef, record: SessionRecord): Promise<void> {
    const entity = await toEntity(this.options.keyRing, keysOf(ref), record);
    await this.guard(async () => {
      await this.options.ensureTable?.();
      await this.expiryIndex.note(entity.partitionKey, sessionExpiry(record));
      await this.client.createEntity<SessionEntity>(entity);
      const sidPartition = sidIndexPartition(record.sidHash);
      if (sidPartition !== undefined) {
        // Not indexed for expiry itself: the sweep deletes it with its session (session-sweep.ts),
        // which names it by the session row's sidHash.
        const expires = new Date(record.absoluteExpiresAt);
        await this.client.upsertEntity<SidIndexEntity>(
          { partitionKey: sidPartition, rowKey: entity.rowKey, homeAccountId: record.homeAccountId, idleExpiresAt: expires, absoluteExpiresAt: expires },
          'Replace',
        );
      }
    });
  }

  async get(ref: SessionRef): Promise<SessionRecord | undefined> {
    const sink = this.options.tokenCacheRows;
    const receiver = sink?.receiverFor(ref.homeAccountId);
    if (sink && receiver) return this.getWithTokenCache(ref, sink.rowKeyRange, receiver);
    const entity = await this.guard(() => this.readRow<SessionEntity>(ref));
    return entity === undefined ? undefined : toRecord(this.options.keyRing, entity);
  }

  async exists(ref: SessionRef): Promise<boolean> {
    const { partitionKey, rowKey } = keysOf(ref);
    // The Table pipeline alone (table-query.ts), as the first visit's read: this runs on every
    // warm request, and the SDK's generated-client layer was most of its CPU. A 404 answers false.
    return this.guard(() => entityExists(this.client, partitionKey, rowKey));
  }

  async listForAccount(homeAccountId: string): Promise<StoredSession[]> {
    const entities = await this.guard(async () => {
      const found: SessionEntity[] = [];
      try {
        for await (const row of this.client.listEntities<SessionEntity>({ queryOptions: { filter: sessionRowsOf(partitionKeyOf(homeAccountId)) } })) found.push(row);
      } catch (error) {
        if (statusOf(error) !== 404) throw error; // no table yet
      }
      return found;
    });
    const sessions: StoredSession[] = [];
    for (const entity of entities) {
      const record = await toRecord(this.options.keyRing, entity);
      if (record !== undefined) sessions.push({ ref: { homeAccountId, idHash: entity.rowKey.slice(ROW_PREFIX.length) }, record });
    }
    return sessions;
  }

  async findBySid(sidHash: string): Promise<SessionRef[]> {
    const sidPartition = sidIndexPartition(sidHash);
    if (sidPartition === undefined) return [];
    return this.guard(async () => {
      const refs: SessionRef[] = [];
      const rows = this.client.listEntities<SidIndexEntity>({
        queryOptions: { filter: odata`PartitionKey eq ${sidPartition}`, select: ['RowKey', 'homeAccountId'] },
      });
      try {
        for await (const row of rows) {
          if (typeof row.homeAccountId === 'string' && isHomeAccountId(row.homeAccountId) && row.rowKey?.startsWith(ROW_PREFIX)) {
            refs.push({ homeAccountId: row.homeAccountId, idHash: row.rowKey.slice(ROW_PREFIX.length) });
          }
        }
      } catch (error) {
        if (statusOf(error) !== 404) throw error; // no table yet
      }
      return refs;
    });
  }

  async touch(ref: SessionRef, lastSeenAt: number, idleExpiresAt: number): Promise<void> {
    await this.guard(async () => {
      await this.expiryIndex.note(keysOf(ref).partitionKey, idleExpiresAt);
      try {
        await this.client.updateEntity({ ...keysOf(ref), lastSeenAt: new Date(lastSeenAt), idleExpiresAt: new Date(idleExpiresAt) }, 'Merge', { etag: '*' });
      } catch (error) {
        // Signed out meanwhile: nothing to slide.
        if (statusOf(error) !== 404) throw error;
      }
    });
  }

  /**
   * Deletes the session and its front-channel row, which only the session row names (its sidHash):
   * one point read first, so a sign-out leaves no sid row behind for the sweep to never find.
   */
  async delete(ref: SessionRef, known?: Pick<SessionRecord, 'sidHash'>): Promise<void> {
    await this.guard(async () => {
      const row = known ?? (await this.readRow<{ sidHash?: unknown }>(ref, ['sidHash']));
      if (row === undefined) return; // already gone, and its sid row with it
      const { partitionKey, rowKey } = keysOf(ref);
      await this.deleteIgnoringMissing(partitionKey, rowKey);
      const sidPartition = sidIndexPartition(row.sidHash);
      if (sidPartition !== undefined) await this.deleteIgnoringMissing(sidPartition, rowKey);
    });
  }

  async countLiveForAccount(homeAccountId: string, now: number): Promise<number> {
    return this.guard(async () => {
      let count = 0;
      const rows = this.client.listEntities({
        // Idle-expired sessions can never be used again (sessions.ts refuses them), so they do not
        // keep the account's tokens, even before the sweep deletes them.
        queryOptions: {
          filter: `${sessionRowsOf(partitionKeyOf(homeAccountId))} and ${odata`absoluteExpiresAt gt ${new Date(now)} and idleExpiresAt gt ${new Date(now)}`}`,
          select: ['RowKey'],
        },
      });
      for await (const _row of rows) count++;
      return count;
    });
  }

  async deleteAllForAccount(homeAccountId: string): Promise<number> {
    return this.guard(async () => {
      const partitionKey = partitionKeyOf(homeAccountId);
      const rowKeys: string[] = [];
      const sidIndex: { partitionKey: string; rowKey: string }[] = [];
      for await (const row of this.client.listEntities<{ sidHash?: string }>({ queryOptions: { filter: sessionRowsOf(partitionKey), select: ['RowKey', 'sidHash'] } })) {
        rowKeys.push(row.rowKey!);
        const sidPartition = sidIndexPartition(row.sidHash);
        if (sidPartition !== undefined) sidIndex.push({ partitionKey: sidPartition, rowKey: row.rowKey! });
      }
      // The front-channel index rows go too: nothing of the account stays behind.
      for (const index of sidIndex) await this.deleteIgnoringMissing(index.partitionKey, index.rowKey);
      for (let i = 0; i < rowKeys.length; i += MAX_TRANSACTION_OPS) {
        const batch = rowKeys.slice(i, i + MAX_TRANSACTION_OPS);
        if (batch.length === 1) await this.deleteIgnoringMissing(partitionKey, batch[0]!);
        else await this.deleteBatch(partitionKey, batch);
      }
      return rowKeys.length;
    });
  }

  /** Reads only the accounts the expiry index names (session-sweep.ts), bounded by maxRows. */
  async sweepExpired(now: number, maxRows: number): Promise<number> {
    return this.guard(() => sweepSessions(this.client, this.expiryIndex, { from: ROW_PREFIX, to: ROWS_END }, now, maxRows));
  }

  /** One query for the session row and the token cache's rows; the cache gets its rows, we keep ours. */
  private async getWithTokenCache(ref: SessionRef, { from, to }: TokenCacheRowsSink['rowKeyRange'], receiver: TokenCacheRowsReceiver): Promise<SessionRecord | undefined> {
    const { partitionKey, rowKey } = keysOf(ref);
    const rows = await this.guard(async () => {
      try {
        // The client's pipeline without its generated-client layer: a first visit's CPU (table-query.ts).
        return await queryEntities(this.client, odata`PartitionKey eq ${partitionKey} and (RowKey eq ${rowKey} or (RowKey ge ${from} and RowKey lt ${to}))`);
      } catch (error) {
        if (statusOf(error) !== 404) throw error; // no table yet: nobody signed in
        return [];
      }
    });
    const session = rows.find((row) => row.rowKey === rowKey);
    await receiver(session ? rows.filter((row) => row !== session) : rows);
    return session ? toRecord(this.options.keyRing, session as unknown as SessionEntity) : undefined;
  }

  /** The session's row (only the `select`ed properties, when given), or undefined when there is none. */
  private async readRow<T extends object>(ref: SessionRef, select?: string[]): Promise<TableEntityResult<T> | undefined> {
    const { partitionKey, rowKey } = keysOf(ref);
    try {
      return await this.client.getEntity<T>(partitionKey, rowKey, select ? { queryOptions: { select } } : {});
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  private async deleteBatch(partitionKey: string, rowKeys: readonly string[]): Promise<void> {
    try {
      await this.client.submitTransaction(rowKeys.map((rowKey): TransactionAction => ['delete', { partitionKey, rowKey }]));
    } catch (error) {
      // One row vanished meanwhile (a sign-out, the sweep) and the batch failed whole: go one by one.
      if (statusOf(error) !== 404) throw error;
      for (const rowKey of rowKeys) await this.deleteIgnoringMissing(partitionKey, rowKey);
    }
  }

  private async deleteIgnoringMissing(partitionKey: string, rowKey: string): Promise<void> {
    try {
      await this.client.deleteEntity(partitionKey, rowKey);
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
  }

  private async guard<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw storageUnavailable(error);
    }
  }
}

function sessionRowsOf(partitionKey: string): string {
  return odata`PartitionKey eq ${partitionKey} and RowKey gt ${ROW_PREFIX} and RowKey lt ${ROWS_END}`;
}
