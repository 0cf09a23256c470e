/**
 * The Graph client's default transport (Node's http/https over a bounded keep-alive pool), against
 * local servers: what it sends, what it reads, its limits, and that TLS is checked.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { ensureTestCa, issueServerCertificate } from '../../emulators/tls';
import { GraphMailClient } from '../../src/graph/mail-client';
import { nodeTransport } from '../../src/graph/transport';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

interface Local {
  readonly url: URL;
  /** Remote ports of the connections the server accepted, in order. */
  readonly connections: number[];
  /** Most connections open at once. */
  peakOpen: number;
  close(): Promise<void>;
}

async function listen(server: http.Server | https.Server, scheme: 'http' | 'https'): Promise<Local> {
  const connections: number[] = [];
  let open = 0;
  const local: Local = {
    url: new URL(`${scheme}://127.0.0.1/`),
    connections,
    peakOpen: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  server.on(scheme === 'https' ? 'secureConnection' : 'connection', (socket: import('node:net').Socket) => {
    connections.push(socket.remotePort ?? 0);
    open++;
    local.peakOpen = Math.max(local.peakOpen, open);
    socket.once('close', () => open--);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  local.url.port = String((server.address() as AddressInfo).port);
  return local;
}

const servers: Local[] = [];
async function httpServer(handler: Handler): Promise<Local> {
  const local = await listen(http.createServer(handler), 'http');
  servers.push(local);
  return local;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
};

describe('nodeTransport', () => {
  it('sends the headers it is given, asks for no compression, and reads status, headers and JSON', async () => {
    let seen: http.IncomingHttpHeaders = {};
    const server = await httpServer((req, res) => {
      seen = req.headers;
      json(res, 200, { value: ['مرحبا', 1] }, { 'Request-Id': 'r-1' });
    });
    const answer = await nodeTransport()(new URL('/v1.0/me/messages?$top=1', server.url), { Authorization: 'Bearer t', Accept: 'application/json' }, 5000);
    expect(answer.status).toBe(200);
    expect(answer.header('request-id')).toBe('r-1');
    expect(answer.header('REQUEST-ID')).toBe('r-1');
    expect(answer.header('retry-after')).toBeNull();
    await expect(answer.json()).resolves.toEqual({ value: ['مرحبا', 1] });
    expect(seen['authorization']).toBe('Bearer t');
    expect(seen['accept-encoding']).toBe('identity');
  });

  it('reuses one keep-alive connection for calls one after another', async () => {
    const server = await httpServer((_req, res) => json(res, 200, {}));
    const transport = nodeTransport();
    for (let i = 0; i < 3; i++) await (await transport(server.url, {}, 5000)).json();
    expect(server.connections).toHaveLength(1);
  });

  it('opens at most maxSockets connections; further calls wait for one', async () => {
    const server = await httpServer((_req, res) => setTimeout(() => json(res, 200, {}), 20));
    const transport = nodeTransport({ maxSockets: 2 });
    await Promise.all(Array.from({ length: 6 }, async () => (await transport(server.url, {}, 5000)).json()));
    expect(server.peakOpen).toBe(2);
    expect(server.connections).toHaveLength(2);
  });

  it('closes idle connections after idleTimeoutMs', async () => {
    const server = await httpServer((_req, res) => json(res, 200, {}));
    const transport = nodeTransport({ idleTimeoutMs: 50 });
    await (await transport(server.url, {}, 5000)).json();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await (await transport(server.url, {}, 5000)).json();
    expect(server.connections).toHaveLength(2);
  });

  it('gives up when the whole exchange takes longer than the timeout, headers or body', async () => {
    const slowHeaders = await httpServer((req, res) => {
      const timer = setTimeout(() => json(res, 200, {}), 2000);
      req.socket.once('close', () => clearTimeout(timer));
    });
    await expect(nodeTransport()(slowHeaders.url, {}, 100)).rejects.toMatchObject({ name: 'TimeoutError' });

    const slowBody = await httpServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '20' });
      res.write('{"value":');
    });
    const answer = await nodeTransport()(slowBody.url, {}, 100);
    await expect(answer.json()).rejects.toMatchObject({ name: 'TimeoutError' });
  });

  it('refuses a cut, oversized, garbled or compressed body', async () => {
    const cut = await httpServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '100' });
      res.write('{"value":[');
      setTimeout(() => req.socket.destroy(), 10);
    });
    await expect((await nodeTransport()(cut.url, {}, 5000)).json()).rejects.toThrow();

    const big = await httpServer((_req, res) => json(res, 200, { value: 'x'.repeat(5000) }));
    await expect((await nodeTransport({ maxBodyBytes: 1000 })(big.url, {}, 5000)).json()).rejects.toThrow(/limit/);

    const bigChunked = await httpServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      for (let i = 0; i < 10; i++) res.write('x'.repeat(500));
      res.end();
    });
    await expect((await nodeTransport({ maxBodyBytes: 1000 })(bigChunked.url, {}, 5000)).json()).rejects.toThrow(/limit/);

    const garbled = await httpServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"value": [');
    });
    await expect((await nodeTransport()(garbled.url, {}, 5000)).json()).rejects.toThrow(SyntaxError);

    const gzipped = await httpServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
      res.end(gzipSync('{}'));
    });
    await expect((await nodeTransport()(gzipped.url, {}, 5000)).json()).rejects.toThrow(/content-encoding/);
  });

  it('drops a body unread and keeps the connection for the next call', async () => {
    let calls = 0;
    const server = await httpServer((_req, res) => (++calls === 1 ? json(res, 503, { error: { code: 'busy' } }, { 'Retry-After': '1' }) : json(res, 200, { ok: true })));
    const transport = nodeTransport();
    const first = await transport(server.url, {}, 5000);
    expect(first.status).toBe(503);
    expect(first.header('retry-after')).toBe('1');
    await first.discard();
    await expect((await transport(server.url, {}, 5000)).json()).resolves.toEqual({ ok: true });
    expect(server.connections).toHaveLength(1);
  });

  it('rejects when nothing listens', async () => {
    const server = await httpServer((_req, res) => json(res, 200, {}));
    const url = new URL(server.url);
    await server.close();
    servers.splice(servers.indexOf(server), 1);
    await expect(nodeTransport()(url, {}, 5000)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  describe('over TLS', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'transport-ca-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('talks to a server whose certificate the process trusts, and refuses one it does not', async () => {
      const trustedCaFile = process.env['NODE_EXTRA_CA_CERTS'];
      if (!trustedCaFile) throw new Error('run the tests with `npm test` (NODE_EXTRA_CA_CERTS must name the test CA)');
      const trusted = issueServerCertificate(ensureTestCa(path.dirname(trustedCaFile)));
      const good = await listen(https.createServer({ cert: trusted.cert, key: trusted.key }, (_req, res) => json(res, 200, { tls: true })), 'https');
      servers.push(good);
      await expect((await nodeTransport()(good.url, {}, 5000)).json()).resolves.toEqual({ tls: true });

      const stranger = issueServerCertificate(ensureTestCa(dir));
      const bad = await listen(https.createServer({ cert: stranger.cert, key: stranger.key }, (_req, res) => json(res, 200, {})), 'https');
      servers.push(bad);
      await expect(nodeTransport()(bad.url, {}, 5000)).rejects.toMatchObject({ code: expect.stringMatching(/CERT|SIGNATURE|ISSUER/) });
    });
  });
});

describe('GraphMailClient over the default transport', () => {
  it('reads a page and retries a 503 on the same pool', async () => {
    let calls = 0;
    const server = await httpServer((req, res) => {
      if (++calls === 1) return json(res, 503, {}, { 'Retry-After': '0' });
      expect(req.url).toMatch(/^\/v1\.0\/me\/messages\?/);
      json(res, 200, { value: [{ id: 'm1', subject: 'Hi', from: { emailAddress: { name: 'A', address: 'a@example.com' } } }] });
    });
    const client = new GraphMailClient({ endpoint: server.url.href, sleep: async () => {} });
    const page = await client.listMessages('t', 'u', { top: 1, unreadOnly: true });
    expect(page.messages.map((m) => m.id)).toEqual(['m1']);
    expect(calls).toBe(2);
    expect(server.connections).toHaveLength(1);
  });

  it('surfaces Graph\'s error code and request-id from the default transport too', async () => {
    const server = await httpServer((_req, res) => json(res, 400, { error: { code: 'ErrorInvalidRequest' } }, { 'request-id': 'req-9' }));
    const client = new GraphMailClient({ endpoint: server.url.href });
    await expect(client.listMessages('t', 'u', { top: 1, unreadOnly: true })).rejects.toMatchObject({
      code: 'graph_error',
      details: { graphError: 'ErrorInvalidRequest', graphStatus: 400, requestId: 'req-9' },
    });
  });
});
