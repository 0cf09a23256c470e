/**
 * Every URL the app sends to Entra is in its registration (infra/entra-app.json, from which the
 * emulated Entra, the Bicep registration and the portal steps are made). Real Entra redirects only
 * to registered URIs, post_logout_redirect_uri included; before issue 13 the emulator registered the
 * post-logout page on its own and hid that the registration lacked it.
 */
import { entraRedirectUris } from '../../emulators/entra-app';
import { startTestApp, type TestApp } from '../support/app';
import { emulators } from '../support/emulators';
import { Browser, parseForm } from '../support/http-client';
import { signIn, startLogin } from '../support/sign-in';

describe('the URLs the app sends to Entra', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app.stop());

  it('redirect_uri (sign-in) and post_logout_redirect_uri (sign-out) are registered, and Entra returns to them', async () => {
    const registered = entraRedirectUris(app.url);
    const browser = new Browser();

    const login = await startLogin(browser, app.url);
    const redirectUri = new URL(login.location!).searchParams.get('redirect_uri');
    expect({ redirectUri, registered: registered.includes(redirectUri!) }).toEqual({ redirectUri: `${app.url}/api/callback`, registered: true });

    const { last } = await signIn(browser, app.url, emulators().entra.users[0]!.username);
    expect(last.status).toBe(200);
    const out = await browser.request(`${app.url}/api/logout`, { method: 'POST', headers: { origin: app.url } });
    expect(out.status).toBe(302);
    const postLogout = new URL(out.location!).searchParams.get('post_logout_redirect_uri');
    expect({ postLogout, registered: registered.includes(postLogout!) }).toEqual({ postLogout: `${app.url}/`, registered: true });

    // The emulated Entra, registered from the same list, sends the browser back there.
    const confirm = await browser.request(out.location!);
    expect(confirm.status).toBe(200);
    const form = parseForm(confirm.body, confirm.url);
    const done = await browser.post(form.action, form.fields);
    expect({ status: done.status, location: done.location }).toEqual({ status: 303, location: postLogout });
  });
});
