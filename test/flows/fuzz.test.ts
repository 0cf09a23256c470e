/**
 * Property-based fuzzing of every route × method (issue 16): random query strings, cookies, headers
 * and bodies, signed in (with a real session cookie) and not. Bounded and reproducible: a fixed
 * seed per route and method, and a run count that keeps the file well under a minute.
 *
 * For every answer:
 * - never a 5xx, except a 503 that says when to come back (Retry-After);
 * - no input comes back unescaped: every random value carries a canary tag (`<fz…>`), and no body
 *   or header of any answer may contain one;
 * - a request without the real session cookie costs no storage at all, reads or writes (forged
 *   session and transaction cookies included).
 * Afterwards the real session still works, with the same identity and its mail.
 *
 * The fuzzer never forges what only the browser may send (an Origin equal to the app's, or
 * Sec-Fetch-Site: same-origin): with those and the real cookie, POST /api/logout is a real sign-out.
 */
import fc from 'fast-check';
import { createRoutes } from '../../src/routes';
import { SESSION_COOKIE } from '../../src/auth/session-cookie';
import type { TestApp } from '../support/app';
import { emulators } from '../support/emulators';
import { Browser } from '../support/http-client';
import { useOwnClientApp } from '../support/own-client-app';
import { signIn } from '../support/sign-in';

const SEED = 20_261_604;
/** Requests per route × method: 23 combinations, about 900 requests, 10-20 s on a 2-core machine. */
const RUNS_PER_COMBINATION = 40;
const CANARY = /<fz\d+>/;
const OTHER_METHODS = ['PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

const QUERY_NAMES = ['returnTo', 'state', 'code', 'cursor', 'top', 'unread', 'error', 'error_description', 'iss', 'claims', 'prompt', 'loginHint', 'domainHint', 'x'];
const NASTY = ['//evil.example', '/\\evil.example', 'javascript:alert(1)', '%2F%2Fevil', '%00', '\u2028', '../../', '{"a":', 'A'.repeat(5000), '', ' ', '%', '%%25'];

/** Printable ASCII without the cookie separators: what a header or cookie value can carry. */
const headerSafe = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 });

let canaries = 0;
/** A random value with a unique canary tag somewhere in it (filled in at request time). */
const tainted = (base: fc.Arbitrary<string>): fc.Arbitrary<(tag: string) => string> =>
  fc.tuple(base, fc.constantFrom(...NASTY), fc.nat(2)).map(([text, nasty, where]) => (tag: string) =>
    where === 0 ? `${tag}${text}` : where === 1 ? `${text}"'${tag}${nasty}` : `${nasty}${text}${tag}`,
  );

/** A sign-in started for real at /api/login: its transaction cookie and its state. */
interface Transaction {
  readonly cookie: string;
  readonly state: string;
}

interface FuzzInput {
  readonly signedIn: boolean;
  /** Index of a genuine transaction to send along (its cookie, and its state in the query or form). */
  readonly transaction: number | undefined;
  readonly query: readonly [string, (tag: string) => string][];
  /** The parameters of an authorization response, each present or not (the callback's own). */
  readonly oauth: Partial<Record<'code' | 'error' | 'error_description' | 'iss', (tag: string) => string>>;
  readonly cookies: readonly [string, (tag: string) => string][];
  readonly headers: readonly [string, (tag: string) => string][];
  readonly contentType: string | undefined;
  readonly body: ((tag: string) => string) | undefined;
}

/**
 * Session cookie values an attacker would try: the real account (not a secret) with a random id,
 * in the format before the MAC and in the current one with a made-up or borrowed MAC.
 */
function forgedSessionValues(real: string): fc.Arbitrary<(tag: string) => string> {
  const [, oid, tid, mac, kid] = real.split('.');
  const id = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'), minLength: 43, maxLength: 43 });
  return fc.tuple(id, id, fc.nat(2)).map(([random, otherMac, shape]) => () =>
    shape === 0 ? `${random}.${oid}.${tid}` : shape === 1 ? `${random}.${oid}.${tid}.${otherMac}.${kid}` : `${random}.${oid}.${tid}.${mac}.${kid}`,
  );
}

function inputs(origin: string, realSession: string, transactions: number): fc.Arbitrary<FuzzInput> {
  const cookieName = fc.constantFrom(SESSION_COOKIE, '__Host-txn-AAAAAAAAAAAAAAAA', '__Host-txn-x', '__Host-other', 'a', '');
  const cookieValue = tainted(headerSafe).map((f) => (tag: string) => f(tag).replace(/[;\x00-\x1f\x7f-\uffff]/g, '_'));
  const cookie = fc.oneof(
    fc.tuple(cookieName, cookieValue),
    forgedSessionValues(realSession).map((value) => [SESSION_COOKIE, value] as [string, (tag: string) => string]),
  );
  const headerValue = (name: string): fc.Arbitrary<(tag: string) => string> =>
    name === 'origin'
      ? fc.constantFrom('null', `${origin}.evil.example`, origin.replace('http:', 'https:'), 'https://evil.example').map((v) => () => v)
      : name === 'sec-fetch-site'
        ? fc.constantFrom('cross-site', 'same-site', 'none').map((v) => () => v)
        : tainted(headerSafe).map((f) => (tag: string) => f(tag).replace(/[^\x20-\x7e]/g, '?'));
  const header = fc.constantFrom('origin', 'sec-fetch-site', 'accept', 'referer', 'x-forwarded-host', 'x-requested-with', 'user-agent').chain((name) => headerValue(name).map((value) => [name, value] as [string, (tag: string) => string]));
  return fc.record({
    signedIn: fc.boolean(),
    transaction: fc.option(fc.nat(transactions - 1), { nil: undefined, freq: 3 }),
    oauth: fc.record(
      {
        code: tainted(fc.string({ maxLength: 40 })),
        error: fc.oneof(fc.constantFrom('access_denied', 'consent_required', 'server_error').map((v) => () => v), tainted(fc.string({ maxLength: 20 }))),
        error_description: tainted(fc.string({ maxLength: 80 })),
        iss: fc.oneof(fc.constant(() => emulatedIssuer()), tainted(fc.string({ maxLength: 40 }))),
      },
      { requiredKeys: [] },
    ),
    query: fc.array(fc.tuple(fc.oneof(fc.constantFrom(...QUERY_NAMES), fc.string({ maxLength: 8 })), tainted(fc.string({ maxLength: 60 }))), { maxLength: 5 }),
    cookies: fc.array(cookie, { maxLength: 3 }),
    headers: fc.array(header, { maxLength: 4 }),
    contentType: fc.option(fc.constantFrom('application/x-www-form-urlencoded', 'application/json', 'text/plain', 'multipart/form-data; boundary=x'), { nil: undefined }),
    body: fc.option(
      fc.oneof(
        tainted(fc.string({ maxLength: 200 })),
        fc.array(fc.tuple(fc.constantFrom(...QUERY_NAMES), tainted(fc.string({ maxLength: 40 }))), { maxLength: 4 }).map(
          (pairs) => (tag: string) => new URLSearchParams(pairs.map(([k, v]): [string, string] => [k, v(tag)])).toString(),
        ),
      ),
      { nil: undefined },
    ),
  });
}

const emulatedIssuer = (): string => `${emulators().entra.url.replace(/\/$/, '')}/${emulators().entra.tenantId}/v2.0`;

describe('fuzzing every route × method', () => {
  const user = emulators().entra.users[0]!;
  const own = useOwnClientApp({ realClock: true });
  let app: TestApp;
  let realCookie: string;
  let identity: string;
  /** Genuine sign-ins in progress: with one, the callback gets as far as rendering the provider's error. */
  const transactions: Transaction[] = [];

  beforeAll(async () => {
    app = own.app();
    const browser = new Browser();
    await signIn(browser, app.url, user.username);
    realCookie = browser.jar.get(app.url, SESSION_COOKIE)!.value;
    const me = await fetch(`${app.url}/api/me`, { headers: { cookie: `${SESSION_COOKIE}=${realCookie}` } });
    expect(me.status).toBe(200);
    identity = await me.text();
    for (let i = 0; i < 40; i++) {
      const started = new Browser();
      const hop = await started.request(`${app.url}/api/login?returnTo=%2F`);
      transactions.push({ cookie: started.jar.header(`${app.url}/api/callback`), state: new URL(hop.location!).searchParams.get('state')! });
    }
  });

  const table = createRoutes(() => Promise.reject(new Error('only the paths and methods are read here')));
  const combinations: [string, string][] = [
    ...table.flatMap((route) => route.methods.map((method): [string, string] => [route.path, method])),
    ...table.map((route, i): [string, string] => [route.path, OTHER_METHODS[i % OTHER_METHODS.length]!]),
    ['/api/nothing-here', 'GET'],
    ['/api/nothing-here', 'POST'],
  ];
  it('covers every route and method the table declares, and one it does not per route', () => {
    const declared = table.flatMap((route) => route.methods.map((method) => `${method} ${route.path}`));
    const fuzzed = new Set(combinations.map(([p, m]) => `${m} ${p}`));
    expect(declared.filter((c) => !fuzzed.has(c))).toEqual([]);
    expect(fuzzed.size).toBe(combinations.length);
  });

  it.each(combinations.map(([path, method], index) => [method, path, index] as const))('%s %s', async (method, path, index) => {
    const failures: string[] = [];
    await fc.assert(
      fc.asyncProperty(inputs(app.url, realCookie, transactions.length), async (input) => {
        const tag = `<fz${++canaries}>`;
        const transaction = input.transaction === undefined ? undefined : transactions[input.transaction]!;
        const params = new URLSearchParams(input.query.map(([k, v]): [string, string] => [k, v(tag)]));
        for (const [name, value] of Object.entries(input.oauth)) params.set(name, value(tag));
        if (transaction) params.set('state', transaction.state);
        const query = params.toString();
        const cookies = input.cookies.filter(([name]) => !(input.signedIn && name === SESSION_COOKIE)).map(([name, value]) => `${name}=${value(tag)}`);
        if (input.signedIn) cookies.unshift(`${SESSION_COOKIE}=${realCookie}`);
        if (transaction) cookies.unshift(transaction.cookie);
        const headers = new Headers(input.headers.map(([name, value]): [string, string] => [name, value(tag)]));
        if (cookies.length > 0) headers.set('cookie', cookies.join('; '));
        const form = method === 'POST' && transaction !== undefined;
        const hasBody = method !== 'GET' && method !== 'HEAD' && (input.body !== undefined || form);
        if (form) headers.set('content-type', 'application/x-www-form-urlencoded');
        else if (hasBody && input.contentType) headers.set('content-type', input.contentType);
        // A form post carries the callback's parameters in its body (response_mode=form_post).
        const requestBody = form ? query : hasBody ? input.body!(tag) : undefined;

        const before = { ...app.services.storageTraffic };
        const response = await fetch(`${app.url}${path}${query ? `?${query}` : ''}`, {
          method,
          headers,
          redirect: 'manual',
          ...(requestBody !== undefined ? { body: requestBody } : {}),
        });
        const body = await response.text();
        const cost = { reads: app.services.storageTraffic.reads - before.reads, writes: app.services.storageTraffic.writes - before.writes };

        const what = `${method} ${path} (${input.signedIn ? 'signed in' : 'anonymous'}${transaction ? ', with a transaction' : ''}) -> ${response.status}`;
        if (response.status >= 500 && !(response.status === 503 && response.headers.get('retry-after'))) failures.push(`${what}: a 5xx`);
        if (CANARY.test(body)) failures.push(`${what}: the body reflects an input unescaped`);
        for (const [name, value] of response.headers) if (CANARY.test(value)) failures.push(`${what}: header ${name} reflects an input`);
        // A genuine transaction with a code is a sign-in: it spends the transaction (one write).
        const anonymous = !input.signedIn && transaction === undefined;
        if (anonymous && (cost.reads > 0 || cost.writes > 0)) failures.push(`${what}: anonymous request cost ${cost.reads} reads, ${cost.writes} writes`);
        return failures.length === 0;
      }),
      { seed: SEED + index, numRuns: RUNS_PER_COMBINATION, endOnFailure: true },
    ).catch((error: unknown) => {
      throw new Error(`${failures.join('\n')}\n${(error as Error).message.split('\n').slice(0, 3).join('\n')}`);
    });
    expect(failures).toEqual([]);
  });

  it('leaves the real session intact: same identity, mail still served', async () => {
    const headers = { cookie: `${SESSION_COOKIE}=${realCookie}` };
    const me = await fetch(`${app.url}/api/me`, { headers });
    expect(me.status).toBe(200);
    expect(await me.text()).toBe(identity);
    const mail = await fetch(`${app.url}/api/mail?top=1`, { headers });
    expect(mail.status).toBe(200);
  });
});
