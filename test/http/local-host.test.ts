import type { HttpResponseInit } from '@azure/functions';
import { startLocalHost, type LocalHost, MAX_BODY_BYTES } from '../../src/http/local-host';
import { redirect } from '../../src/http/responses';
import type { Route } from '../../src/http/route';
import { createRoutes } from '../../src/routes';

describe('local host', () => {
  let host: LocalHost;
  const seen: { body?: string; cookie?: string | null; query?: string | null }[] = [];
  const logs: string[] = [];

  const testRoutes: Route[] = [
    ...createRoutes(() => Promise.reject(new Error('no services in this test'))),
    {
      name: 'cookies',
      methods: ['GET'],
      path: '/api/test/cookies',
      handler: async (): Promise<HttpResponseInit> => ({
        status: 201,
        headers: { 'X-Test': 'yes' },
        jsonBody: { ok: true },
        cookies: [
          { name: '__Host-a', value: 'one', path: '/', secure: true, httpOnly: true, sameSite: 'Lax' },
          { name: '__Host-b', value: '', path: '/', secure: true, httpOnly: true, sameSite: 'Lax', maxAge: 0 },
        ],
      }),
    },
    { name: 'redirect', methods: ['GET'], path: '/api/test/redirect', handler: async () => redirect('/elsewhere') },
    {
      name: 'echo',
      methods: ['POST', 'PUT'],
      path: '/api/test/echo',
      handler: async (request, context) => {
        context.log('echo invoked');
        seen.push({ body: await request.text(), cookie: request.headers.get('cookie'), query: request.query.get('q') });
        return { status: 200, body: 'ok' };
      },
    },
    {
      name: 'throws',
      methods: ['GET'],
      path: '/api/test/throws',
      handler: async () => {
        throw new Error('secret detail that must not leak');
      },
    },
  ];

  beforeAll(async () => {
    host = await startLocalHost({ routes: testRoutes, port: 0, log: (level, fn, message) => logs.push(`${level} ${fn} ${message}`) });
  });
  afterAll(() => host.stop());

  it('serves the health route from the route table', async () => {
    const res = await fetch(`${host.url}/api/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('writes status, headers, a JSON body and every cookie as its own Set-Cookie', async () => {
    const res = await fetch(`${host.url}/api/test/cookies`);
    expect(res.status).toBe(201);
    expect(res.headers.get('x-test')).toBe('yes');
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ ok: true });
    expect(res.headers.getSetCookie()).toEqual([
      '__Host-a=one; Path=/; Secure; HttpOnly; SameSite=Lax',
      '__Host-b=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax',
    ]);
  });

  it('passes redirects through without following them', async () => {
    const res = await fetch(`${host.url}/api/test/redirect`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/elsewhere');
  });

  it('gives the handler the body, the query and the cookies, and routes its logs', async () => {
    const res = await fetch(`${host.url}/api/test/echo?q=1`, { method: 'POST', body: 'a=b', headers: { cookie: 'x=1; y=2' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok');
    expect(seen.at(-1)).toEqual({ body: 'a=b', cookie: 'x=1; y=2', query: '1' });
    expect(logs).toContain('information echo echo invoked');
  });

  it('answers an unknown route with 404 JSON', async () => {
    const res = await fetch(`${host.url}/api/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'not_found', message: 'No endpoint at /api/nope.' });
  });

  it('answers a wrong method with 405 and Allow', async () => {
    const res = await fetch(`${host.url}/api/test/echo`);
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST, PUT');
    expect(await res.json()).toEqual({ error: 'method_not_allowed', message: 'GET is not allowed here; use POST, PUT.' });
  });

  it('refuses a body over 1 MiB with 413, declared or streamed', async () => {
    const big = Buffer.alloc(MAX_BODY_BYTES + 1, 'a');
    const res = await fetch(`${host.url}/api/test/echo`, { method: 'POST', body: big });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: 'payload_too_large', message: `The request body is larger than ${MAX_BODY_BYTES} bytes.` });

    const chunked = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 17; i++) controller.enqueue(new Uint8Array(64 * 1024));
        controller.close();
      },
    });
    const res2 = await fetch(`${host.url}/api/test/echo`, { method: 'POST', body: chunked, duplex: 'half' } as RequestInit);
    expect(res2.status).toBe(413);
  });

  it('accepts a body of exactly 1 MiB', async () => {
    const res = await fetch(`${host.url}/api/test/echo`, { method: 'PUT', body: Buffer.alloc(MAX_BODY_BYTES, 'b') });
    expect(res.status).toBe(200);
    expect(seen.at(-1)?.body?.length).toBe(MAX_BODY_BYTES);
  });

  it('turns an unhandled exception into a 500 without details', async () => {
    const res = await fetch(`${host.url}/api/test/throws`);
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ error: 'internal_error', message: 'Something went wrong on our side. Try again in a moment.' });
    expect(text).not.toContain('secret detail');
  });
});
