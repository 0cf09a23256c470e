/**
 * Sign-in transactions already spent, recorded server-side.
 *
 * Why: the transaction cookie is one-time only because the callback's response deletes it
 * (login-transaction.ts). A client that keeps the cookie (not a browser: a script) could replay it
 * with the same `state` and junk codes, and each replay reached Entra's token endpoint for as long
 * as the cookie lives (10 minutes). So before a code is redeemed, the callback inserts a row keyed
 * by the state's hash; the insert fails if the row exists, and a replay is refused without
 * contacting Entra. That costs one storage write per sign-in.
 *
 * Layout (table `accounts`, beside the per-user partitions, which are `<oid>.<tid>` and never start
 * with `txn-`): partition `txn-<first 2 hex digits of sha256(state)>`, row key the full hash, and
 * `spentUntil`, the transaction's own expiry. 256 partitions spread the sign-ins (Table Storage
 * serves about 2,000 entities/s per partition), and the sweep finds expired rows with one query on
 * that partition-key range, so it costs in proportion to the rows it deletes. The property is not
 * `expiresAt`, which the token cache's sweep looks for.
 */
import { createHash } from 'node:crypto';
import { odata, type TableClient, type TransactionAction } from '@azure/data-tables';
import { statusOf, storageUnavailable } from '../storage/tables';

const PARTITION_PREFIX = 'txn-';
/** Every partition of spent transactions sorts inside [PARTITION_PREFIX, PARTITIONS_END). */
const PARTITIONS_END = 'txn.';
const MAX_TRANSACTION_OPS = 100;

export interface SpentTransactions {
  /**
   * Records the transaction named by `state` as spent until `spentUntil` (ms since epoch). Resolves
   * false when it already was: a replay. Throws storage_unavailable when storage does not answer.
   */
  spend(state: string, spentUntil: number): Promise<boolean>;
  /** Deletes up to `maxRows` records whose transaction has expired; returns the count. */
  sweepExpired(now: number, maxRows: number): Promise<number>;
}

export function spentTransactionKeys(state: string): { partitionKey: string; rowKey: string } {
  const hash = createHash('sha256').update(state).digest('hex');
  return { partitionKey: `${PARTITION_PREFIX}${hash.slice(0, 2)}`, rowKey: hash };
}

export class TableSpentTransactions implements SpentTransactions {
  constructor(
    private readonly client: TableClient,
    private readonly options: { readonly ensureTable?: () => Promise<void> } = {},
  ) {}

  async spend(state: string, spentUntil: number): Promise<boolean> {
    try {
      await this.options.ensureTable?.();
      await this.client.createEntity({ ...spentTransactionKeys(state), spentUntil: new Date(spentUntil) });
      return true;
    } catch (error) {
      if (statusOf(error) === 409) return false;
      throw storageUnavailable(error);
    }
  }

  async sweepExpired(now: number, maxRows: number): Promise<number> {
    const byPartition = new Map<string, string[]>();
    let found = 0;
    try {
      const expired = this.client.listEntities({
        queryOptions: {
          filter: odata`PartitionKey ge ${PARTITION_PREFIX} and PartitionKey lt ${PARTITIONS_END} and spentUntil lt ${new Date(now)}`,
          select: ['PartitionKey', 'RowKey'],
        },
      });
      for await (const row of expired) {
        if (found >= maxRows) break;
        found++;
        const rows = byPartition.get(row.partitionKey!) ?? [];
        rows.push(row.rowKey!);
        byPartition.set(row.partitionKey!, rows);
      }
      let deleted = 0;
      for (const [partitionKey, rowKeys] of byPartition) {
        for (let i = 0; i < rowKeys.length; i += MAX_TRANSACTION_OPS) deleted += await this.deleteBatch(partitionKey, rowKeys.slice(i, i + MAX_TRANSACTION_OPS));
      }
      return deleted;
    } catch (error) {
      if (statusOf(error) === 404 && found === 0) return 0; // no table yet
      throw storageUnavailable(error);
    }
  }

  /** One transaction per partition; a row another sweep took meanwhile fails it whole, so then one by one. */
  private async deleteBatch(partitionKey: string, rowKeys: readonly string[]): Promise<number> {
    try {
      await this.client.submitTransaction(rowKeys.map((rowKey): TransactionAction => ['delete', { partitionKey, rowKey }]));
      return rowKeys.length;
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
    let deleted = 0;
    for (const rowKey of rowKeys) {
      try {
        await this.client.deleteEntity(partitionKey, rowKey);
        deleted++;
      } catch (error) {
        if (statusOf(error) !== 404) throw error;
      }
    }
    return deleted;
  }
}
