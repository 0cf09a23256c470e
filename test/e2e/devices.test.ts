/**
 * "Your devices", front-channel sign-out and quiet re-sign-in in a real browser (Chromium): the page
 * under the strict CSP (its script is a same-origin file), on a desktop and on a phone; Entra's
 * sign-out page framing the app; a silent top-level prompt=none. Screenshots in test-artifacts/e2e-devices/.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { startTestApp, type TestApp } from '../support/app';
import { emulators, entraAdmin, type EntraTestClient } from '../support/emulators';
import { launchChromium, type LaunchedBrowser } from './browser';

const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts', 'e2e-devices');
const PHONE_UA = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

describe('sessions people control, in a real browser', () => {
  let app: TestApp;
  let chromium: LaunchedBrowser;
  let client: EntraTestClient;
  let laptop: BrowserContext;
  let phone: BrowserContext;
  let laptopPage: Page;
  let phonePage: Page;
  const problems: string[] = [];
  let user: { username: string; password: string; oid: string };

  beforeAll(async () => {
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    client = await entraAdmin.createClient();
    app = await startTestApp({ realClock: true, env: client.env });
    chromium = await launchChromium(emulators().tls.caPath);
    user = await entraAdmin.createUser({ username: `e2e-devices-${Date.now()}@contoso.test` });
    laptop = await chromium.browser.newContext({ viewport: { width: 1280, height: 860 } });
    phone = await chromium.browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, userAgent: PHONE_UA });
    laptopPage = await laptop.newPage();
    phonePage = await phone.newPage();
    for (const page of [laptopPage, phonePage]) {
      // CSP violations and script errors show up here.
      page.on('console', (message) => {
        // The app serves no favicon; Chromium asks for one anyway.
        if (message.type() === 'error' && !message.location().url.endsWith('/favicon.ico')) problems.push(`${message.text()} (${message.location().url})`);
      });
      page.on('pageerror', (error) => problems.push(error.message));
    }
  });

  afterAll(async () => {
    await client?.admin.reset();
    await laptop?.close();
    await phone?.close();
    await chromium?.close();
    await app?.stop();
  });

  const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  async function signInWith(page: Page): Promise<void> {
    await page.goto(`${app.url}/`);
    await page.getByTestId('sign-in').click();
    await page.waitForURL((url) => url.href.startsWith(emulators().entra.url));
    await page.fill('input[name="username"]', user.username);
    await page.fill('input[name="password"]', user.password);
    await page.click('#signin');
    await page.waitForURL(`${app.url}/`);
    await expect(page.getByTestId('who').isVisible()).resolves.toBe(true);
  }

  it('lists both devices on the page linked from the main page, readable on a phone', async () => {
    await signInWith(laptopPage);
    await signInWith(phonePage);
    await laptopPage.getByTestId('devices').click();
    await laptopPage.waitForURL(`${app.url}/api/devices`);
    await expect(laptopPage.getByTestId('device').count()).resolves.toBe(2);
    await expect(laptopPage.getByTestId('this-device').count()).resolves.toBe(1);
    expect(await laptopPage.getByTestId('device').allTextContents()).toEqual([
      expect.stringContaining('Safari on iPhone'),
      expect.stringMatching(/Chrome on Linux\s*This device/),
    ]);
    await shot(laptopPage, '1-devices-laptop');

    await phonePage.goto(`${app.url}/api/devices`);
    await expect(phonePage.getByTestId('device').count()).resolves.toBe(2);
    const overflow = await phonePage.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    expect(overflow).toBeLessThanOrEqual(0);
    await shot(phonePage, '2-devices-phone');
    expect(problems).toEqual([]);
  });

  it('"Sign out" on the other device ends it at once: its next page is the sign-in page', async () => {
    await laptopPage.getByTestId('end-device').click();
    await laptopPage.waitForSelector('[data-testid="only-device"]');
    await expect(laptopPage.getByTestId('device').count()).resolves.toBe(1);
    await shot(laptopPage, '3-after-ending-the-phone');
    await phonePage.goto(`${app.url}/`);
    await expect(phonePage.getByTestId('sign-in').isVisible()).resolves.toBe(true);
    expect(problems).toEqual([]);
  });

  it('"Sign out everywhere else" ends the others and keeps this device', async () => {
    await phonePage.getByTestId('sign-in').click();
    // Entra still knows the phone (its own session): straight back, or through the sign-in page.
    await phonePage.waitForURL((url) => url.href === `${app.url}/` || url.href.startsWith(emulators().entra.url));
    if (phonePage.url().startsWith(emulators().entra.url)) {
      await phonePage.fill('input[name="username"]', user.username);
      await phonePage.fill('input[name="password"]', user.password);
      await phonePage.click('#signin');
      await phonePage.waitForURL(`${app.url}/`);
    }
    await laptopPage.reload();
    await expect(laptopPage.getByTestId('device').count()).resolves.toBe(2);
    await laptopPage.getByTestId('end-others').click();
    await laptopPage.waitForSelector('[data-testid="only-device"]');
    await phonePage.goto(`${app.url}/`);
    await expect(phonePage.getByTestId('sign-in').isVisible()).resolves.toBe(true);
    await laptopPage.goto(`${app.url}/`);
    await expect(laptopPage.getByTestId('who').isVisible()).resolves.toBe(true);
    expect(problems).toEqual([]);
  });

  it('signs back in quietly, with no page shown, when the tokens are gone but Entra\'s session is alive', async () => {
    await app.services.tokens.removeAccount(`${user.oid}.${emulators().entra.tenantId}`);
    const shown: string[] = [];
    const onLoad = (): void => void shown.push(laptopPage.url());
    laptopPage.on('load', onLoad);
    await laptopPage.goto(`${app.url}/`);
    laptopPage.off('load', onLoad);
    expect(laptopPage.url()).toBe(`${app.url}/`);
    await expect(laptopPage.getByTestId('who').isVisible()).resolves.toBe(true);
    expect(shown).toEqual([`${app.url}/`]); // only the final page loaded: the rest were redirects
    await shot(laptopPage, '4-after-quiet-sign-in');
  });

  it('signing out at Microsoft elsewhere in this browser ends the app\'s session through Entra\'s front-channel iframe', async () => {
    const { entra } = emulators();
    const frames: string[] = [];
    laptopPage.on('request', (request) => {
      if (request.url().includes('/api/logout/frontchannel')) frames.push(request.url());
    });
    // As another Microsoft app would: straight to Entra's end-session page.
    await laptopPage.goto(`${entra.url}${entra.tenantId}/oauth2/v2.0/logout`);
    await laptopPage.waitForFunction('document.title.startsWith("Signed out")', undefined, { timeout: 15_000 }).catch(async (error: unknown) => {
      await shot(laptopPage, '5-front-channel-failed');
      throw error;
    });
    expect(frames).toHaveLength(1);
    expect(new URL(frames[0]!).origin).toBe(new URL(app.url).origin);
    await laptopPage.goto(`${app.url}/`);
    await expect(laptopPage.getByTestId('sign-in').isVisible()).resolves.toBe(true);
    await shot(laptopPage, '5-signed-out-by-front-channel');
    expect((await laptop.request.get(`${app.url}/api/me`)).status()).toBe(401);
    expect(problems).toEqual([]);
  });
});
