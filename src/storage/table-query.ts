/**
 * One entity query through the Table client's own HTTP pipeline, without its generated-client
 * layer: the request is the one `TableClient.listEntities` sends (same URL, headers, API version),
 * signed, retried, traced and logged by the same pipeline policies; only the operation-spec
 * serialization, the response mappers and the paging iterators are skipped. The session read of a
 * first visit (session-store.ts) uses it: that layer was a third of its CPU on the server thread
 * (issue 19).
 *
 * Entities come back as `listEntities` gives them (`partitionKey`, `rowKey`, `etag`, `timestamp`;
 * Edm.Binary as bytes, Edm.DateTime as Date, Edm.Int64 as bigint, Edm.Guid as `{ value, type }`),
 * every page followed; a failure is a RestError with the status, as the client throws.
 */
import { createDefaultHttpClient, createPipelineRequest, createHttpHeaders, RestError, type HttpClient, type PipelineResponse } from '@azure/core-rest-pipeline';
import type { TableClient, TableEntityResult } from '@azure/data-tables';

/** The API version and OData format `TableClient` speaks (its generated client's defaults). */
const HEADERS = {
  accept: 'application/json;odata=minimalmetadata',
  dataserviceversion: '3.0',
  'x-ms-version': '2019-02-02',
} as const;

const PROPERTY_NAMES = new Map([
  ['PartitionKey', 'partitionKey'],
  ['RowKey', 'rowKey'],
  ['odata.etag', 'etag'],
  ['Timestamp', 'timestamp'],
]);

type Entity = TableEntityResult<Record<string, unknown>>;

let fallbackHttpClient: HttpClient | undefined;

/** The client's own HTTP client (its keep-alive connections), or one of our own where this SDK version keeps it elsewhere. */
function httpClientOf(client: TableClient): HttpClient {
  const own = (client as unknown as { generatedClient?: { _httpClient?: HttpClient } }).generatedClient?._httpClient;
  return own ?? (fallbackHttpClient ??= createDefaultHttpClient());
}

/** All entities matching `filter` (an odata`` string), every page. */
export async function queryEntities(client: TableClient, filter: string): Promise<Entity[]> {
  const found: Entity[] = [];
  let next: { partitionKey: string; rowKey: string | undefined } | undefined;
  do {
    let query = `()?$filter=${encodeURIComponent(filter)}`;
    if (next) {
      query += `&NextPartitionKey=${encodeURIComponent(next.partitionKey)}`;
      if (next.rowKey !== undefined) query += `&NextRowKey=${encodeURIComponent(next.rowKey)}`;
    }
    const response = await get(client, query, 'query');
    const body = JSON.parse(response.bodyAsText ?? '{}') as { value?: Record<string, unknown>[] };
    for (const raw of body.value ?? []) found.push(toEntity(raw));
    const partitionKey = response.headers.get('x-ms-continuation-nextpartitionkey');
    next = partitionKey ? { partitionKey, rowKey: response.headers.get('x-ms-continuation-nextrowkey') } : undefined;
  } while (next);
  return found;
}

/**
 * Whether the entity with these keys exists: a point read selecting the row key alone, through the
 * same pipeline (`TableClient.getEntity`'s request, without its generated-client layer).
 */
export async function entityExists(client: TableClient, partitionKey: string, rowKey: string): Promise<boolean> {
  const key = (value: string): string => encodeURIComponent(value.replace(/'/g, "''"));
  const response = await get(client, `(PartitionKey='${key(partitionKey)}',RowKey='${key(rowKey)}')?$select=RowKey`, 'read', true);
  return response.status !== 404;
}

/**
 * GET `<table URL><path>` through the client's pipeline; a status other than 2xx (or 404, when
 * `notFoundAnswers`) throws a RestError with it, as the client does.
 */
async function get(client: TableClient, path: string, what: 'query' | 'read', notFoundAnswers = false): Promise<PipelineResponse> {
  const url = `${client.url.replace(/\/$/, '')}/${encodeURIComponent(client.tableName)}${path}`;
  const request = createPipelineRequest({ url, method: 'GET', headers: createHttpHeaders(HEADERS), allowInsecureConnection: url.startsWith('http:') });
  const response = await client.pipeline.sendRequest(httpClientOf(client), request);
  if ((response.status < 200 || response.status >= 300) && !(notFoundAnswers && response.status === 404)) {
    throw new RestError(`Table ${what} answered ${response.status}`, { statusCode: response.status, request, response });
  }
  return response;
}

function toEntity(raw: Record<string, unknown>): Entity {
  const entity: Record<string, unknown> = {};
  for (const key of Object.keys(raw)) {
    if (key.includes('@odata.type')) continue;
    const type = raw[`${key}@odata.type`];
    entity[PROPERTY_NAMES.get(key) ?? key] = type === undefined ? raw[key] : typed(raw[key], type);
  }
  return entity as Entity;
}

function typed(value: unknown, type: unknown): unknown {
  switch (type) {
    case 'Edm.Binary':
      return Buffer.from(String(value), 'base64');
    case 'Edm.DateTime':
      return new Date(String(value));
    case 'Edm.Int64':
      return BigInt(String(value));
    case 'Edm.Guid':
      return { value, type: 'Guid' };
    case 'Edm.Boolean':
    case 'Edm.Double':
    case 'Edm.Int32':
    case 'Edm.String':
      return value;
    default:
      throw new Error(`Unknown EDM type ${String(type)}`);
  }
}
