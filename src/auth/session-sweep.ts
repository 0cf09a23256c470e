/**
 * The session sweep, driven by the expiry index (src/storage/expiry-index.ts): it reads only the
 * accounts the index names for days already past, re-checks each session's idle and absolute
 * expiry there, and deletes an expired session only if its ETag is unchanged (a session that slid
 * forward since stays; its writer indexed its new day). Kept apart from session-store.ts, which
 * only notes the index before it writes.
 */
import { odata, type TableClient } from '@azure/data-tables';
import { ExpiryIndex, type LegacyScan, type PartitionSweep } from '../storage/expiry-index';
import { deleteIfUnchanged } from '../storage/tables';
import { sidIndexPartition } from './session-row';

/** Session row keys sort inside (from, to). */
export interface SessionRowRange {
  readonly from: string;
  readonly to: string;
}

export function sessionExpiryIndex(client: TableClient, options: { readonly clock?: () => number; readonly ensureTable?: () => Promise<void> }): ExpiryIndex {
  return new ExpiryIndex({ client, kind: 'session', ...(options.clock ? { clock: options.clock } : {}), ...(options.ensureTable ? { ensureTable: options.ensureTable } : {}) });
}

/** A session expires at the earlier of its idle and absolute expiry: the day the index notes. */
export function sessionExpiry(record: { readonly idleExpiresAt: number; readonly absoluteExpiresAt: number }): number {
  return Math.min(record.idleExpiresAt, record.absoluteExpiresAt);
}

/** Deletes up to `maxRows` expired sessions of the accounts the index names; returns the count. */
export async function sweepSessions(client: TableClient, index: ExpiryIndex, rows: SessionRowRange, now: number, maxRows: number): Promise<number> {
  const legacy: LegacyScan = {
    filter: odata`RowKey gt ${rows.from} and RowKey lt ${rows.to}`,
    select: ['PartitionKey', 'idleExpiresAt', 'absoluteExpiresAt'],
    expiryOf: (row) => {
      const idle = new Date(row['idleExpiresAt'] as Date).getTime();
      const absolute = new Date(row['absoluteExpiresAt'] as Date).getTime();
      const expiry = Math.min(idle, absolute);
      return Number.isFinite(expiry) ? expiry : undefined;
    },
  };
  const swept = await index.sweep({ now, maxRows, legacy, visit: (partition, budget) => sweepPartition(client, rows, partition, now, budget) });
  return swept.rows;
}

async function sweepPartition(client: TableClient, rows: SessionRowRange, partition: string, now: number, budget: number): Promise<PartitionSweep> {
  const expired = client.listEntities({
    queryOptions: {
      filter: odata`PartitionKey eq ${partition} and RowKey gt ${rows.from} and RowKey lt ${rows.to} and (idleExpiresAt lt ${new Date(now)} or absoluteExpiresAt lt ${new Date(now)})`,
      select: ['RowKey', 'sidHash'],
    },
  });
  let deleted = 0;
  for await (const row of expired) {
    if (deleted >= budget) return { rows: deleted, partitions: 0, complete: false };
    if (await deleteIfUnchanged(client, partition, row.rowKey!, row.etag)) {
      deleted += 1;
      // The session's front-channel row (session-store.ts) goes with it: it is not indexed itself.
      const sidPartition = sidIndexPartition(row['sidHash']);
      if (sidPartition !== undefined && (await deleteIfUnchanged(client, sidPartition, row.rowKey!, '*'))) deleted += 1;
    }
  }
  return { rows: deleted, partitions: 0, complete: true };
}
