/**
 * What a person sees, in a real browser: sign in on the emulated Entra's page, read the seeded
 * unread mail, come back after the access token expired and still see mail (silent refresh, no
 * sign-in page), sign out. Screenshots of each step go to test-artifacts/e2e/.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { startTestApp, type TestApp } from '../support/app';
import { emulators, entraAdmin, type EntraTestClient } from '../support/emulators';
import { launchChromium, type LaunchedBrowser } from './browser';

const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts', 'e2e');
// MSAL treats an access token as expired 5 minutes before its expiry: a lifetime of 5 minutes
// plus a few seconds gives a token that is usable for those few seconds only.
const MSAL_RENEWAL_OFFSET_S = 300;
const USABLE_SECONDS = 6;

describe('in a real browser', () => {
  let app: TestApp;
  let chromium: LaunchedBrowser;
  let context: BrowserContext;
  let page: Page;
  let client: EntraTestClient;
  const dialogs: string[] = [];
  const user = emulators().entra.users[0]!;

  beforeAll(async () => {
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    client = await entraAdmin.createClient();
    app = await startTestApp({ realClock: true, env: client.env });
    chromium = await launchChromium(emulators().tls.caPath);
    context = await chromium.browser.newContext({ viewport: { width: 1280, height: 860 } });
    page = await context.newPage();
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    await client.admin.setSettings({ accessTokenTtlSeconds: MSAL_RENEWAL_OFFSET_S + USABLE_SECONDS });
  });

  afterAll(async () => {
    await client?.admin.reset();
    await context?.close();
    await chromium?.close();
    await app?.stop();
  });

  const shot = (name: string, target: Page = page) => target.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  it('shows what the app does and a sign-in button when signed out', async () => {
    await page.goto(`${app.url}/`);
    await expect(page.getByTestId('sign-in').textContent()).resolves.toContain('Sign in with Microsoft');
    await shot('1-signed-out');
  });

  it('signs in on the Entra page and shows the unread mail, escaped', async () => {
    await page.getByTestId('sign-in').click();
    await page.waitForURL((url) => url.href.startsWith(emulators().entra.url));
    await page.fill('input[name="username"]', user.username);
    await page.fill('input[name="password"]', user.password);
    await shot('2-entra-sign-in');
    await page.click('#signin');
    await page.waitForURL(`${app.url}/`);
    await expect(page.getByTestId('who').textContent()).resolves.toContain(user.name);
    const subjects = await page.getByTestId('subject').allTextContents();
    expect(subjects.length).toBeGreaterThan(0);
    expect(subjects).toContain('<img src=x onerror=alert(1)>');
    expect(await page.locator('main img').count()).toBe(0);
    expect(dialogs).toEqual([]);
    await shot('3-inbox');
  });

  it('is readable on a phone', async () => {
    const phone = await chromium.browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true });
    await phone.addCookies(await context.cookies());
    const mobile = await phone.newPage();
    await mobile.goto(`${app.url}/`);
    await expect(mobile.getByTestId('who').isVisible()).resolves.toBe(true);
    // Runs in the page: `document` is the browser's.
    const overflow = await mobile.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    expect(overflow).toBeLessThanOrEqual(0);
    await shot('4-inbox-phone', mobile);
    await phone.close();
  });

  it('still shows mail after the access token expired, without a sign-in page', async () => {
    const before = await client.admin.stats();
    await new Promise((resolve) => setTimeout(resolve, (USABLE_SECONDS + 1) * 1000));
    const navigations: string[] = [];
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) navigations.push(frame.url());
    });
    await page.reload();
    expect(page.url()).toBe(`${app.url}/`);
    expect(navigations.every((url) => url.startsWith(app.url))).toBe(true);
    expect((await page.getByTestId('subject').allTextContents()).length).toBeGreaterThan(0);
    const after = await client.admin.stats();
    expect(after.refreshTokenRedemptions - before.refreshTokenRedemptions).toBe(1);
    await shot('5-inbox-after-silent-refresh');
  });

  it('signs out, here and at Entra', async () => {
    await page.getByTestId('sign-out').click();
    // Entra's end-session page may ask to confirm, as the real one does.
    await page.waitForURL((url) => url.href.startsWith(emulators().entra.url) || url.href === `${app.url}/`, { timeout: 10_000 }).catch(async (error: unknown) => {
      await shot('6-sign-out-failed');
      throw new Error(`sign-out stopped at ${page.url()}: ${String(error)}`);
    });
    if (page.url().startsWith(emulators().entra.url)) {
      await shot('6-entra-sign-out');
      const confirm = page.locator('button[type="submit"]');
      if ((await confirm.count()) > 0) await confirm.first().click();
      await page.waitForURL(`${app.url}/`);
    }
    await expect(page.getByTestId('sign-in').isVisible()).resolves.toBe(true);
    // The page's CSP forbids script fetches; the context's request API sends the browser's cookies.
    expect((await context.request.get(`${app.url}/api/me`)).status()).toBe(401);
    expect((await context.cookies(app.url)).some((c) => c.name === '__Host-session')).toBe(false);
    await shot('7-signed-out-again');
  });
});
