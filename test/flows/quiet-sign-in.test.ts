/**
 * Quiet re-sign-in (issue 15): when the refresh token is gone or refused but the person is still
 * signed in at Entra, the page tries one top-level `prompt=none` redirect first; when Entra needs
 * the person, the sign-in button with a note; never a loop.
 */
import { SILENT_SIGN_IN_COOKIE } from '../../src/auth/silent-sign-in';
import type { TestApp } from '../support/app';
import { emulators, entraAdmin, type EntraTestClient } from '../support/emulators';
import { Browser } from '../support/http-client';
import { useOwnClientApp } from '../support/own-client-app';
import { signIn } from '../support/sign-in';

describe('quiet re-sign-in', () => {
  const own = useOwnClientApp({ realClock: true });
  let app: TestApp;
  let client: EntraTestClient;

  beforeAll(() => {
    client = own.client();
    app = own.app();
  });

  const authorizeRequests = async (): Promise<number> => (await client.admin.stats()).authorizeRequests;

  async function signedInWithoutTokens() {
    const user = await entraAdmin.createUser({ username: `quiet-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@contoso.test` });
    const browser = new Browser();
    await signIn(browser, app.url, user);
    // The refresh token is gone (its last other device signed out, an operator cleared the cache, ...).
    await app.services.tokens.removeAccount(`${user.oid}.${emulators().entra.tenantId}`);
    return { user, browser };
  }

  it('signs back in with one top-level prompt=none redirect while Entra\'s own session is alive, and not twice within the interval', async () => {
    const { browser } = await signedInWithoutTokens();
    const before = await authorizeRequests();
    const hops = await browser.follow(`${app.url}/`);
    expect(hops[0]!.status).toBe(302);
    expect(hops[0]!.location).toBe(`${app.url}/api/login?returnTo=%2F&prompt=none`);
    expect(hops[0]!.headers.getSetCookie().find((c) => c.startsWith(`${SILENT_SIGN_IN_COOKIE}=`))).toBe(
      `${SILENT_SIGN_IN_COOKIE}=1; Path=/; Max-Age=300; Secure; HttpOnly; SameSite=Lax`,
    );
    const authorize = new URL(hops.find((h) => h.url.includes('/oauth2/v2.0/authorize'))!.url);
    expect(authorize.searchParams.get('prompt')).toBe('none');
    // No page was shown: straight back through the callback to the mail.
    const tenant = emulators().entra.tenantId;
    expect(hops.map((h) => [new URL(h.url).pathname, h.status])).toEqual([
      ['/', 302],
      ['/api/login', 302],
      [`/${tenant}/oauth2/v2.0/authorize`, 303],
      ['/api/callback', 302],
      ['/', 200],
    ]);
    expect(hops.at(-1)!.url).toBe(`${app.url}/`);
    expect(hops.at(-1)!.status).toBe(200);
    expect(hops.at(-1)!.body).toContain('data-testid="who"');
    expect((await authorizeRequests()) - before).toBe(1);

    // Gone again within the interval: no second silent attempt, the button with a note instead.
    const homeAccountId = browser.jar.get(app.url, '__Host-session')!.value.split('.').slice(1, 3).join('.');
    await app.services.tokens.removeAccount(homeAccountId);
    const page = await browser.request(`${app.url}/`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('data-testid="sign-in"');
    expect(page.body).toContain('data-testid="notice"');
    expect((await authorizeRequests()) - before).toBe(1);
  });

  it('when Entra answers login_required, shows the sign-in button with a note, after exactly one attempt', async () => {
    const { browser } = await signedInWithoutTokens();
    // The app's cookie alone, in a browser with no Entra session (signed out of Microsoft, another profile).
    const fresh = new Browser();
    fresh.jar.set(app.url, '__Host-session', browser.jar.get(app.url, '__Host-session')!.value);
    const before = await authorizeRequests();
    const hops = await fresh.follow(`${app.url}/`);
    const back = hops.find((h) => h.url.startsWith(`${app.url}/api/callback`))!;
    expect(new URL(back.url).searchParams.get('error')).toBe('login_required');
    expect(back.location).toBe(`${app.url}/`);
    expect(hops.at(-1)!.status).toBe(200);
    expect(hops.at(-1)!.body).toContain('data-testid="sign-in"');
    expect(hops.at(-1)!.body).toContain('data-testid="notice"');
    expect((await authorizeRequests()) - before).toBe(1);
    // Reloading does not start another attempt.
    expect((await fresh.request(`${app.url}/`)).status).toBe(200);
    expect((await authorizeRequests()) - before).toBe(1);
  });

  it('never after the person\'s own sign-out: the plain sign-in page, no redirect', async () => {
    const user = await entraAdmin.createUser({ username: `quiet-out-${Date.now()}@contoso.test` });
    const browser = new Browser();
    await signIn(browser, app.url, user);
    expect((await browser.request(`${app.url}/api/logout`, { method: 'POST', headers: { origin: app.url } })).status).toBe(302);
    const before = await authorizeRequests();
    const page = await browser.request(`${app.url}/`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('data-testid="sign-in"');
    expect(page.body).not.toContain('data-testid="notice"');
    expect((await authorizeRequests()) - before).toBe(0);
  });
});
