/**
 * TENANT_ID's modes against the emulated Entra's tenants (Contoso, the home tenant; Fabrikam; the
 * personal-account tenant): sign-in, mail and refresh through the alias authorities, the allow-list
 * (a refused tenant stores nothing: checked in Azurite), a tenant removed from the list, sign-out
 * through /organizations with the logout_hint, and admin consent.
 */
import { TableClient } from '@azure/data-tables';
import { PERSONAL_ACCOUNTS_TENANT_ID } from '../../src/auth/issuer';
import { TABLES } from '../../src/storage/tables';
import { startTestApp, type TestApp } from '../support/app';
import { emulators, entraAdmin, type EntraTestClient, type EntraUser } from '../support/emulators';
import { Browser, parseForm } from '../support/http-client';
import { rowKeysOf } from '../support/session-rows';
import { carrySession, signIn, startLogin } from '../support/sign-in';

const home = () => emulators().entra.tenants.find((t) => t.id === emulators().entra.tenantId)!;
const fabrikam = () => emulators().entra.tenants.find((t) => !t.personal && t.id !== emulators().entra.tenantId)!;

/** Every row (sessions, token cache, lease) the app holds in the user's partition. */
async function rowsOf(user: EntraUser): Promise<string[]> {
  const table = TableClient.fromConnectionString(emulators().tables.connectionString, TABLES.accounts, { allowInsecureConnection: true });
  try {
    return await rowKeysOf(table, `${user.oid}.${user.tenantId ?? emulators().entra.tenantId}`);
  } catch (error) {
    // No table yet (this file run alone, before anything was stored): no rows either.
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    return [];
  }
}

async function json(browser: Browser, url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const hop = await browser.request(url);
  return { status: hop.status, body: JSON.parse(hop.body) as Record<string, unknown> };
}

describe('multi-tenant sign-in', () => {
  let client: EntraTestClient;
  const apps: TestApp[] = [];
  const appWith = async (env: Record<string, string>): Promise<TestApp> => {
    const app = await startTestApp({ env: { ...client.env, ...env }, realClock: true });
    apps.push(app);
    return app;
  };
  const newUser = (domain: string): Promise<EntraUser> =>
    entraAdmin.createUser({ username: `t-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@${domain}` });

  beforeAll(async () => {
    client = await entraAdmin.createClient();
  });
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop()));
  });

  it('the emulated Entra has two organizations and the personal-account tenant, with the templated issuer at its alias authorities', async () => {
    const { tenants, url } = emulators().entra;
    expect(tenants.map((t) => t.personal)).toEqual([false, false, true]);
    expect(tenants[2]!.id).toBe(PERSONAL_ACCOUNTS_TENANT_ID);
    for (const alias of ['organizations', 'common', 'consumers']) {
      const doc = (await (await fetch(`${url}${alias}/v2.0/.well-known/openid-configuration`)).json()) as Record<string, string>;
      expect(doc['issuer']).toBe(`${url}{tenantid}/v2.0`);
      expect(doc['authorization_endpoint']).toBe(`${url}${alias}/oauth2/v2.0/authorize`);
      expect(doc['token_endpoint']).toBe(`${url}${alias}/oauth2/v2.0/token`);
    }
    const second = (await (await fetch(`${url}${fabrikam().id}/v2.0/.well-known/openid-configuration`)).json()) as Record<string, string>;
    expect(second['issuer']).toBe(`${url}${fabrikam().id}/v2.0`);
  });

  describe('TENANT_ID=organizations', () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await appWith({ TENANT_ID: 'organizations', ALLOWED_TENANTS: `${home().id},${fabrikam().id}` });
    });

    it('signs in a user of the second organization through /organizations, reads their mail and refreshes', async () => {
      const alex = await newUser('fabrikam.test');
      expect(alex.tenantId).toBe(fabrikam().id);
      const browser = new Browser();
      const login = await startLogin(browser, app.url);
      expect(new URL(login.location!).pathname).toBe('/organizations/oauth2/v2.0/authorize');
      const { last } = await signIn(browser, app.url, alex);
      expect(last.status).toBe(200);
      expect(last.body).toContain(`organization ${fabrikam().id}`);
      expect(await json(browser, `${app.url}/api/me`)).toEqual({ status: 200, body: { name: alex.name, username: alex.username, tenantId: fabrikam().id, idleExpiresAt: expect.any(String), absoluteExpiresAt: expect.any(String) } });
      const mail = await json(browser, `${app.url}/api/mail?top=2`);
      expect(mail.status).toBe(200);
      expect((mail.body['messages'] as unknown[]).length).toBeGreaterThan(0);
      expect((await rowsOf(alex)).length).toBeGreaterThanOrEqual(2); // a session and the token cache

      // A refresh through the alias authority's token endpoint, with the refresh token of another tenant's user.
      await client.admin.resetStats();
      const homeAccountId = `${alex.oid}.${fabrikam().id}`;
      const token = await app.services.tokens.acquire(homeAccountId, app.config.graphScopes, { forceRefresh: true, returnTo: '/' });
      expect(token.accessToken).toBeTruthy();
      expect((await client.admin.stats()).refreshTokenRedemptions).toBe(1);
      expect((await json(browser, `${app.url}/api/mail?top=1`)).status).toBe(200);
    });

    it('signs in a user of the home tenant too', async () => {
      const user = await newUser('contoso.test');
      const browser = new Browser();
      await signIn(browser, app.url, user);
      expect((await json(browser, `${app.url}/api/me`)).body['tenantId']).toBe(home().id);
    });

    it('refuses a personal account at Entra: /organizations does not sign it in', async () => {
      const sam = await newUser('outlook.test');
      const { last } = await signIn(new Browser(), app.url, sam);
      expect(last.url.startsWith(emulators().entra.url)).toBe(true);
      expect(last.body).toContain('AADSTS50020');
      expect(await rowsOf(sam)).toEqual([]);
    });

    it('signs out through /organizations with the logout_hint that names the account and its tenant', async () => {
      const alex = await newUser('fabrikam.test');
      const browser = new Browser();
      await signIn(browser, app.url, alex);
      await client.admin.resetStats();
      const out = await browser.request(`${app.url}/api/logout`, { method: 'POST', headers: { origin: app.url } });
      expect(out.status).toBe(302);
      const endSession = new URL(out.location!);
      expect(endSession.pathname).toBe('/organizations/oauth2/v2.0/logout');
      expect(endSession.searchParams.get('logout_hint')).toBeTruthy();
      const confirm = await browser.request(out.location!);
      expect(confirm.status).toBe(200);
      expect((await client.admin.stats()).lastLogoutHint).toEqual({ oid: alex.oid, tid: fabrikam().id });
      const form = parseForm(confirm.body, confirm.url);
      const done = await browser.post(form.action, form.fields);
      expect(done.status).toBe(303);
      // The session at Entra is over: the next sign-in asks for the account again.
      const again = await browser.follow(`${app.url}/api/login?returnTo=%2F`);
      expect(again.at(-1)!.body).toContain('name="password"');
      expect(await rowsOf(alex)).toEqual([]);
    });
  });

  describe('ALLOWED_TENANTS refuses a tenant', () => {
    it('answers 403 tenant_not_allowed, logs the tenant id, and stores no session and no token-cache row', async () => {
      const app = await appWith({ TENANT_ID: 'organizations', ALLOWED_TENANTS: home().id });
      const alex = await newUser('fabrikam.test');
      const browser = new Browser();
      const { hops } = await signIn(browser, app.url, alex);
      const callback = hops.find((h) => h.url.startsWith(`${app.url}/api/callback`))!;
      expect(callback.status).toBe(403);
      expect(callback.body).toContain('<code>tenant_not_allowed</code>');
      expect(callback.body).toContain('Your organization is not (or no longer) allowed to use this app.');
      expect(callback.headers.getSetCookie().some((c) => c.startsWith('__Host-session='))).toBe(false);
      expect(app.logs.filter((l) => l.includes('sign-in refused'))).toEqual([
        `warning callback: sign-in refused: tenant_not_allowed, tenant ${fabrikam().id}; nothing stored`,
      ]);
      expect(await rowsOf(alex)).toEqual([]);
      expect((await json(browser, `${app.url}/api/me`)).status).toBe(401);
    });

    it("refuses an authorization response whose iss (RFC 9207) is not the user's tenant's issuer: 403 issuer_mismatch, nothing stored", async () => {
      const app = await appWith({ TENANT_ID: 'organizations', ALLOWED_TENANTS: '*' });
      const alex = await newUser('fabrikam.test');
      const browser = new Browser();
      const page = (await browser.follow(`${app.url}/api/login?returnTo=%2F`)).at(-1)!;
      const form = parseForm(page.body, page.url);
      const hops = await browser.follow(form.action, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ ...form.fields, username: alex.username, password: alex.password }).toString(),
      }, 2);
      const answer = new URL(hops.at(-1)!.location!);
      expect(answer.searchParams.get('iss')).toBe(`${emulators().entra.url}${fabrikam().id}/v2.0`);
      // Another tenant's issuer, still a valid instance of the template: only the tid-bound rule refuses it.
      answer.searchParams.set('iss', `${emulators().entra.url}${home().id}/v2.0`);
      const callback = await browser.request(answer.href);
      expect(callback.status).toBe(403);
      expect(callback.body).toContain('<code>issuer_mismatch</code>');
      expect(app.logs.filter((l) => l.includes('sign-in refused'))).toEqual([`warning callback: sign-in refused: issuer_mismatch, tenant ${fabrikam().id}; nothing stored`]);
      expect(await rowsOf(alex)).toEqual([]);
    });

    it('a tenant removed from the list since sign-in: login_required saying why, and its rows are removed', async () => {
      const both = await appWith({ TENANT_ID: 'organizations', ALLOWED_TENANTS: `${home().id},${fabrikam().id}` });
      const alex = await newUser('fabrikam.test');
      const browser = new Browser();
      await signIn(browser, both.url, alex);
      expect((await json(browser, `${both.url}/api/mail?top=1`)).status).toBe(200);
      expect((await rowsOf(alex)).length).toBeGreaterThanOrEqual(2);

      // The same storage and keys, redeployed with Fabrikam off the list.
      const narrowed = await appWith({ TENANT_ID: 'organizations', ALLOWED_TENANTS: home().id});
      carrySession(browser, both, narrowed);
      const refused = await json(browser, `${narrowed.url}/api/mail?top=1`);
      expect(refused).toEqual({
        status: 401,
        body: {
          error: 'login_required',
          message: "Your organization is not (or no longer) allowed to use this app. Ask the app's administrator to allow it, or sign in with another account.",
          loginUrl: '/api/login?returnTo=%2F&prompt=login',
          reason: 'tenant_not_allowed',
        },
      });
      expect(await rowsOf(alex)).toEqual([]);
      expect(narrowed.logs.some((l) => l.includes(`session refused: tenant_not_allowed, tenant ${fabrikam().id}`))).toBe(true);
    });

    it('the page explains it too', async () => {
      const both = await appWith({ TENANT_ID: 'organizations', ALLOWED_TENANTS: '*' });
      const alex = await newUser('fabrikam.test');
      const browser = new Browser();
      await signIn(browser, both.url, alex);
      const narrowed = await appWith({ TENANT_ID: 'organizations', ALLOWED_TENANTS: home().id});
      carrySession(browser, both, narrowed);
      const page = await browser.request(`${narrowed.url}/`);
      expect(page.status).toBe(200);
      expect(page.body).toContain('Your organization is not (or no longer) allowed to use this app.');
      expect(await rowsOf(alex)).toEqual([]);
    });
  });

  describe('TENANT_ID=common', () => {
    it('signs in a personal account and an organization user, and reads the personal mailbox', async () => {
      const app = await appWith({ TENANT_ID: 'common', ALLOWED_TENANTS: `${fabrikam().id},consumers` });
      const sam = await newUser('outlook.test');
      expect(sam.tenantId).toBe(PERSONAL_ACCOUNTS_TENANT_ID);
      const browser = new Browser();
      const login = await startLogin(browser, app.url);
      expect(new URL(login.location!).pathname).toBe('/common/oauth2/v2.0/authorize');
      const { last } = await signIn(browser, app.url, sam);
      expect(last.status).toBe(200);
      expect(last.body).toContain('personal account');
      expect((await json(browser, `${app.url}/api/me`)).body['tenantId']).toBe(PERSONAL_ACCOUNTS_TENANT_ID);
      expect((await json(browser, `${app.url}/api/mail?top=1`)).status).toBe(200);

      const alex = await newUser('fabrikam.test');
      const other = new Browser();
      await signIn(other, app.url, alex);
      expect((await json(other, `${app.url}/api/mail?top=1`)).status).toBe(200);

      // Contoso is not on this list.
      const adele = await newUser('contoso.test');
      const { hops } = await signIn(new Browser(), app.url, adele);
      expect(hops.find((h) => h.url.startsWith(`${app.url}/api/callback`))!.status).toBe(403);
      expect(await rowsOf(adele)).toEqual([]);
    });

    it('refuses personal accounts unless "consumers" is listed', async () => {
      const app = await appWith({ TENANT_ID: 'common', ALLOWED_TENANTS: home().id });
      const sam = await newUser('outlook.test');
      const { hops } = await signIn(new Browser(), app.url, sam);
      const callback = hops.find((h) => h.url.startsWith(`${app.url}/api/callback`))!;
      expect(callback.status).toBe(403);
      expect(callback.body).toContain('Personal Microsoft accounts are not allowed to use this app.');
      expect(await rowsOf(sam)).toEqual([]);
    });
  });

  describe('TENANT_ID=consumers', () => {
    it('signs in personal accounts only', async () => {
      const app = await appWith({ TENANT_ID: 'consumers' });
      const sam = await newUser('outlook.test');
      const browser = new Browser();
      await signIn(browser, app.url, sam);
      expect((await json(browser, `${app.url}/api/mail?top=1`)).status).toBe(200);
      const alex = await newUser('fabrikam.test');
      const { last } = await signIn(new Browser(), app.url, alex);
      expect(last.body).toContain('AADSTS9002331');
      expect(await rowsOf(alex)).toEqual([]);
    });
  });

  describe('a single tenant (the second organization by its id)', () => {
    it('signs its users in with their own issuer, and Entra refuses the other organization\'s', async () => {
      const app = await appWith({ TENANT_ID: fabrikam().id });
      const alex = await newUser('fabrikam.test');
      const browser = new Browser();
      await signIn(browser, app.url, alex);
      expect((await json(browser, `${app.url}/api/mail?top=1`)).status).toBe(200);
      const adele = await newUser('contoso.test');
      const { last } = await signIn(new Browser(), app.url, adele);
      expect(last.body).toContain('AADSTS50020');
    });
  });

  describe('admin consent', () => {
    it('redirects to the v2 adminconsent endpoint with the registered callback, and shows the outcome', async () => {
      const app = await appWith({ TENANT_ID: 'organizations', ALLOWED_TENANTS: '*' });
      const browser = new Browser();
      const start = await browser.request(`${app.url}/api/admin-consent?tenant=${fabrikam().id}`);
      expect(start.status).toBe(302);
      const target = new URL(start.location!);
      expect(`${target.origin}${target.pathname}`).toBe(`${emulators().entra.url}${fabrikam().id}/v2.0/adminconsent`);
      expect(target.searchParams.get('client_id')).toBe(client.clientId);
      expect(target.searchParams.get('redirect_uri')).toBe(`${app.url}/api/admin-consent/callback`);
      const hops = await browser.follow(start.location!);
      const outcome = hops.at(-1)!;
      expect(outcome.url.startsWith(`${app.url}/api/admin-consent/callback?`)).toBe(true);
      expect(outcome.status).toBe(200);
      expect(outcome.body).toContain(`Your organization (tenant <code>${fabrikam().id}</code>) has approved this app`);
      expect((await client.admin.stats()).adminConsents[fabrikam().id]).toBeGreaterThanOrEqual(1);

      const any = await browser.request(`${app.url}/api/admin-consent`);
      expect(new URL(any.location!).pathname).toBe('/organizations/v2.0/adminconsent');
    });

    it('shows an error escaped, refuses an outcome it did not ask for, and a bad tenant', async () => {
      const app = await appWith({ TENANT_ID: 'organizations', ALLOWED_TENANTS: '*' });
      const browser = new Browser();
      const start = await browser.request(`${app.url}/api/admin-consent`);
      const state = new URL(start.location!).searchParams.get('state')!;
      const error = await browser.request(
        `${app.url}/api/admin-consent/callback?${new URLSearchParams({ state, error: 'access_denied', error_description: '<script>x</script>' })}`,
      );
      expect(error.status).toBe(200);
      expect(error.body).toContain('<code>access_denied</code>');
      expect(error.body).toContain('&lt;script&gt;x&lt;/script&gt;');
      expect(error.body).not.toContain('<script>x');

      const forged = await new Browser().request(`${app.url}/api/admin-consent/callback?admin_consent=True&tenant=${fabrikam().id}&state=abc`);
      expect(forged.status).toBe(400);
      expect(forged.body).not.toContain('has approved');

      const bad = await browser.request(`${app.url}/api/admin-consent?tenant=${encodeURIComponent('x/../y')}`);
      expect(bad.status).toBe(400);
      expect(bad.body).toContain('bad_request');
    });
  });
});
