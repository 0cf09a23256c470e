/**
 * The Graph stand-in: token verification like Graph (signature via JWKS, issuer, audience,
 * lifetime, scope), the OData subset the app uses, paging via @odata.nextLink, Graph's error
 * shapes and headers, fault injection including CAE claims challenges, and the admin routes.
 */
import { startGraph, type GraphEmulator } from '../../emulators/graph';
import { seedMailbox, XSS_SENDER_NAME, XSS_SUBJECT, type GraphMessage } from '../../emulators/graph-mailbox';
import { ensureTestCa, issueServerCertificate } from '../../emulators/tls';
import { claimsChallengeOf } from '../../src/graph/mail-client';
import { bearer, request, type TestResponse } from './helpers/http';
import { createSigningKey, signJwt, startTestIssuer, type TestIssuer } from './helpers/token-issuer';

const GRAPH_AUDIENCE = 'https://graph.microsoft.com';
const USER = '11111111-2222-4333-8444-555555555555';
const OTHER_USER = '99999999-8888-4777-8666-555555555555';
const GRAPH_WWW_AUTHENTICATE =
  'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const APP_SELECT = 'id,from,subject,receivedDateTime,bodyPreview,isRead,webLink';

let issuer: TestIssuer;
let graph: GraphEmulator;
let mailbox: GraphMessage[];

function userToken(claims: Record<string, unknown> = {}): string {
  return issuer.token({
    aud: GRAPH_AUDIENCE,
    oid: USER,
    name: 'Adele Vance',
    preferred_username: 'adele@contoso.example',
    scp: 'openid profile offline_access User.Read Mail.Read',
    ...claims,
  });
}

function get(path: string, token?: string, headers: Record<string, string> = {}): Promise<TestResponse> {
  return request(new URL(path, graph.url).toString(), { headers: token ? bearer(token, headers) : headers });
}

function admin(method: string, path: string, body?: unknown): Promise<TestResponse> {
  return request(new URL(path, graph.url).toString(), { method, body });
}

function expectGraphError(response: TestResponse, status: number, code: string): void {
  expect(response.status).toBe(status);
  expect(response.json.error.code).toBe(code);
  expect(typeof response.json.error.message).toBe('string');
  expect(response.json.error.innerError['request-id']).toBe(response.headers['request-id']);
  expect(response.json.error.innerError['client-request-id']).toBe(response.headers['client-request-id']);
  expect(response.json.error.innerError.date).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/);
}

beforeAll(async () => {
  issuer = await startTestIssuer();
  mailbox = seedMailbox(USER, { name: 'Adele Vance', address: 'adele@contoso.example' }, { now: Date.parse('2025-06-01T12:00:00Z') });
  graph = await startGraph({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: GRAPH_AUDIENCE, mailboxes: { [USER]: mailbox } });
});

afterAll(async () => {
  await graph?.stop();
  await issuer?.stop();
});

afterEach(async () => {
  await admin('DELETE', '_emulator/faults');
  await admin('PUT', '_emulator/settings', { latencyMs: 0, mailboxConcurrencyLimit: 0 });
  await admin('PUT', `_emulator/mailboxes/${USER}`, mailbox);
});

describe('the endpoint', () => {
  test('url ends with a slash and is the GRAPH_API_ENDPOINT', () => {
    expect(graph.url).toBe(`http://127.0.0.1:${graph.port}/`);
  });

  test('can serve HTTPS with a certificate from the test CA', async () => {
    const ca = ensureTestCa();
    const secure = await startGraph({ tls: issueServerCertificate(ca), issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: GRAPH_AUDIENCE });
    try {
      expect(secure.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
      const response = await request(`${secure.url}v1.0/me`, { headers: bearer(userToken()), ca: ca.certPem });
      expect(response.status).toBe(200);
      expect(response.json.id).toBe(USER);
    } finally {
      await secure.stop();
    }
  });
});

describe('token verification', () => {
  test('no token: 401 InvalidAuthenticationToken with Graph headers', async () => {
    const response = await get('v1.0/me/messages');
    expectGraphError(response, 401, 'InvalidAuthenticationToken');
    expect(response.headers['www-authenticate']).toBe(GRAPH_WWW_AUTHENTICATE);
    expect(response.headers['request-id']).toMatch(UUID);
  });

  test('a token signed by another key with the published kid: 401', async () => {
    const forged = signJwt(createSigningKey(issuer.key.kid), {
      iss: issuer.issuer,
      aud: GRAPH_AUDIENCE,
      oid: USER,
      scp: 'Mail.Read',
      exp: Math.floor(Date.now() / 1000) + 3600,
    });
    const response = await get('v1.0/me/messages', forged);
    expectGraphError(response, 401, 'InvalidAuthenticationToken');
    expect(response.headers['www-authenticate']).toBe(GRAPH_WWW_AUTHENTICATE);
    expect(response.text).not.toContain(forged);
  });

  test('a token signed by an unknown kid: the JWKS is refetched once (cool-down), then 401', async () => {
    await new Promise((resolve) => setTimeout(resolve, 1100)); // past the refetch cool-down
    const before = issuer.jwksRequests;
    const rogue = createSigningKey('rogue');
    for (let i = 0; i < 3; i++) {
      const response = await get('v1.0/me/messages', issuer.token({ aud: GRAPH_AUDIENCE, oid: USER, scp: 'Mail.Read' }, { key: rogue }));
      expectGraphError(response, 401, 'InvalidAuthenticationToken');
    }
    expect(issuer.jwksRequests).toBe(before + 1);
  });

  test('"alg": "none" and garbage are refused', async () => {
    const payload = Buffer.from(JSON.stringify({ iss: issuer.issuer, aud: GRAPH_AUDIENCE, oid: USER, scp: 'Mail.Read', exp: 9999999999 })).toString('base64url');
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`;
    expectGraphError(await get('v1.0/me', none), 401, 'InvalidAuthenticationToken');
    expectGraphError(await get('v1.0/me', 'not-a-jwt'), 401, 'InvalidAuthenticationToken');
  });

  test('expired: 401 saying so', async () => {
    const now = Math.floor(Date.now() / 1000);
    const response = await get('v1.0/me/messages', userToken({ iat: now - 7200, nbf: now - 7200, exp: now - 3600 }));
    expectGraphError(response, 401, 'InvalidAuthenticationToken');
    expect(response.json.error.message).toMatch(/expired/);
  });

  test('within the clock skew is still valid; not yet valid is refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect((await get('v1.0/me', userToken({ exp: now - 5 }))).status).toBe(200);
    expectGraphError(await get('v1.0/me', userToken({ nbf: now + 600 })), 401, 'InvalidAuthenticationToken');
  });

  test('wrong audience (a Key Vault token): 401', async () => {
    const response = await get('v1.0/me/messages', userToken({ aud: 'https://vault.azure.net' }));
    expectGraphError(response, 401, 'InvalidAuthenticationToken');
    expect(response.json.error.message).toMatch(/audience/i);
  });

  test('wrong issuer: 401', async () => {
    expectGraphError(await get('v1.0/me', userToken({ iss: 'https://login.microsoftonline.com/other/v2.0' })), 401, 'InvalidAuthenticationToken');
  });

  test('missing Mail.Read: 403 ErrorAccessDenied for messages; /me still works with User.Read', async () => {
    const token = userToken({ scp: 'openid profile User.Read' });
    expectGraphError(await get('v1.0/me/messages', token), 403, 'ErrorAccessDenied');
    expect((await get('v1.0/me', token)).status).toBe(200);
  });

  test('an app-only token (roles, no scp) cannot use /me', async () => {
    const response = await get('v1.0/me', issuer.token({ aud: GRAPH_AUDIENCE, oid: USER, roles: ['Mail.Read'] }));
    expectGraphError(response, 400, 'BadRequest');
  });

  test('keys rotated at the issuer: a token with the new kid passes after a refetch', async () => {
    const next = createSigningKey('test-key-2');
    issuer.publish([issuer.key, next]);
    try {
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const response = await get('v1.0/me', issuer.token({ aud: GRAPH_AUDIENCE, oid: USER, scp: 'User.Read' }, { key: next }));
      expect(response.status).toBe(200);
    } finally {
      issuer.publish([issuer.key]);
    }
  });
});

describe('/v1.0/me', () => {
  test('the profile comes from the token claims', async () => {
    const response = await get('v1.0/me', userToken(), { 'client-request-id': 'abc-123' });
    expect(response.status).toBe(200);
    expect(response.headers['client-request-id']).toBe('abc-123');
    expect(response.headers['request-id']).toMatch(UUID);
    expect(response.json).toMatchObject({
      '@odata.context': `${graph.url}v1.0/$metadata#users/$entity`,
      id: USER,
      displayName: 'Adele Vance',
      userPrincipalName: 'adele@contoso.example',
      mail: 'adele@contoso.example',
      givenName: 'Adele',
      surname: 'Vance',
    });
  });

  test('$select narrows it; unknown properties are a 400', async () => {
    const response = await get('v1.0/me?$select=displayName,id', userToken());
    expect(Object.keys(response.json).sort()).toEqual(['@odata.context', 'displayName', 'id']);
    expectGraphError(await get('v1.0/me?$select=password', userToken()), 400, 'BadRequest');
  });
});

describe('/v1.0/me/messages', () => {
  const unread = (): GraphMessage[] => mailbox.filter((m) => !m.isRead).sort((a, b) => Date.parse(b.receivedDateTime) - Date.parse(a.receivedDateTime));

  test('the seeded mailbox is realistic and hostile', () => {
    expect(mailbox.length).toBeGreaterThanOrEqual(25);
    expect(unread().length).toBeGreaterThanOrEqual(6);
    expect(mailbox.some((m) => !m.isRead && m.subject === XSS_SUBJECT)).toBe(true);
    expect(mailbox.some((m) => !m.isRead && m.from.emailAddress.name === XSS_SENDER_NAME && /<script>/.test(m.from.emailAddress.name))).toBe(true);
    expect(new Set(mailbox.map((m) => m.id)).size).toBe(mailbox.length);
    for (const m of mailbox) expect(m.receivedDateTime).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  });

  test('unread, newest first, selected, paged over 3 pages through absolute nextLinks', async () => {
    const token = userToken();
    const expected = unread();
    const top = Math.ceil(expected.length / 3);
    const filter = encodeURIComponent('receivedDateTime ge 1900-01-01T00:00:00Z and isRead eq false');
    let next: string | undefined = `${graph.url}v1.0/me/messages?$select=${APP_SELECT}&$filter=${filter}&$orderby=receivedDateTime%20desc&$top=${top}`;
    const pages: any[][] = [];
    while (next) {
      expect(next.startsWith(graph.url)).toBe(true);
      const response = await request(next, { headers: bearer(token) });
      expect(response.status).toBe(200);
      expect(response.json['@odata.context']).toBe(`${graph.url}v1.0/$metadata#users('${USER}')/messages(${APP_SELECT})`);
      pages.push(response.json.value);
      next = response.json['@odata.nextLink'];
    }
    expect(pages).toHaveLength(3);
    const all = pages.flat();
    expect(all.map((m) => m.id)).toEqual(expected.map((m) => m.id));
    for (const m of all) {
      expect(Object.keys(m).sort()).toEqual(['@odata.etag', ...APP_SELECT.split(',')].sort());
      expect(m.isRead).toBe(false);
      expect(m.from.emailAddress.address).toMatch(/@/);
    }
    const xss = all.find((m) => m.subject === XSS_SUBJECT);
    expect(xss).toBeDefined();
    expect(all.some((m) => m.from.emailAddress.name === XSS_SENDER_NAME)).toBe(true);
  });

  test("the app's own query: nextLink keeps $select/$filter/$orderby/$top and pages with %24skip", async () => {
    const response = await get(`v1.0/me/messages?%24select=${APP_SELECT}&%24orderby=receivedDateTime+desc&%24top=5`, userToken());
    expect(response.status).toBe(200);
    const nextLink: string = response.json['@odata.nextLink'];
    expect(nextLink).toContain('%24skip=5');
    const params = new URL(nextLink).searchParams;
    expect(params.get('$select')).toBe(APP_SELECT);
    expect(params.get('$top')).toBe('5');
    expect(params.get('$orderby')).toBe('receivedDateTime desc');
  });

  test('like Graph, $filter isRead with $orderby receivedDateTime but not filtered on it is InefficientFilter', async () => {
    const response = await get(`v1.0/me/messages?$filter=isRead%20eq%20false&$orderby=receivedDateTime%20desc`, userToken());
    expectGraphError(response, 400, 'InefficientFilter');
  });

  test('$filter=isRead eq false alone, default page of 10, default order newest first', async () => {
    const response = await get('v1.0/me/messages?$filter=isRead%20eq%20false', userToken());
    expect(response.status).toBe(200);
    expect(response.json.value.map((m: GraphMessage) => m.id)).toEqual(unread().slice(0, 10).map((m) => m.id));
    const all = await get('v1.0/me/messages', userToken());
    expect(all.json.value).toHaveLength(10);
    expect(all.json['@odata.nextLink']).toBe(`${graph.url}v1.0/me/messages?%24skip=10`);
    // without $select: Graph's default properties, with the body as HTML unless text is preferred
    expect(all.json.value[0]).toMatchObject({ body: { contentType: 'html' }, sender: expect.any(Object), isDraft: false });
    const text = await get('v1.0/me/messages?$top=1', userToken(), { prefer: 'outlook.body-content-type="text"' });
    expect(text.headers['preference-applied']).toBe('outlook.body-content-type="text"');
    expect(text.json.value[0].body.contentType).toBe('text');
  });

  test('$orderby asc, $count, $skip, and $skiptoken', async () => {
    const sorted = [...mailbox].sort((a, b) => Date.parse(a.receivedDateTime) - Date.parse(b.receivedDateTime));
    const asc = await get('v1.0/me/messages?$orderby=receivedDateTime%20asc&$top=3&$skip=2&$count=true&$select=id', userToken());
    expect(asc.json['@odata.count']).toBe(mailbox.length);
    expect(asc.json.value.map((m: GraphMessage) => m.id)).toEqual(sorted.slice(2, 5).map((m) => m.id));
    await admin('PUT', '_emulator/settings', { nextLinkStyle: 'skiptoken' });
    try {
      const first = await get('v1.0/me/messages?$top=4&$select=id', userToken());
      const nextLink: string = first.json['@odata.nextLink'];
      expect(nextLink).toContain('%24skiptoken=');
      const second = await request(nextLink, { headers: bearer(userToken()) });
      const newest = [...sorted].reverse();
      expect(second.json.value.map((m: GraphMessage) => m.id)).toEqual(newest.slice(4, 8).map((m) => m.id));
    } finally {
      await admin('PUT', '_emulator/settings', { nextLinkStyle: 'skip' });
    }
  });

  test('bad OData is a 400 like Graph', async () => {
    const token = userToken();
    expectGraphError(await get('v1.0/me/messages?$select=id,secretField', token), 400, 'ErrorInvalidProperty');
    expectGraphError(await get('v1.0/me/messages?$top=0', token), 400, 'BadRequest');
    expectGraphError(await get('v1.0/me/messages?$top=1001', token), 400, 'BadRequest');
    expectGraphError(await get('v1.0/me/messages?$top=abc', token), 400, 'BadRequest');
    expectGraphError(await get('v1.0/me/messages?$skip=-1', token), 400, 'BadRequest');
    expectGraphError(await get('v1.0/me/messages?$skiptoken=garbage', token), 400, 'BadRequest');
    expectGraphError(await get('v1.0/me/messages?$filter=isRead%20eq%20maybe', token), 400, 'BadRequest');
    expectGraphError(await get('v1.0/me/messages?$filter=nope%20eq%20true', token), 400, 'ErrorInvalidProperty');
    expectGraphError(await get('v1.0/me/messages?$orderby=receivedDateTime%20sideways', token), 400, 'BadRequest');
    expectGraphError(await get('v1.0/me/messages?$expand=attachments', token), 400, 'BadRequest');
    expectGraphError(await get('v1.0/me/messages?$top=1&$top=2', token), 400, 'BadRequest');
    expect((await get('v1.0/me/messages?$top=1000', token)).status).toBe(200);
  });

  test('unknown resources and methods', async () => {
    expectGraphError(await get('v1.0/me/calendars', userToken()), 400, 'BadRequest');
    const post = await request(`${graph.url}v1.0/me/messages`, { method: 'POST', headers: bearer(userToken()), body: {} });
    expect(post.status).toBe(405);
  });

  test('users without a mailbox get a generated one; mailboxes can be replaced', async () => {
    const other = await get('v1.0/me/messages?$top=50', userToken({ oid: OTHER_USER, name: 'Alex Wilber', preferred_username: 'alex@contoso.example' }));
    expect(other.status).toBe(200);
    expect(other.json.value.length).toBeGreaterThanOrEqual(25);
    expect(other.json.value[0].toRecipients[0].emailAddress.address).toBe('alex@contoso.example');

    const put = await admin('PUT', `_emulator/mailboxes/${USER}`, [
      { subject: 'only one', isRead: false, receivedDateTime: '2025-01-02T03:04:05.678Z', from: { emailAddress: { name: 'A', address: 'a@example.com' } } },
    ]);
    expect(put.json).toEqual({ count: 1 });
    const response = await get('v1.0/me/messages', userToken());
    expect(response.json.value).toHaveLength(1);
    expect(response.json.value[0]).toMatchObject({ subject: 'only one', receivedDateTime: '2025-01-02T03:04:05Z', isRead: false });
    expect(response.json.value[0].webLink).toMatch(/^https:\/\/outlook\.office365\.com\/owa\/\?ItemID=/);
    expect(response.json['@odata.nextLink']).toBeUndefined();

    expect((await admin('PUT', `_emulator/mailboxes/${USER}`, [{ isRead: 'no' }])).status).toBe(400);
  });
});

describe('faults', () => {
  test('429 with Retry-After for the next n requests, then normal service', async () => {
    const queued = await admin('POST', '_emulator/faults', { status: 429, count: 2, retryAfterSeconds: 7 });
    expect(queued.status).toBe(200);
    for (let i = 0; i < 2; i++) {
      const response = await get('v1.0/me/messages', userToken());
      expectGraphError(response, 429, 'TooManyRequests');
      expect(response.headers['retry-after']).toBe('7');
    }
    expect((await get('v1.0/me/messages', userToken())).status).toBe(200);
  });

  test('503 ServiceNotAvailable, 504, 500 in Graph shape', async () => {
    await admin('POST', '_emulator/faults', [{ status: 503, retryAfterSeconds: 2 }, { status: 504 }, { status: 500 }]);
    const unavailable = await get('v1.0/me/messages', userToken());
    expectGraphError(unavailable, 503, 'ServiceNotAvailable');
    expect(unavailable.headers['retry-after']).toBe('2');
    expectGraphError(await get('v1.0/me/messages', userToken()), 504, 'GatewayTimeout');
    expectGraphError(await get('v1.0/me/messages', userToken()), 500, 'generalException');
  });

  test('faults scoped to a path or a user leave other requests alone', async () => {
    await admin('POST', '_emulator/faults', { status: 503, path: 'me', user: OTHER_USER });
    expect((await get('v1.0/me', userToken())).status).toBe(200);
    expect((await get('v1.0/me/messages', userToken({ oid: OTHER_USER }))).status).toBe(200);
    expectGraphError(await get('v1.0/me', userToken({ oid: OTHER_USER })), 503, 'ServiceNotAvailable');
  });

  test('a refused token does not consume a fault', async () => {
    await admin('POST', '_emulator/faults', { status: 503 });
    expect((await get('v1.0/me')).status).toBe(401);
    expect((await get('v1.0/me', userToken())).status).toBe(503);
  });

  test('a plain 401 fault and a connection reset', async () => {
    await admin('POST', '_emulator/faults', [{ status: 401 }, { reset: true }]);
    const unauthorized = await get('v1.0/me', userToken());
    expectGraphError(unauthorized, 401, 'InvalidAuthenticationToken');
    expect(claimsChallengeOf(unauthorized.headers['www-authenticate'] as string)).toBeUndefined();
    await expect(get('v1.0/me', userToken())).rejects.toThrow();
    expect((await get('v1.0/me', userToken())).status).toBe(200);
  });

  test('a claims challenge refuses older tokens until a newer token arrives', async () => {
    const now = Math.floor(Date.now() / 1000);
    const old = userToken({ iat: now - 600, nbf: now - 600 });
    expect((await get('v1.0/me/messages', old)).status).toBe(200);

    await admin('POST', '_emulator/faults', { status: 401, claimsChallenge: true, path: 'messages', user: USER });
    const challenged = await get('v1.0/me/messages', old);
    expectGraphError(challenged, 401, 'InvalidAuthenticationToken');
    const header = challenged.headers['www-authenticate'] as string;
    expect(header.startsWith(`${GRAPH_WWW_AUTHENTICATE}, error="insufficient_claims", claims="`)).toBe(true);
    const claims = claimsChallengeOf(header); // the app's own parser understands it
    expect(claims).toBeDefined();
    const parsed = JSON.parse(claims as string);
    expect(parsed.access_token.nbf.essential).toBe(true);
    const epoch = Number(parsed.access_token.nbf.value);
    expect(Math.abs(epoch - Math.floor(Date.now() / 1000))).toBeLessThanOrEqual(2);

    // the fault was used up, but the revocation stays: the old token keeps being challenged, on /me too
    expect(claimsChallengeOf((await get('v1.0/me/messages', old)).headers['www-authenticate'] as string)).toBe(claims);
    expect((await get('v1.0/me', old)).status).toBe(401);
    // another user is not affected
    expect((await get('v1.0/me/messages', userToken({ oid: OTHER_USER, iat: now - 600 }))).status).toBe(200);
    // a token issued after the challenge passes
    const fresh = userToken({ iat: epoch, nbf: epoch, xms_cc: ['cp1'] });
    expect((await get('v1.0/me/messages', fresh)).status).toBe(200);
  });

  test('a token issued in the same second as the challenge: that token is refused, a new one passes', async () => {
    const first = userToken();
    await admin('POST', '_emulator/faults', { status: 401, claimsChallenge: true });
    expect((await get('v1.0/me', first)).status).toBe(401);
    expect((await get('v1.0/me', first)).status).toBe(401);
    const second = userToken({ uti: 'another-token' });
    expect((await get('v1.0/me', second)).status).toBe(200);
  });

  test('DELETE /_emulator/faults clears queued faults and revocations', async () => {
    const now = Math.floor(Date.now() / 1000);
    const old = userToken({ iat: now - 600 });
    await admin('POST', '_emulator/faults', [{ status: 401, claimsChallenge: true }, { status: 503, count: 5 }]);
    expect((await get('v1.0/me', old)).status).toBe(401);
    const listed = await admin('GET', '_emulator/faults');
    expect(listed.json.faults).toEqual([expect.objectContaining({ status: 503, remaining: 5 })]);
    await admin('DELETE', '_emulator/faults');
    expect((await get('v1.0/me', old)).status).toBe(200);
  });

  test('invalid fault specs are a 400', async () => {
    expect((await admin('POST', '_emulator/faults', { status: 418 })).status).toBe(400);
    expect((await admin('POST', '_emulator/faults', { status: 503, count: 0 })).status).toBe(400);
    expect((await admin('POST', '_emulator/faults', { status: 503, claimsChallenge: true })).status).toBe(400);
    expect((await admin('POST', '_emulator/faults', { status: 503, path: 'calendar' })).status).toBe(400);
    expect((await request(`${graph.url}_emulator/faults`, { method: 'POST', headers: { 'content-type': 'application/json' } })).status).toBe(400);
  });
});

describe('stats, latency and mailbox concurrency', () => {
  test('counts requests by path and status, and the peak concurrency per user', async () => {
    await admin('POST', '_emulator/stats/reset');
    await admin('PUT', '_emulator/settings', { latencyMs: 150 });
    const token = userToken();
    const started = Date.now();
    await Promise.all([1, 2, 3, 4, 5].map(() => get('v1.0/me/messages', token)));
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    await get('v1.0/me', token);
    await get('v1.0/me');
    const stats = (await admin('GET', '_emulator/stats')).json;
    expect(stats.requests).toBe(7);
    expect(stats.byPath).toEqual({ '/v1.0/me/messages': 5, '/v1.0/me': 2 });
    expect(stats.byStatus).toEqual({ '200': 6, '401': 1 });
    expect(stats.maxConcurrentPerUser).toBe(5);
    await admin('POST', '_emulator/stats/reset');
    expect((await admin('GET', '_emulator/stats')).json).toMatchObject({ requests: 0, byPath: {}, byStatus: {}, maxConcurrentPerUser: 0 });
  });

  test('with a mailbox concurrency limit of 4, the fifth concurrent request gets 429 ApplicationThrottled', async () => {
    await admin('PUT', '_emulator/settings', { latencyMs: 150, mailboxConcurrencyLimit: 4 });
    const token = userToken();
    const responses = await Promise.all([1, 2, 3, 4, 5].map(() => get('v1.0/me/messages', token)));
    const throttled = responses.filter((r) => r.status === 429);
    expect(throttled).toHaveLength(1);
    expect(throttled[0]?.json.error.code).toBe('ApplicationThrottled');
    expect(throttled[0]?.headers['retry-after']).toBeDefined();
    expect(responses.filter((r) => r.status === 200)).toHaveLength(4);
  });

  test('settings are validated', async () => {
    expect((await admin('PUT', '_emulator/settings', { latencyMs: -1 })).status).toBe(400);
    expect((await admin('PUT', '_emulator/settings', { bogus: 1 })).status).toBe(400);
    expect((await admin('GET', '_emulator/nothing')).status).toBe(404);
  });
});
