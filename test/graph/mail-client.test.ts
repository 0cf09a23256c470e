import { AppError } from '../../src/errors';
import { claimsChallengeOf, ClaimsChallengeError, GraphMailClient, retryAfterMs } from '../../src/graph/mail-client';

type Answer = { status: number; body?: unknown; headers?: Record<string, string> };

function fakeGraph(answers: Answer[]) {
  const calls: { url: string; auth: string | null }[] = [];
  const waits: number[] = [];
  const fetchImpl = (async (input: URL | string, init?: RequestInit) => {
    calls.push({ url: String(input), auth: new Headers(init?.headers).get('authorization') });
    const answer = answers.shift() ?? { status: 500 };
    return new Response(answer.body === undefined ? null : JSON.stringify(answer.body), { status: answer.status, ...(answer.headers ? { headers: answer.headers } : {}) });
  }) as typeof fetch;
  const client = new GraphMailClient({
    endpoint: 'https://graph.example/',
    fetch: fetchImpl,
    sleep: async (ms) => {
      waits.push(ms);
    },
    retryBudgetMs: 4000,
  });
  return { client, calls, waits };
}

const message = {
  id: 'm1',
  subject: 'Hello',
  bodyPreview: 'Preview',
  receivedDateTime: '2026-11-20T10:00:00Z',
  isRead: false,
  webLink: 'https://outlook.office365.com/owa/?ItemID=m1',
  from: { emailAddress: { name: 'Ann', address: 'ann@example.com' } },
};

describe('GraphMailClient', () => {
  it('asks Graph for unread mail, newest first, with the fields the app shows', async () => {
    const { client, calls } = fakeGraph([{ status: 200, body: { value: [message], '@odata.nextLink': 'https://graph.example/v1.0/me/messages?$skip=10&$top=10' } }]);
    const page = await client.listMessages('token-abc', 'user', { top: 10, unreadOnly: true });
    const url = new URL(calls[0]!.url);
    expect(url.origin + url.pathname).toBe('https://graph.example/v1.0/me/messages');
    expect(url.searchParams.get('$filter')).toBe('receivedDateTime ge 1900-01-01T00:00:00Z and isRead eq false');
    expect(url.searchParams.get('$orderby')).toBe('receivedDateTime desc');
    expect(url.searchParams.get('$top')).toBe('10');
    expect(url.searchParams.get('$select')).toBe('id,from,subject,receivedDateTime,bodyPreview,isRead,webLink');
    expect(calls[0]!.auth).toBe('Bearer token-abc');
    expect(page.messages).toEqual([
      { id: 'm1', from: { name: 'Ann', address: 'ann@example.com' }, subject: 'Hello', receivedDateTime: '2026-11-20T10:00:00Z', bodyPreview: 'Preview', isRead: false, webLink: message.webLink },
    ]);
    expect(page.nextQuery).toBe('$skip=10&$top=10');
  });

  it('drops a nextLink that points anywhere but the configured Graph endpoint', async () => {
    for (const nextLink of ['https://evil.example/v1.0/me/messages?$skip=10', 'https://graph.example/v1.0/users/x/messages?$skip=1', 'not a url']) {
      const { client } = fakeGraph([{ status: 200, body: { value: [], '@odata.nextLink': nextLink } }]);
      expect((await client.listMessages('t', 'u', { top: 5, unreadOnly: true })).nextQuery).toBeUndefined();
    }
  });

  it('rebuilds the next page on the configured endpoint and refuses unknown query parameters', async () => {
    const { client, calls } = fakeGraph([{ status: 200, body: { value: [] } }]);
    await client.listMessages('t', 'u', { top: 5, unreadOnly: true, nextQuery: '$skip=20&$top=5' });
    expect(calls[0]!.url).toBe('https://graph.example/v1.0/me/messages?%24skip=20&%24top=5');
    await expect(client.listMessages('t', 'u', { top: 5, unreadOnly: true, nextQuery: 'redirect=https://evil' })).rejects.toMatchObject({ code: 'bad_request', status: 400 });
  });

  it('waits Retry-After on 429 and 503, then succeeds', async () => {
    const { client, waits, calls } = fakeGraph([
      { status: 429, headers: { 'Retry-After': '1' }, body: { error: { code: 'TooManyRequests' } } },
      { status: 503, headers: { 'Retry-After': '2' } },
      { status: 200, body: { value: [message] } },
    ]);
    const page = await client.listMessages('t', 'u', { top: 10, unreadOnly: true });
    expect(page.messages).toHaveLength(1);
    expect(waits).toEqual([1000, 2000]);
    expect(calls).toHaveLength(3);
  });

  it('answers 503 with Retry-After when Graph stays busy past the budget', async () => {
    const { client } = fakeGraph([{ status: 429, headers: { 'Retry-After': '30' } }]);
    const error = (await client.listMessages('t', 'u', { top: 10, unreadOnly: true }).catch((e: unknown) => e)) as AppError;
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'graph_unavailable', status: 503, retryAfterSeconds: 30 });
  });

  it('surfaces a claims challenge with the decoded claims', async () => {
    const claims = '{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}';
    const { client } = fakeGraph([
      {
        status: 401,
        headers: { 'WWW-Authenticate': `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="${Buffer.from(claims).toString('base64')}"` },
        body: { error: { code: 'InvalidAuthenticationToken' } },
      },
    ]);
    const error = await client.listMessages('t', 'u', { top: 10, unreadOnly: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClaimsChallengeError);
    expect((error as ClaimsChallengeError).claims).toBe(claims);
  });

  it('maps other Graph errors to 502 with Graph\'s code and request-id, never the token', async () => {
    const { client } = fakeGraph([{ status: 400, headers: { 'request-id': 'req-123' }, body: { error: { code: 'ErrorInvalidRequest', message: 'Bad.' } } }]);
    const error = (await client.listMessages('secret-token', 'u', { top: 10, unreadOnly: true }).catch((e: unknown) => e)) as AppError;
    expect(error).toMatchObject({ code: 'graph_error', status: 502, details: { graphError: 'ErrorInvalidRequest', graphStatus: 400, requestId: 'req-123' } });
    expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain('secret-token');
  });

  it('maps 403 to graph_forbidden and a missing mailbox to mailbox_unavailable', async () => {
    const forbidden = fakeGraph([{ status: 403, body: { error: { code: 'ErrorAccessDenied' } } }]);
    await expect(forbidden.client.listMessages('t', 'u', { top: 1, unreadOnly: true })).rejects.toMatchObject({ code: 'graph_forbidden', status: 403 });
    const missing = fakeGraph([{ status: 404, body: { error: { code: 'MailboxNotEnabledForRESTAPI' } } }]);
    await expect(missing.client.listMessages('t', 'u', { top: 1, unreadOnly: true })).rejects.toMatchObject({ code: 'mailbox_unavailable', status: 404 });
  });

  it('retries a garbled success body, then succeeds', async () => {
    let call = 0;
    const fetchImpl = (async () => (++call === 1 ? new Response('{"value": [', { status: 200 }) : new Response(JSON.stringify({ value: [] }), { status: 200 }))) as unknown as typeof fetch;
    const client = new GraphMailClient({ endpoint: 'https://graph.example/', fetch: fetchImpl, sleep: async () => {} });
    await expect(client.listMessages('t', 'u', { top: 1, unreadOnly: true })).resolves.toMatchObject({ messages: [] });
    expect(call).toBe(2);
  });

  it('keeps at most 4 requests in flight per mailbox', async () => {
    let active = 0;
    let peak = 0;
    const fetchImpl = (async () => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 5));
      active--;
      return new Response(JSON.stringify({ value: [] }), { status: 200 });
    }) as unknown as typeof fetch;
    const client = new GraphMailClient({ endpoint: 'https://graph.example/', fetch: fetchImpl });
    await Promise.all(Array.from({ length: 12 }, () => client.listMessages('t', 'same-user', { top: 1, unreadOnly: true })));
    expect(peak).toBe(4);
  });
});

describe('header parsing', () => {
  it('reads Retry-After as seconds or a date', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs(null)).toBeUndefined();
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(new Date(Date.now() + 60_000).toUTCString())).toBeGreaterThan(50_000);
  });

  it('ignores a 401 that is not a claims challenge', () => {
    expect(claimsChallengeOf('Bearer realm="", error="invalid_token"')).toBeUndefined();
    expect(claimsChallengeOf('Bearer error="insufficient_claims", claims="not-base64-json"')).toBeUndefined();
  });
});
