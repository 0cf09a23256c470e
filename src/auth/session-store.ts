/**
 * Server-side sessions in Table Storage. The browser holds a random 256-bit id; storage holds only
 * its SHA-256 hash, so a leaked table cannot be replayed as cookies.
 *
 * Layout (table `sessions`):
 *  - `s-<hash(id)>` / `session`: the session itself.
 *  - `a-<hash(homeAccountId)>` / `<hash(id)>`: an index row, so "sign me out everywhere" and
 *    "forget me" can find every session of one account without a table scan.
 */
import { createHash } from 'node:crypto';
import { odata, type TableClient } from '@azure/data-tables';
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

export interface SessionStore {
  create(idHash: string, record: SessionRecord): Promise<void>;
  get(idHash: string): Promise<SessionRecord | undefined>;
  touch(idHash: string, lastSeenAt: number, idleExpiresAt: number): Promise<void>;
  delete(idHash: string): Promise<void>;
  /** How many sessions of the account have not reached their absolute expiry. */
  countLiveForAccount(homeAccountId: string, now: number): Promise<number>;
  /** Deletes every session of the account; returns how many there were. */
  deleteAllForAccount(homeAccountId: string): Promise<number>;
  /** Deletes up to `maxRows` sessions whose idle or absolute expiry is past; returns the count. */
  sweepExpired(now: number, maxRows: number): Promise<number>;
}

export function hashSessionId(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

function accountPartition(homeAccountId: string): string {
  return `a-${createHash('sha256').update(homeAccountId).digest('hex')}`;
}

const SESSION_ROW = 'session';

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

function toEntity(idHash: string, record: SessionRecord): SessionEntity {
  return {
    partitionKey: `s-${idHash}`,
    rowKey: SESSION_ROW,
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

export class TableSessionStore implements SessionStore {
  constructor(
    private readonly client: TableClient,
    private readonly ensureTable: () => Promise<void> = async () => {},
  ) {}

  async create(idHash: string, record: SessionRecord): Promise<void> {
    await this.guard(async () => {
      await this.ensureTable();
      // Index first: a session row without its index could not be found by "forget me".
      await this.client.upsertEntity(
        { partitionKey: accountPartition(record.homeAccountId), rowKey: idHash, absoluteExpiresAt: new Date(record.absoluteExpiresAt) },
        'Replace',
      );
      await this.client.createEntity<SessionEntity>(toEntity(idHash, record));
    });
  }

  async get(idHash: string): Promise<SessionRecord | undefined> {
    return this.guard(async () => {
      try {
        const entity = await this.client.getEntity<SessionEntity>(`s-${idHash}`, SESSION_ROW);
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
      } catch (error) {
        if (statusOf(error) === 404) return undefined;
        throw error;
      }
    });
  }

  async touch(idHash: string, lastSeenAt: number, idleExpiresAt: number): Promise<void> {
    await this.guard(async () => {
      try {
        await this.client.updateEntity({ partitionKey: `s-${idHash}`, rowKey: SESSION_ROW, lastSeenAt: new Date(lastSeenAt), idleExpiresAt: new Date(idleExpiresAt) }, 'Merge', { etag: '*' });
      } catch (error) {
        // Signed out meanwhile: nothing to slide.
        if (statusOf(error) !== 404) throw error;
      }
    });
  }

  async delete(idHash: string): Promise<void> {
    await this.guard(async () => {
      const record = await this.get(idHash);
      await this.deleteIgnoringMissing(`s-${idHash}`, SESSION_ROW);
      if (record) await this.deleteIgnoringMissing(accountPartition(record.homeAccountId), idHash);
    });
  }

  async countLiveForAccount(homeAccountId: string, now: number): Promise<number> {
    return this.guard(async () => {
      let count = 0;
      const rows = this.client.listEntities<{ absoluteExpiresAt: Date }>({
        queryOptions: { filter: odata`PartitionKey eq ${accountPartition(homeAccountId)} and absoluteExpiresAt gt ${new Date(now)}`, select: ['RowKey'] },
      });
      for await (const _row of rows) count++;
      return count;
    });
  }

  async deleteAllForAccount(homeAccountId: string): Promise<number> {
    return this.guard(async () => {
      const partition = accountPartition(homeAccountId);
      let count = 0;
      const entities = this.client.listEntities<{ rowKey: string }>({
        queryOptions: { filter: odata`PartitionKey eq ${partition}`, select: ['RowKey'] },
      });
      for await (const entity of entities) {
        await this.deleteIgnoringMissing(`s-${entity.rowKey}`, SESSION_ROW);
        await this.deleteIgnoringMissing(partition, entity.rowKey);
        count++;
      }
      return count;
    });
  }

  async sweepExpired(now: number, maxRows: number): Promise<number> {
    return this.guard(async () => {
      let count = 0;
      const expired = this.client.listEntities<SessionEntity>({
        queryOptions: {
          filter: odata`RowKey eq ${SESSION_ROW} and (idleExpiresAt lt ${new Date(now)} or absoluteExpiresAt lt ${new Date(now)})`,
          select: ['PartitionKey', 'homeAccountId'],
        },
      });
      for await (const entity of expired) {
        if (count >= maxRows) break;
        const idHash = entity.partitionKey.slice(2);
        await this.deleteIgnoringMissing(entity.partitionKey, SESSION_ROW);
        await this.deleteIgnoringMissing(accountPartition(entity.homeAccountId), idHash);
        count++;
      }
      return count;
    });
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
