/**
 * Issue 16, findings 4 and 6, at the host: Strict-Transport-Security on every response (the route
 * table's and the host's own answers), and odd request targets or Host headers answered 400 with
 * the error JSON instead of a destroyed socket; `//x/api/logout` is never routed as /api/logout.
 */
import { connect } from 'node:net';
import type { HttpResponseInit } from '@azure/functions';
import { startLocalHost, type LocalHost } from '../../src/http/local-host';
import type { Route } from '../../src/http/route';
import { HSTS_HEADER, strictTransportSecurity } from '../../src/http/transport-security';
import { createRoutes } from '../../src/routes';

interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Sends one raw HTTP/1.1 request (fetch cannot send a malformed Host or target) and reads the answer. */
function raw(host: LocalHost, target: string, hostHeader: string, method = 'GET'): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(host.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const status = Number(statusLine.split(' ')[1]);
      if (!status) return reject(new Error(`no answer (socket closed): ${JSON.stringify(text)}`));
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status, headers, body: rest.join('\r\n\r\n') });
    });
    socket.write(`${method} ${target} HTTP/1.1\r\nHost: ${hostHeader}\r\nConnection: close\r\n\r\n`);
  });
}

describe('local host hardening', () => {
  let host: LocalHost;
  const logs: string[] = [];
  const logoutCalls: string[] = [];
  const hsts = strictTransportSecurity(true);

  beforeAll(async () => {
    const routes: Route[] = [
      ...createRoutes(() => Promise.reject(new Error('no services in this test')), { strictTransportSecurity: hsts }).filter((r) => r.name !== 'logout'),
      {
        name: 'logout',
        methods: ['GET', 'POST'],
        path: '/api/logout',
        handler: async (request): Promise<HttpResponseInit> => {
          logoutCalls.push(request.url);
          return { status: 200, body: 'logout' };
        },
      },
    ];
    host = await startLocalHost({ routes, port: 0, log: (level, fn, message) => logs.push(`${level} ${fn} ${message}`), headers: { [HSTS_HEADER]: hsts } });
  });
  afterAll(() => host.stop());

  it.each([
    ['a port with a suffix', '/api/health', 'localhost:7071.evil'],
    ['userinfo in Host', '/api/health', 'x@localhost'],
    ['a space in Host', '/api/health', 'a b'],
    ['a // target', '//api/health', 'localhost'],
    ['a //host/path target', '//x/api/logout', 'localhost'],
    ['a ///path target', '///api/logout', 'localhost'],
    ['an absolute-form target', 'http://evil.example/api/logout', 'localhost'],
  ])('answers %s with 400 and the error JSON', async (_label, target, hostHeader) => {
    const answer = await raw(host, target, hostHeader);
    expect(answer.status).toBe(400);
    expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(answer.body)).toEqual({
      error: 'bad_request',
      message: 'The request target or its Host header is malformed. Send a path starting with a single / and a valid Host.',
    });
    expect(answer.headers[HSTS_HEADER.toLowerCase()]).toBe(hsts);
    expect(logoutCalls).toEqual([]);
    expect(logs.filter((l) => /TypeError|could not write/.test(l))).toEqual([]);
  });

  it('serves normal targets and Host headers as before', async () => {
    expect((await raw(host, '/api/health', 'localhost:7071')).status).toBe(200);
    expect((await raw(host, '/api/health?x=1', '127.0.0.1')).status).toBe(200);
    expect((await raw(host, '/api/health', '[::1]:7071')).status).toBe(200);
    const logout = await raw(host, '/api/logout', 'localhost');
    expect(logout.status).toBe(200);
    expect(logoutCalls).toEqual(['http://localhost/api/logout']);
  });

  it.each([
    ['a route', '/api/health', 200],
    ['an unknown route', '/nope', 404],
    ['a wrong method', '/api/health', 405],
  ])('sends Strict-Transport-Security on %s', async (_label, path, status) => {
    const response = await fetch(`${host.url}${path}`, { method: status === 405 ? 'DELETE' : 'GET' });
    expect(response.status).toBe(status);
    expect(response.headers.get(HSTS_HEADER)).toBe('max-age=31536000; includeSubDomains');
  });

  it('includeSubDomains follows the setting; max-age is at least a year', () => {
    expect(strictTransportSecurity(false)).toBe('max-age=31536000');
    expect(Number(/max-age=(\d+)/.exec(strictTransportSecurity(true))![1])).toBeGreaterThanOrEqual(365 * 24 * 3600);
  });
});
