/**
 * src/storage/table-query.ts against a local HTTP server that answers as Table Storage does: the
 * request it sends (signed by the client's pipeline), continuation pages, EDM types, and errors.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { odata, TableClient } from '@azure/data-tables';
import { queryEntities } from '../../src/storage/table-query';
import { statusOf } from '../../src/storage/tables';

const KEY = Buffer.alloc(32, 7).toString('base64');

describe('queryEntities', () => {
  let server: Server;
  let client: TableClient;
  const seen: { url: string; headers: IncomingMessage['headers'] }[] = [];
  let answer: (request: IncomingMessage) => { status: number; headers?: Record<string, string>; body: unknown };

  beforeAll(async () => {
    server = createServer((request, response) => {
      seen.push({ url: request.url!, headers: request.headers });
      const { status, headers, body } = answer(request);
      response.writeHead(status, { 'content-type': 'application/json;odata=minimalmetadata', ...headers });
      response.end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    client = TableClient.fromConnectionString(`DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=${KEY};TableEndpoint=http://127.0.0.1:${port}/acct;`, 'accounts', {
      allowInsecureConnection: true,
      retryOptions: { maxRetries: 0 },
    });
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  beforeEach(() => {
    seen.length = 0;
  });

  it('sends the query listEntities sends, follows every page and converts the EDM types as listEntities does', async () => {
    answer = (request) =>
      request.url!.includes('NextPartitionKey=')
        ? { status: 200, body: { value: [{ 'odata.etag': 'W/"2"', PartitionKey: 'p', RowKey: 'session-1', Timestamp: '2026-01-01T00:00:00Z', name: 'n', n: 3 }] } }
        : {
            status: 200,
            headers: { 'x-ms-continuation-NextPartitionKey': 'p', 'x-ms-continuation-NextRowKey': 'session-1' },
            body: {
              value: [
                {
                  'odata.etag': 'W/"1"',
                  PartitionKey: 'p',
                  RowKey: 'cache',
                  'd0@odata.type': 'Edm.Binary',
                  d0: Buffer.from('bytes').toString('base64'),
                  'at@odata.type': 'Edm.DateTime',
                  at: '2026-02-03T04:05:06.000Z',
                  'big@odata.type': 'Edm.Int64',
                  big: '9007199254740993',
                  'id@odata.type': 'Edm.Guid',
                  id: '00000000-0000-0000-0000-000000000001',
                  ok: true,
                },
              ],
            },
          };
    const rows = await queryEntities(client, odata`PartitionKey eq ${'p'} and RowKey ge ${'cache'}`);

    expect(rows).toEqual([
      {
        etag: 'W/"1"',
        partitionKey: 'p',
        rowKey: 'cache',
        d0: Buffer.from('bytes'),
        at: new Date('2026-02-03T04:05:06.000Z'),
        big: 9007199254740993n,
        id: { value: '00000000-0000-0000-0000-000000000001', type: 'Guid' },
        ok: true,
      },
      { etag: 'W/"2"', partitionKey: 'p', rowKey: 'session-1', timestamp: '2026-01-01T00:00:00Z', name: 'n', n: 3 },
    ]);
    const sent = seen.map((s) => new URL(s.url, 'http://host'));
    expect(sent.map((u) => [u.pathname, Object.fromEntries(u.searchParams)])).toEqual([
      ['/acct/accounts()', { $filter: "PartitionKey eq 'p' and RowKey ge 'cache'" }],
      ['/acct/accounts()', { $filter: "PartitionKey eq 'p' and RowKey ge 'cache'", NextPartitionKey: 'p', NextRowKey: 'session-1' }],
    ]);
    for (const { headers } of seen) {
      expect(headers).toMatchObject({ accept: 'application/json;odata=minimalmetadata', dataserviceversion: '3.0', 'x-ms-version': '2019-02-02' });
      expect(headers['authorization']).toMatch(/^SharedKeyLite acct:/);
    }
  });

  it('throws what the client throws on a refusal: an error with the status', async () => {
    answer = () => ({ status: 404, body: { 'odata.error': { code: 'TableNotFound', message: { value: 'The table specified does not exist.' } } } });
    const error = await queryEntities(client, odata`PartitionKey eq ${'p'}`).catch((e: unknown) => e);
    expect(statusOf(error)).toBe(404);
  });
});
