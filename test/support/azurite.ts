/**
 * Azurite for a test file: started once in beforeAll on a free port, stopped in afterAll.
 * `tableClient` builds clients with no SDK retries, so a stopped emulator fails fast.
 */
import { randomBytes } from 'node:crypto';
import { TableClient } from '@azure/data-tables';
import { startAzurite, type Azurite, type AzuriteOptions } from '../../emulators/azurite';

export interface AzuriteFixture {
  readonly azurite: Azurite;
  tableClient(table: string): TableClient;
  /** A fresh table name, so tests do not see each other's rows. */
  uniqueTable(prefix?: string): string;
}

export function useAzurite(options: AzuriteOptions = {}): () => AzuriteFixture {
  let fixture: AzuriteFixture | undefined;
  beforeAll(async () => {
    const azurite = await startAzurite(options);
    fixture = {
      azurite,
      tableClient: (table) =>
        TableClient.fromConnectionString(azurite.connectionString, table, { allowInsecureConnection: true, retryOptions: { maxRetries: 0 } }),
      uniqueTable: (prefix = 't') => `${prefix}${randomBytes(6).toString('hex')}`,
    };
  }, 60_000);
  afterAll(async () => {
    await fixture?.azurite.stop();
  }, 30_000);
  return () => {
    if (!fixture) throw new Error('Azurite is not running (call useAzurite at the top level of the file or of a describe block)');
    return fixture;
  };
}
