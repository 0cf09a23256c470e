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
 */
import { createHash } from 'node:crypto';
import { odata, type TableClient, type TableEntityResult, type TransactionAction } from '@azure/data-tables';
import { partitionKeyOf } from '../cache/token-cache-store';
import { queryEntities } from '../storage/table-query';
import { statusOf, storageUnavailable } from '../storage/tables';

export interface SessionRecord {
  readonly homeAccountId: string;
  readonly name: string;
  readonly username: string;
  readonly tenantId: string;
  /** The ID token's login_hint claim, sent back to Entra at sign-out so it skips the account picker. */
  readonly logoutHint?: string;
  readonly createdAt: number;
  readonly lastSeenAt: number;
  readonly idleExpiresAt: number;
  readonly absoluteExpiresAt: number;
}

/** Where a session lives: its account and the hash of its id. */
export interface SessionRef {
  readonly homeAccountId: string;
  readonly idHash: string;
}

export interface SessionStore {
  create(ref: SessionRef, record: SessionRecord): Promise<void>;
  get(ref: SessionRef): Promise<SessionRecord | undefined>;
  touch(ref: SessionRef, lastSeenAt: number, idleExpiresAt: number): Promise<void>;
  delete(ref: SessionRef): Promise<void>;
  /** How many sessions of the account have reached neither their idle nor their absolute expiry. */
  countLiveForAccount(homeAccountId: string, now: number): Promise<number>;
  /** Deletes every session of the account; returns how many there were. */
  deleteAllForAccount(homeAccountId: string): Promise<number>;
  /** Deletes up to `maxRows` sessions whose idle or absolute expiry is past; returns the count. */
  sweepExpired(now: number, maxRows: number): Promise<number>;
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

/** Times are stored as DateTime so the sweep can filter on them server-side. */
interface SessionEntity {
  partitionKey: string;
  rowKey: string;
  homeAccountId: string;
  name: string;
  username: string;
  tenantId: string;
  logoutHint?: string;
  createdAt: Date;
  lastSeenAt: Date;
  idleExpiresAt: Date;
  absoluteExpiresAt: Date;
}

function keysOf(ref: SessionRef): { partitionKey: string; rowKey: string } {
  return { partitionKey: partitionKeyOf(ref.homeAccountId), rowKey: `${ROW_PREFIX}${ref.idHash}` };
}

function toEntity(ref: SessionRef, record: SessionRecord): SessionEntity {
  return {
    ...keysOf(ref),
    homeAccountId: record.homeAccountId,
    name: record.name,
    username: record.username,
    tenantId: record.tenantId,
    ...(record.logoutHint ? { logoutHint: record.logoutHint } : {}),
    createdAt: new Date(record.createdAt),
    lastSeenAt: new Date(record.lastSeenAt),
    idleExpiresAt: new Date(record.idleExpiresAt),
    absoluteExpiresAt: new Date(record.absoluteExpiresAt),
  };
}

function toRecord(entity: SessionEntity): SessionRecord {
  return {
    homeAccountId: entity.homeAccountId,
    name: entity.name,
    username: entity.username,
    tenantId: entity.tenantId,
    ...(entity.logoutHint ? { logoutHint: entity.logoutHint } : {}),
    createdAt: new Date(entity.createdAt).getTime(),
    lastSeenAt: new Date(entity.lastSeenAt).getTime(),
    idleExpiresAt: new Date(entity.idleExpiresAt).getTime(),
    absoluteExpiresAt: new Date(entity.absoluteExpiresAt).getTime(),
  };
}

export class TableSessionStore implements SessionStore {
  constructor(
    private readonly client: TableClient,
    private readonly options: {
      readonly ensureTable?: () => Promise<void>;
      /** The token cache, when it wants its rows read along with the session. */
      readonly tokenCacheRows?: TokenCacheRowsSink;
    } = {},
  ) {}

  async create(ref: SessionRef, record: SessionRecord): Promise<void> {
    await this.guard(async () => {
      await this.options.ensureTable?.();
      await this.client.createEntity<SessionEntity>(toEntity(ref, record));
    });
  }

  async get(ref: SessionRef): Promise<SessionRecord | undefined> {
    const sink = this.options.tokenCacheRows;
    const receiver = sink?.receiverFor(ref.homeAccountId);
    if (sink && receiver) return this.getWithTokenCache(ref, sink.rowKeyRange, receiver);
    return this.guard(async () => {
      const { partitionKey, rowKey } = keysOf(ref);
      try {
        return toRecord(await this.client.getEntity<SessionEntity>(partitionKey, rowKey));
      } catch (error) {
        if (statusOf(error) === 404) return undefined;
        throw error;
      }
    });
  }

  async touch(ref: SessionRef, lastSeenAt: number, idleExpiresAt: number): Promise<void> {
    await this.guard(async () => {
      try {
        await this.client.updateEntity({ ...keysOf(ref), lastSeenAt: new Date(lastSeenAt), idleExpiresAt: new Date(idleExpiresAt) }, 'Merge', { etag: '*' });
      } catch (error) {
        // Signed out meanwhile: nothing to slide.
        if (statusOf(error) !== 404) throw error;
      }
    });
  }

  async delete(ref: SessionRef): Promise<void> {
    await this.guard(async () => {
      const { partitionKey, rowKey } = keysOf(ref);
      await this.deleteIgnoringMissing(partitionKey, rowKey);
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
      for await (const row of this.client.listEntities({ queryOptions: { filter: sessionRowsOf(partitionKey), select: ['RowKey'] } })) {
        rowKeys.push(row.rowKey!);
      }
      for (let i = 0; i < rowKeys.length; i += MAX_TRANSACTION_OPS) {
        const batch = rowKeys.slice(i, i + MAX_TRANSACTION_OPS);
        if (batch.length === 1) await this.deleteIgnoringMissing(partitionKey, batch[0]!);
        else await this.deleteBatch(partitionKey, batch);
      }
      return rowKeys.length;
    });
  }

  /** A scan on non-key properties: fine for a timer-triggered job, bounded by maxRows. */
  async sweepExpired(now: number, maxRows: number): Promise<number> {
    return this.guard(async () => {
      let count = 0;
      const expired = this.client.listEntities<SessionEntity>({
        queryOptions: {
          filter: odata`RowKey gt ${ROW_PREFIX} and RowKey lt ${ROWS_END} and (idleExpiresAt lt ${new Date(now)} or absoluteExpiresAt lt ${new Date(now)})`,
          select: ['PartitionKey', 'RowKey'],
        },
      });
      try {
        for await (const entity of expired) {
          if (count >= maxRows) break;
          // Conditional: a session slid forward since the query saw it stays.
          if (await this.deleteIfUnchanged(entity.partitionKey, entity.rowKey, entity.etag)) count++;
        }
      } catch (error) {
        if (statusOf(error) === 404) return count; // no table yet
        throw error;
      }
      return count;
    });
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
    return session ? toRecord(session as unknown as SessionEntity) : undefined;
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

  private async deleteIfUnchanged(partitionKey: string, rowKey: string, etag: string): Promise<boolean> {
    try {
      await this.client.deleteEntity(partitionKey, rowKey, { etag });
      return true;
    } catch (error) {
      const status = statusOf(error);
      if (status === 412 || status === 404) return false;
      throw error;
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
