import { DefaultAzureCredential } from '@azure/identity';
import { RestError, TableClient } from '@azure/data-tables';
import type { Config } from '../config';
import { ErrorCode, unavailable, type AppError } from '../errors';
import { instruments } from '../telemetry/instruments';
import { clientCall } from '../telemetry/spans';

/** One partition per account: its token cache and its sessions. */
export const TABLES = { accounts: 'accounts' } as const;

/**
 * Retries are kept short: a user is waiting on the request. After them the caller answers 503 with
 * Retry-After, and the next request tries again: the app recovers by itself.
 */
const RETRY_OPTIONS = { maxRetries: 2, retryDelayInMs: 100, maxRetryDelayInMs: 1000 } as const;

/** Table Storage by managed identity (TABLES_ENDPOINT), or by connection string (Azurite). */
export function createTableClient(config: Pick<Config, 'tables' | 'managedIdentityClientId'>, table: string): TableClient {
  const { connectionString, endpoint } = config.tables;
  if (connectionString) {
    return TableClient.fromConnectionString(connectionString, table, {
      allowInsecureConnection: /TableEndpoint=http:|UseDevelopmentStorage=true/i.test(connectionString),
      retryOptions: RETRY_OPTIONS,
    });
  }
  const credential = new DefaultAzureCredential(
    config.managedIdentityClientId ? { managedIdentityClientId: config.managedIdentityClientId } : {},
  );
  return new TableClient(endpoint!, table, credential, { retryOptions: RETRY_OPTIONS });
}

export function statusOf(error: unknown): number | undefined {
  return error instanceof RestError || (typeof error === 'object' && error !== null && 'statusCode' in error)
    ? (error as { statusCode?: number }).statusCode
    : undefined;
}

/**
 * Deletes one row if it still has `etag` (If-Match); false when it changed since (412) or is gone
 * (404). Conditional deletes go one by one: the SDK's transactions send deletes without If-Match.
 */
export async function deleteIfUnchanged(client: TableClient, partitionKey: string, rowKey: string, etag: string): Promise<boolean> {
  try {
    await client.deleteEntity(partitionKey, rowKey, { etag });
    return true;
  } catch (error) {
    const status = statusOf(error);
    if (status === 412 || status === 404) return false;
    throw error;
  }
}

/** 404 is an answer; anything else that is not a 4xx means storage could not be reached or failed. */
export function storageUnavailable(error: unknown): AppError {
  return unavailable(ErrorCode.STORAGE_UNAVAILABLE, 'Storage is not answering right now. Try again in a few seconds.', error, 5);
}

/** Creates the table once per client; concurrent callers share one attempt, a failure is retried next time. */
export function ensureTable(client: TableClient): () => Promise<void> {
  let ready: Promise<void> | undefined;
  return () => {
    ready ??= client.createTable().catch((error: unknown) => {
      ready = undefined;
      throw storageUnavailable(error);
    });
    return ready;
  };
}

/** Table Storage round trips of this instance, by kind: for tests, the benchmark and metrics. */
export interface StorageTraffic {
  reads: number;
  writes: number;
}

/** Counts every HTTP request the client sends (after the SDK's retries each attempt counts). */
export function countTraffic(client: TableClient, traffic: StorageTraffic): void {
  client.pipeline.addPolicy({
    name: 'countStorageTraffic',
    sendRequest: (request, next) => {
      if (request.method === 'GET' || request.method === 'HEAD') traffic.reads++;
      else traffic.writes++;
      return next(request);
    },
  });
}

/**
 * A client span per Table Storage round trip (each attempt, after the SDK's retry policy), timed
 * into bff.storage.duration. It names the operation (read or write), the table and the host; never
 * the URL, whose path and query carry partition and row keys.
 */
export function traceStorage(client: TableClient): void {
  const host = new URL(client.url).host;
  const table = client.tableName;
  client.pipeline.addPolicy(
    {
      name: 'traceStorage',
      sendRequest: (request, next) => {
        const operation = request.method === 'GET' || request.method === 'HEAD' ? 'read' : 'write';
        return clientCall(
          `storage ${operation}`,
          { 'db.system.name': 'azure.tables', 'db.collection.name': table, 'db.operation.name': operation, 'http.request.method': request.method, 'server.address': host },
          instruments().storageDuration,
          { 'db.operation.name': operation },
          () => next(request),
          (response) => response.status,
        );
      },
    },
    { afterPhase: 'Retry' },
  );
}
