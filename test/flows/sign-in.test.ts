import type { RememberingSessionStore } from '../../src/auth/session-memory';
import { storageUnavailable } from '../../src/storage/tables';
import { startTestApp, type TestApp } from '../support/app';
import { Browser, parseForm } from '../support/http-client';
import { carrySession, signIn, startLogin } from '../support/sign-in';
import { emulators, entraAdmin } from '../support/emulators';
import fixture from '../auth/fixtures/open-redirects.json';

const HOUR = 3600_000;

describe('sign-in, sessions and sign-out', () => {
  let app: TestApp;
  const [adele, megan] = [emulators().entra.users[0]!, emulators().entra.users[1]!];

  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app.stop());

  async function me(browser: Browser) {
    const hop = await browser.request(`${app.url}/api/me`);
    return { status: hop.status, body: JSON.parse(hop.body) as Record<string, unknown> };
  }

  it('signs in with PKCE and a nonce, sets only the session cookie, and returns to returnTo', async () => {
    const browser = new Browser();
    const login = await startLogin(browser, app.url, 'returnTo=%2Finbox%3Fpage%3D2');
    expect(login.status).toBe(302);
    const authorize = new URL(login.location!);
    expect(authorize.origin + authorize.pathname).toBe(`${emulators().entra.url}${emulators().entra.tenantId}/oauth2/v2.0/authorize`.replace(/([^:])\/\//, '$1/'));
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorize.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(authorize.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(authorize.searchParams.get('nonce')).toBeTruthy();
    expect(authorize.searchParams.get('redirect_uri')).toBe(`${app.url}/api/callback`);
    expect(authorize.searchParams.get('scope')!.split(' ')).toEqual(expect.arrayContaining(['openid', 'profile', 'offline_access', 'Mail.Read']));
    const txnCookie = login.headers.getSetCookie().find((c) => c.startsWith('__Host-txn-'))!;
    expect(txnCookie).toMatch(/; Path=\/; Max-Age=600; Secure; HttpOnly; SameSite=Lax$/);

    const fresh = new Browser();
    const { last, hops } = await signIn(fresh, app.url, adele.username, '/api/login?returnTo=%2Finbox%3Fpage%3D2');
    const callback = hops.find((h) => h.url.startsWith(`${app.url}/api/callback`))!;
    expect(callback.status).toBe(302);
    expect(callback.location).toBe(`${app.url}/inbox?page=2`);
    const cookies = callback.headers.getSetCookie();
    expect(cookies.find((c) => c.startsWith('__Host-session='))).toMatch(/^__Host-session=[A-Za-z0-9_-]{43}\.[0-9a-f-]{36}\.[0-9a-f-]{36}\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9._-]+; Path=\/; Max-Age=\d+; Secure; HttpOnly; SameSite=Lax$/);
    expect(cookies.some((c) => /^__Host-txn-[^=]+=; Path=\/; Max-Age=0/.test(c))).toBe(true);
    expect(last.url).toBe(`${app.url}/inbox?page=2`);
    expect(await me(fresh)).toEqual({
      status: 200,
      body: {
        name: adele.name,
        username: adele.username,
        tenantId: emulators().entra.tenantId,
        idleExpiresAt: new Date(app.clock() + app.config.session.idleTimeoutSeconds * 1000).toISOString(),
        absoluteExpiresAt: new Date(app.clock() + app.config.session.absoluteTimeoutSeconds * 1000).toISOString(),
      },
    });
  });

  it('answers 401 login_required with a loginUrl when signed out', async () => {
    expect(await me(new Browser())).toEqual({ status: 401, body: { error: 'login_required', message: 'You are not signed in. Sign in to continue.', loginUrl: '/api/login?returnTo=%2F' } });
  });

  it('keeps two users apart in two cookie jars, and rotates the session id at every sign-in', async () => {
    const first = new Browser();
    const second = new Browser();
    await signIn(first, app.url, adele.username);
    await signIn(second, app.url, megan.username);
    expect((await me(first)).body['username']).toBe(adele.username);
    expect((await me(second)).body['username']).toBe(megan.username);

    const before = first.jar.get(app.url, '__Host-session')!.value;
    await signIn(first, app.url, adele.username);
    const after = first.jar.get(app.url, '__Host-session')!.value;
    expect(after).not.toBe(before);
    // The old id no longer works.
    const stale = new Browser();
    stale.jar.set(app.url, '__Host-session', before);
    expect((await me(stale)).status).toBe(401);
  });

  it('lets several tabs sign in at once', async () => {
    const browser = new Browser();
    const tabs = await Promise.all([1, 2, 3].map(() => startLogin(browser, app.url)));
    expect(new Set(tabs.map((t) => new URL(t.location!).searchParams.get('state'))).size).toBe(3);
    expect(browser.jar.all().filter((c) => c.name.startsWith('__Host-txn-'))).toHaveLength(3);
    const results = await Promise.all([adele, adele, adele].map(async (user, i) => {
      const page = await browser.follow(tabs[i]!.location!);
      const form = parseForm(page.at(-1)!.body, page.at(-1)!.url);
      return browser.submit(form.action, { ...form.fields, username: user.username, password: user.password });
    }));
    for (const hops of results) expect(hops.find((h) => h.url.startsWith(`${app.url}/api/callback`))?.status).toBe(302);
    expect((await me(browser)).status).toBe(200);
  });

  it('keeps at most four open sign-ins per browser, each cookie well under 4 KiB', async () => {
    const browser = new Browser();
    const claims = Buffer.from(JSON.stringify({ access_token: { nbf: { essential: true, value: '1'.repeat(600) } } })).toString('base64url');
    const returnTo = encodeURIComponent('/' + 'a'.repeat(500));
    let newest = '';
    for (let i = 0; i < 7; i++) {
      const hop = await startLogin(browser, app.url, `returnTo=${returnTo}&claims=${claims}`);
      const set = hop.headers.getSetCookie().filter((c) => !/Max-Age=0/.test(c));
      expect(set).toHaveLength(1);
      expect(set[0]!.length).toBeLessThan(3000);
      newest = new URL(hop.location!).searchParams.get('state')!;
      app.clock.advance(1000);
    }
    expect(browser.jar.all().filter((c) => c.name.startsWith('__Host-txn-'))).toHaveLength(4);
    expect(newest).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Sign-in still completes in that browser.
    await signIn(browser, app.url, adele.username);
    expect((await me(browser)).status).toBe(200);
  });

  it('starts a sign-in whatever claims or stray cookies a link or a browser brings', async () => {
    const claimsSent = async (query: string) => {
      const login = await startLogin(new Browser(), app.url, query);
      expect(login.status).toBe(302);
      return new URL(login.location!).searchParams.get('claims');
    };
    const plain = await claimsSent('returnTo=%2F'); // msal-node's own (client capabilities)
    for (const claims of ['{"id_token":"x"}', '{"access_token":null}', '{"userinfo":[]}']) {
      expect(await claimsSent(`returnTo=%2F&claims=${Buffer.from(claims).toString('base64url')}`)).toBe(plain); // ignored, not passed on
    }
    const stray = new Browser();
    const login = await stray.request(`${app.url}/api/login?returnTo=%2F`, { headers: { cookie: '__Host-txn-a b=x; __Host-txn-=y' } });
    expect(login.status).toBe(302);
    expect(login.headers.getSetCookie().filter((c) => /Max-Age=0/.test(c))).toEqual([]);
  });

  it('refuses a replayed callback', async () => {
    const browser = new Browser();
    const { hops } = await signIn(browser, app.url, adele.username);
    const callback = hops.find((h) => h.url.startsWith(`${app.url}/api/callback`))!;
    const replay = await browser.request(callback.url);
    expect(replay.status).toBe(400);
    expect(replay.body).toContain('login_transaction_invalid');

    // Even with the original transaction cookie put back, the transaction is spent on the server
    // (spent-transactions.ts): refused before the code goes anywhere near Entra.
    const attacker = new Browser();
    const start = await startLogin(attacker, app.url);
    const txn = attacker.jar.all().find((c) => c.name.startsWith('__Host-txn-'))!;
    const page = await attacker.follow(start.location!);
    const form = parseForm(page.at(-1)!.body, page.at(-1)!.url);
    const done = await attacker.submit(form.action, { ...form.fields, username: adele.username, password: adele.password });
    const cb = done.find((h) => h.url.startsWith(`${app.url}/api/callback`))!;
    attacker.jar.set(app.url, txn.name, txn.value);
    const second = await attacker.request(cb.url);
    expect(second.status).toBe(400);
    expect(second.body).toContain('login_transaction_invalid');
    expect(second.body).toContain('already used');
  });

  it('handles the provider\'s error with a readable page that escapes its text', async () => {
    const browser = new Browser();
    const start = await startLogin(browser, app.url, 'returnTo=%2Fmail');
    const state = new URL(start.location!).searchParams.get('state')!;
    const hop = await browser.request(`${app.url}/api/callback?state=${state}&error=access_denied&error_description=${encodeURIComponent('<script>alert(1)</script>')}`);
    expect(hop.status).toBe(400);
    expect(hop.headers.get('content-type')).toMatch(/^text\/html/);
    expect(hop.body).toContain('Sign-in was cancelled, or your organization does not allow this app.');
    expect(hop.body).toContain('href="/api/login?returnTo=%2Fmail"');
    expect(hop.body).not.toContain('<script>alert(1)</script>');
    expect(hop.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  describe('bad input never yields a 500 or an open redirect', () => {
    it.each(fixture.attacks)('returnTo %j falls back to /', async (attack) => {
      const browser = new Browser();
      const { hops } = await signIn(browser, app.url, adele.username, `/api/login?returnTo=${encodeURIComponent(attack)}`);
      const callback = hops.find((h) => h.url.startsWith(`${app.url}/api/callback`))!;
      expect(callback.location).toBe(`${app.url}/`);
    });

    const callbackCases: [string, (state: string) => string][] = [
      ['no state', () => 'code=abc'],
      ['unknown state', () => `state=${'A'.repeat(43)}&code=abc`],
      ['oversized state', () => `state=${'A'.repeat(5000)}&code=abc`],
      ['no code', (state) => `state=${state}`],
      ['a code from another transaction', (state) => `state=${state}&code=not-a-real-code`],
    ];
    it.each(callbackCases)('callback with %s -> 400 page', async (_name, query) => {
      const browser = new Browser();
      const start = await startLogin(browser, app.url);
      const state = new URL(start.location!).searchParams.get('state')!;
      const hop = await browser.request(`${app.url}/api/callback?${query(state)}`);
      expect(hop.status).toBe(400);
      expect(hop.headers.get('content-type')).toMatch(/^text\/html/);
    });

    it.each([
      ['tampered', (v: string) => v.slice(0, -4) + (v.endsWith('AAAA') ? 'BBBB' : 'AAAA')],
      ['truncated', (v: string) => v.slice(0, 20)],
      ['oversized', (v: string) => v + 'A'.repeat(3000)],
      ['foreign', () => 'v1.other.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ])('a %s transaction cookie -> 400 page', async (_name, mutate) => {
      const browser = new Browser();
      const start = await startLogin(browser, app.url);
      const state = new URL(start.location!).searchParams.get('state')!;
      const txn = browser.jar.all().find((c) => c.name.startsWith('__Host-txn-'))!;
      browser.jar.set(app.url, txn.name, mutate(txn.value));
      const hop = await browser.request(`${app.url}/api/callback?state=${state}&code=abc`);
      expect(hop.status).toBe(400);
      expect(hop.body).toContain('login_transaction_invalid');
    });

    it.each(['garbage', 'A'.repeat(43), 'A'.repeat(5000), '%00%0d%0a', ''])('session cookie %j reads as signed out', async (value) => {
      const browser = new Browser();
      browser.jar.set(app.url, '__Host-session', value);
      expect((await me(browser)).status).toBe(401);
    });

    it('a session id moved to another account, or another id on a real account, reads as signed out', async () => {
      const browser = new Browser();
      await signIn(browser, app.url, adele.username);
      const [id, oid, tid, mac, kid] = browser.jar.get(app.url, '__Host-session')!.value.split('.');
      // The MAC covers the id and the account as issued (src/auth/session-cookie.ts).
      const tampered = [
        `${id}.${megan.oid}.${tid}.${mac}.${kid}`, // signed for Adele's partition, not Megan's
        `${'A'.repeat(43)}.${oid}.${tid}.${mac}.${kid}`, // Adele's partition, an id that was never issued
        `${id}.${oid!.toUpperCase()}.${tid}.${mac}.${kid}`, // same account in other letters: not what was signed
        `${id}.${oid}.${tid}`, // the format before the MAC
        `${id}.${oid}.${tid}.${mac}.${kid}.x`, // a kid the ring does not have
        `${id}.../${tid}`,
        `${id}.${oid}.${tid}.${mac}.${kid}`, // untouched: still Adele's own session
      ];
      const statuses: number[] = [];
      for (const value of tampered) {
        const other = new Browser();
        other.jar.set(app.url, '__Host-session', value);
        statuses.push((await me(other)).status);
      }
      expect(statuses).toEqual([401, 401, 401, 401, 401, 401, 200]);
      expect((await me(browser)).status).toBe(200);
    });
  });

  it('expires a session after the idle timeout, and slides it with at most one write an hour', async () => {
    const browser = new Browser();
    await signIn(browser, app.url, adele.username);
    const touch = jest.spyOn(app.services.sessionStore, 'touch');
    try {
      for (let i = 0; i < 5; i++) {
        app.clock.advance(10 * 60_000);
        expect((await me(browser)).status).toBe(200);
      }
      expect(touch).toHaveBeenCalledTimes(0); // 50 minutes of activity: no write yet
      app.clock.advance(11 * 60_000);
      expect((await me(browser)).status).toBe(200);
      expect((await me(browser)).status).toBe(200);
      expect(touch).toHaveBeenCalledTimes(1); // past the hour: one write slides the expiry
    } finally {
      touch.mockRestore();
    }
    app.clock.advance(13 * 24 * HOUR);
    expect((await me(browser)).status).toBe(200); // slid: idle expiry is now 14 days from here
    app.clock.advance(13 * 24 * HOUR);
    expect((await me(browser)).status).toBe(200);
    app.clock.advance(14 * 24 * HOUR + 1);
    expect((await me(browser)).status).toBe(401);
  });

  it('expires a session at the absolute lifetime however active it is', async () => {
    const browser = new Browser();
    await signIn(browser, app.url, adele.username);
    for (let day = 0; day < 89; day += 7) {
      app.clock.advance(7 * 24 * HOUR);
      if (day + 7 < 90) expect((await me(browser)).status).toBe(200);
    }
    app.clock.advance(2 * 24 * HOUR);
    expect((await me(browser)).status).toBe(401);
  });

  it('signs out only through a same-origin POST', async () => {
    const browser = new Browser();
    await signIn(browser, app.url, adele.username);

    const confirm = await browser.request(`${app.url}/api/logout`);
    expect(confirm.status).toBe(200);
    expect(confirm.body).toContain('<form method="post" action="/api/logout">');
    expect((await me(browser)).status).toBe(200);

    const csrf = await browser.request(`${app.url}/api/logout`, { method: 'POST', headers: { origin: 'https://evil.example' } });
    expect(csrf.status).toBe(403);
    expect(csrf.body).toContain('forbidden_origin');
    const noOrigin = await browser.request(`${app.url}/api/logout`, { method: 'POST' });
    expect(noOrigin.status).toBe(403);
    const nullCrossSite = await browser.request(`${app.url}/api/logout`, { method: 'POST', headers: { origin: 'null', 'sec-fetch-site': 'cross-site' } });
    expect(nullCrossSite.status).toBe(403);
    expect((await me(browser)).status).toBe(200);

    const out = await browser.request(`${app.url}/api/logout`, { method: 'POST', headers: { origin: app.url } });
    expect(out.status).toBe(302);
    const endSession = new URL(out.location!);
    expect(endSession.href.startsWith(emulators().entra.url)).toBe(true);
    expect(endSession.searchParams.get('post_logout_redirect_uri')).toBe(`${app.url}/`);
    expect(out.headers.getSetCookie()).toContain('__Host-session=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax');
    expect((await me(browser)).status).toBe(401);
  });

  it('a sign-out takes effect at once where it happened, and at once on other instances despite their session memory', async () => {
    const other = await startTestApp();
    try {
      const browser = new Browser();
      await signIn(browser, app.url, adele.username);
      // A copy of the cookie (as a thief would hold it) on another instance behind the same load balancer.
      carrySession(browser, app, other);
      const meOn = async (url: string): Promise<number> => (await browser.request(`${url}/api/me`)).status;
      expect(await meOn(other.url)).toBe(200);

      expect((await browser.request(`${app.url}/api/logout`, { method: 'POST', headers: { origin: app.url } })).status).toBe(302);
      expect(await meOn(app.url)).toBe(401);
      // Still in the other instance's 30-second memory, but each use confirms the row (session-memory.ts).
      expect(await meOn(other.url)).toBe(401);
      expect((other.services.sessionStore as RememberingSessionStore).stats.endedElsewhere).toBe(1);
    } finally {
      await other.stop();
    }
  });

  it('signs out one device only; the last device out also removes the cached tokens', async () => {
    const user = await entraAdmin.createUser({ username: `two-devices-${Date.now()}@contoso.test` });
    const laptop = new Browser();
    const phone = new Browser();
    await signIn(laptop, app.url, user);
    await signIn(phone, app.url, user);
    const homeAccountId = `${user.oid}.${emulators().entra.tenantId}`;

    expect((await laptop.request(`${app.url}/api/logout`, { method: 'POST', headers: { origin: app.url } })).status).toBe(302);
    expect((await me(laptop)).status).toBe(401);
    expect((await me(phone)).status).toBe(200);
    expect((await phone.request(`${app.url}/api/mail?top=1`)).status).toBe(200);
    expect(await app.services.tokenCacheStore.read(homeAccountId)).toBeDefined();

    expect((await phone.request(`${app.url}/api/logout`, { method: 'POST', headers: { origin: app.url } })).status).toBe(302);
    expect(await app.services.tokenCacheStore.read(homeAccountId)).toBeUndefined();
  });

  it('a sign-in that lands while the account\'s last other device signs out keeps its tokens', async () => {
    const user = await entraAdmin.createUser({ username: `racing-devices-${Date.now()}@contoso.test` });
    const laptop = new Browser();
    const phone = new Browser();
    await signIn(laptop, app.url, user);
    const sessions = app.services.sessions;
    const noneLeft = sessions.noneLeft.bind(sessions);
    let raced = false;
    // The laptop's sign-out finds no other session; before it deletes the tokens, the phone signs in.
    sessions.noneLeft = async (homeAccountId: string) => {
      const none = await noneLeft(homeAccountId);
      if (!raced) {
        raced = true;
        await signIn(phone, app.url, user);
      }
      return none;
    };
    try {
      expect((await laptop.request(`${app.url}/api/logout`, { method: 'POST', headers: { origin: app.url } })).status).toBe(302);
    } finally {
      sessions.noneLeft = noneLeft;
    }
    expect(raced).toBe(true);
    expect((await me(laptop)).status).toBe(401);
    expect((await phone.request(`${app.url}/api/mail?top=1`)).status).toBe(200);
  });

  it('a sign-in whose tokens cannot be saved leaves no session behind, and deletes its one-time cookie', async () => {
    const user = await entraAdmin.createUser({ username: `unsaved-${Date.now()}@contoso.test` });
    const homeAccountId = `${user.oid}.${emulators().entra.tenantId}`;
    const tokens = app.services.tokens as { saveSignIn(homeAccountId: string, cache: string): Promise<void> };
    const saveSignIn = tokens.saveSignIn.bind(tokens);
    tokens.saveSignIn = async () => {
      throw storageUnavailable(new Error('storage answered 503'));
    };
    const browser = new Browser();
    try {
      const { hops } = await signIn(browser, app.url, user);
      const callback = hops.find((h) => h.url.startsWith(`${app.url}/api/callback`))!;
      expect(callback.status).toBe(503);
      expect(callback.body).toContain('storage_unavailable');
    } finally {
      tokens.saveSignIn = saveSignIn;
    }
    expect(browser.jar.all().filter((c) => c.name.startsWith('__Host-'))).toEqual([]);
    expect(await app.services.sessionStore.countLiveForAccount(homeAccountId, Date.now())).toBe(0);
  });

  it('a sign-in as someone else that fails leaves the browser signed in as before, tokens and all', async () => {
    const stamp = Date.now();
    const [first, second] = await Promise.all(['first', 'second'].map((name) => entraAdmin.createUser({ username: `failed-switch-${name}-${stamp}@contoso.test` })));
    const browser = new Browser();
    await signIn(browser, app.url, first!);
    const tokens = app.services.tokens as { saveSignIn(homeAccountId: string, cache: string): Promise<void> };
    const saveSignIn = tokens.saveSignIn.bind(tokens);
    tokens.saveSignIn = async () => {
      throw storageUnavailable(new Error('storage answered 503'));
    };
    try {
      const { hops } = await signIn(browser, app.url, second!, '/api/login?returnTo=%2F&prompt=login');
      expect(hops.find((h) => h.url.startsWith(`${app.url}/api/callback`))!.status).toBe(503);
    } finally {
      tokens.saveSignIn = saveSignIn;
    }
    expect(await me(browser)).toMatchObject({ status: 200, body: { username: first!.username } });
    expect((await browser.request(`${app.url}/api/mail?top=1`)).status).toBe(200);
  });

  it('signing in as someone else in the same browser ends the first account\'s session there, and its tokens when no other device uses them', async () => {
    const stamp = Date.now();
    const [first, second, third] = await Promise.all(['first', 'second', 'third'].map((name) => entraAdmin.createUser({ username: `switch-${name}-${stamp}@contoso.test` })));
    const tokensOf = (user: { oid: string }) => app.services.tokenCacheStore.read(`${user.oid}.${emulators().entra.tenantId}`);
    const shared = new Browser();
    await signIn(shared, app.url, first!);
    await signIn(shared, app.url, second!, '/api/login?returnTo=%2F&prompt=login'); // Entra would otherwise sign `first` in again (SSO)
    expect((await me(shared)).body).toMatchObject({ username: second!.username });
    expect(await tokensOf(first!)).toBeUndefined(); // nobody is signed in as `first` any more
    expect(await tokensOf(second!)).toBeDefined();

    const phone = new Browser();
    await signIn(phone, app.url, second!);
    await signIn(shared, app.url, third!, '/api/login?returnTo=%2F&prompt=login');
    expect(await tokensOf(second!)).toBeDefined(); // the phone still uses them
    expect((await phone.request(`${app.url}/api/mail?top=1`)).status).toBe(200);
  });

  it('forgets a user: every session on every device and every cached token', async () => {
    const laptop = new Browser();
    const phone = new Browser();
    await signIn(laptop, app.url, megan.username);
    await signIn(phone, app.url, megan.username);
    const homeAccountId = `${megan.oid}.${emulators().entra.tenantId}`;
    expect(await app.services.tokenCacheStore.read(homeAccountId)).toBeDefined();

    const page = await laptop.request(`${app.url}/api/forget`);
    expect(page.status).toBe(200);
    const done = await laptop.request(`${app.url}/api/forget`, { method: 'POST', headers: { origin: app.url } });
    expect(done.status).toBe(200);
    expect(done.body).toContain('My Apps');
    expect(done.body).toContain('service principal');
    expect((await me(laptop)).status).toBe(401);
    expect((await me(phone)).status).toBe(401);
    expect(await app.services.tokenCacheStore.read(homeAccountId)).toBeUndefined();
  });

  it('never logs or returns a token, code, verifier or session id', async () => {
    const browser = new Browser();
    const { hops } = await signIn(browser, app.url, adele.username);
    await me(browser);
    const secrets: string[] = [browser.jar.get(app.url, '__Host-session')!.value];
    for (const hop of hops) {
      const url = new URL(hop.url);
      for (const name of ['code']) {
        const value = url.searchParams.get(name);
        if (value) secrets.push(value);
      }
    }
    const homeAccountId = `${adele.oid}.${emulators().entra.tenantId}`;
    const cache = JSON.parse((await app.services.tokenCacheStore.read(homeAccountId))!.data) as Record<string, Record<string, { secret: string }>>;
    for (const section of ['AccessToken', 'RefreshToken', 'IdToken']) for (const entry of Object.values(cache[section] ?? {})) secrets.push(entry.secret);
    expect(secrets.length).toBeGreaterThan(4);
    const appBodies = hops.filter((h) => h.url.startsWith(app.url)).map((h) => h.body + JSON.stringify([...h.headers.entries()].filter(([n]) => n !== 'set-cookie')));
    for (const secret of secrets) {
      for (const line of app.logs) expect(line).not.toContain(secret);
      for (const body of appBodies) expect(body).not.toContain(secret);
    }
  });
});
