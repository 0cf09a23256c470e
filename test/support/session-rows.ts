/**
 * Session records and rows for the Table Storage tests of sessions and of the expiry index: a new
 * account, a session of it (Adele's name, 14 days idle, 90 days absolute), a device's ref, and the
 * row keys of the account's partition as Azurite holds them.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { odata, type TableClient } from '@azure/data-tables';
import type { SessionRecord, SessionRef } from '../../src/auth/session-store';
import { partitionKeyOf } from '../../src/cache/token-cache-store';

const DAY = 24 * 3_600_000;

/** A homeAccountId (`<oid>.<tid>`) nobody else uses. */
export function newAccount(): string {
  return `${randomUUID()}.${randomUUID()}`;
}

export function sessionRecord(homeAccountId: string, now = Date.now(), overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    homeAccountId,
    name: 'Adele Vance',
    username: 'adele@contoso.test',
    tenantId: homeAccountId.split('.')[1]!,
    createdAt: now,
    lastSeenAt: now,
    idleExpiresAt: now + 14 * DAY,
    absoluteExpiresAt: now + 90 * DAY,
    ...overrides,
  };
}

/** A new device of the account. */
export function sessionRef(homeAccountId: string): SessionRef {
  return { homeAccountId, idHash: randomBytes(32).toString('hex') };
}

/** The row keys in the account's partition, sorted. */
export async function rowKeysOf(client: TableClient, homeAccountId: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const row of client.listEntities({ queryOptions: { filter: odata`PartitionKey eq ${partitionKeyOf(homeAccountId)}`, select: ['RowKey'] } })) {
    keys.push(row.rowKey!);
  }
  return keys.sort();
}
