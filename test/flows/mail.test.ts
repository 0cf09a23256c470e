import { startTestApp, type TestApp } from '../support/app';
import { emulatorAdmin, emulators, entraAdmin, type EntraTestClient } from '../support/emulators';
import { Browser } from '../support/http-client';
import { signIn } from '../support/sign-in';

type Json = Record<string, unknown>;

describe('the mail API', () => {
  let app: TestApp;
  const lee = emulators().entra.users[2]!;
  const megan = emulators().entra.users[1]!;
  let browser: Browser;
  let client: EntraTestClient;

  beforeAll(async () => {
    // An app registration of its own: the counters this file reads are its alone.
    client = await entraAdmin.createClient();
    app = await startTestApp({ realClock: true, env: client.env });
    browser = new Browser();
    await signIn(browser, app.url, lee.username);
  });
  afterAll(async () => {
    await emulatorAdmin.graph('DELETE', 'faults');
    await client.admin.reset();
    await app.stop();
  });
  afterEach(async () => {
    await emulatorAdmin.graph('DELETE', 'faults');
  });

  async function mail(query = '', who = browser): Promise<{ status: number; body: Json; headers: Headers }> {
    const hop = await who.request(`${app.url}/api/mail${query}`);
    return { status: hop.status, body: JSON.parse(hop.body) as Json, headers: hop.headers };
  }
  const graphFault = (fault: Json) => emulatorAdmin.graph('POST', 'faults', { user: lee.oid, path: 'messages', ...fault });

  it('returns unread messages, newest first, in the app\'s shape, never cached', async () => {
    const res = await mail('?top=5');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const messages = res.body['messages'] as Json[];
    expect(messages).toHaveLength(5);
    for (const m of messages) {
      expect(Object.keys(m).sort()).toEqual(['bodyPreview', 'from', 'id', 'isRead', 'receivedDateTime', 'subject', 'webLink']);
      expect(m['isRead']).toBe(false);
    }
    const times = messages.map((m) => Date.parse(m['receivedDateTime'] as string));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(typeof res.body['nextCursor']).toBe('string');
  });

  it('pages across three pages with an opaque cursor', async () => {
    const all = await mail('?top=50');
    const total = (all.body['messages'] as Json[]).length;
    expect(total).toBeGreaterThan(6);
    const top = Math.ceil(total / 3);
    const ids: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await mail(`?top=${top}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(res.status).toBe(200);
      ids.push(...(res.body['messages'] as Json[]).map((m) => m['id'] as string));
      cursor = res.body['nextCursor'] as string | null;
      expect(cursor === null || !cursor.includes('graph')).toBe(true);
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(ids).toEqual((all.body['messages'] as Json[]).map((m) => m['id']));
  });

  it.each([
    ['?top=abc', 'top'],
    ['?top=1.5', 'top'],
    ['?top=', 'top'],
    ['?unread=maybe', 'unread'],
    ['?cursor=', 'cursor'],
  ])('rejects %s with 400 naming the parameter', async (query, parameter) => {
    const res = await mail(query);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'bad_request', parameter });
  });

  it('clamps top to 1..50', async () => {
    expect((await mail('?top=0')).body['messages']).toHaveLength(1);
    expect(((await mail('?top=500&unread=false')).body['messages'] as Json[]).length).toBeLessThanOrEqual(50);
  });

  it('refuses a forged cursor, and a cursor of another user, without calling anyone else', async () => {
    const forged = Buffer.from('https://evil.example/steal').toString('base64url');
    for (const cursor of [forged, 'v1.k1.AAAA.BBBB', `${encodeURIComponent('https://evil.example/')}`]) {
      const res = await mail(`?cursor=${cursor}`);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ error: 'bad_request', parameter: 'cursor' });
    }
    const other = new Browser();
    await signIn(other, app.url, megan.username);
    const leeCursor = (await mail('?top=2')).body['nextCursor'] as string;
    const res = await mail(`?cursor=${encodeURIComponent(leeCursor)}`, other);
    expect(res.status).toBe(400);
  });

  it('answers 401 login_required without a session', async () => {
    const res = await mail('', new Browser());
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: 'login_required', message: 'You are not signed in. Sign in to continue.', loginUrl: '/api/login?returnTo=%2F' });
  });

  it('waits out a 429 with Retry-After and succeeds', async () => {
    await graphFault({ status: 429, count: 1, retryAfterSeconds: 1 });
    const started = Date.now();
    const res = await mail('?top=2');
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('retries a 503 and succeeds', async () => {
    await graphFault({ status: 503, count: 1, retryAfterSeconds: 0 });
    expect((await mail('?top=2')).status).toBe(200);
  });

  it('answers 503 with Retry-After when Graph stays throttled past the budget', async () => {
    await graphFault({ status: 429, count: 5, retryAfterSeconds: 30 });
    const res = await mail('?top=2');
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('30');
    expect(res.body).toMatchObject({ error: 'graph_unavailable' });
  });

  it('answers 503 when Graph keeps failing with 504', async () => {
    await graphFault({ status: 504, count: 20, retryAfterSeconds: 1 });
    const res = await mail('?top=2');
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('retries a 500 like an outage and succeeds', async () => {
    await graphFault({ status: 500, count: 1 });
    expect((await mail('?top=2')).status).toBe(200);
  });

  it('maps a Graph 4xx to 502 with Graph\'s code and request-id', async () => {
    await graphFault({ status: 400, count: 1, code: 'ErrorInvalidRequest' });
    const res = await mail('?top=2');
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ error: 'graph_error', graphStatus: 400, graphError: 'ErrorInvalidRequest' });
    expect(typeof res.body['requestId']).toBe('string');
  });

  it('maps a Graph 403 (consent withdrawn) to 403 with a loginUrl that asks for consent', async () => {
    await graphFault({ status: 403, count: 1 });
    const res = await mail('?top=2');
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ error: 'graph_forbidden', graphStatus: 403, loginUrl: '/api/login?returnTo=%2F&prompt=consent' });
  });

  it('answers a claims challenge with one silent retry carrying the claims', async () => {
    await client.admin.resetStats();
    await graphFault({ status: 401, count: 1, claimsChallenge: true });
    const res = await mail('?top=2');
    expect(res.status).toBe(200);
    const stats = await client.admin.stats();
    expect(stats.refreshTokenRedemptions).toBe(1);
    expect(stats.lastTokenClaims).toContain('nbf');
  });

  it('sends the user to sign in, claims included, when the challenge needs interaction', async () => {
    const victim = new Browser();
    const rita = await entraAdmin.createUser({ username: `claims-${Date.now()}@contoso.test` });
    await signIn(victim, app.url, rita);
    await entraAdmin.revokeUser(rita.username);
    await emulatorAdmin.graph('POST', 'faults', { user: rita.oid, path: 'messages', status: 401, count: 1, claimsChallenge: true });
    const res = await mail('?top=2', victim);
    expect(res.status).toBe(401);
    expect(res.body['error']).toBe('login_required');
    const loginUrl = new URL(res.body['loginUrl'] as string, app.url);
    expect(loginUrl.pathname).toBe('/api/login');
    const claims = Buffer.from(loginUrl.searchParams.get('claims')!, 'base64url').toString('utf8');
    expect(JSON.parse(claims)).toHaveProperty('access_token');

    // Following it passes the claims to the authorize request.
    const start = await victim.request(new URL(res.body['loginUrl'] as string, app.url).href);
    expect(JSON.parse(new URL(start.location!).searchParams.get('claims')!)).toHaveProperty('access_token');
  });
});
