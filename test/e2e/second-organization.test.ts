/**
 * A multi-tenant deployment in a real browser (issue 18): TENANT_ID=organizations with both emulated
 * organizations allowed. A user of the second organization (Fabrikam) signs in through
 * /organizations, finds their account on the Entra page, and reads their own mail; the page says
 * which organization is signed in. Screenshots go to test-artifacts/e2e-tenants/.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { startTestApp, type TestApp } from '../support/app';
import { emulators, entraAdmin } from '../support/emulators';
import { launchChromium, type LaunchedBrowser } from './browser';

const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts', 'e2e-tenants');

describe('a user of the second organization, in a real browser', () => {
  let app: TestApp;
  let chromium: LaunchedBrowser;
  let context: BrowserContext;
  let page: Page;
  const home = () => emulators().entra.tenants[0]!;
  const fabrikam = () => emulators().entra.tenants.find((t) => !t.personal && t.id !== home().id)!;
  const alex = () => emulators().entra.users.find((u) => u.tenantId === fabrikam().id)!;

  beforeAll(async () => {
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    const client = await entraAdmin.createClient();
    app = await startTestApp({ realClock: true, env: { ...client.env, TENANT_ID: 'organizations', ALLOWED_TENANTS: `${home().id},${fabrikam().id}` } });
    chromium = await launchChromium(emulators().tls.caPath);
    context = await chromium.browser.newContext({ viewport: { width: 1280, height: 860 } });
    page = await context.newPage();
  });

  afterAll(async () => {
    await context?.close();
    await chromium?.close();
    await app?.stop();
  });

  it('signs in through /organizations on the Entra page, which offers the accounts of both organizations', async () => {
    await page.goto(`${app.url}/`);
    await page.getByTestId('sign-in').click();
    await page.waitForURL((url) => url.href.startsWith(emulators().entra.url));
    const accounts = await page.locator('aside table').textContent();
    expect(accounts).toContain(alex().username);
    expect(accounts).toContain(emulators().entra.users[0]!.username);
    expect(accounts).not.toContain('outlook.test'); // personal accounts do not sign in through /organizations
    await page.fill('input[name="username"]', alex().username);
    await page.fill('input[name="password"]', alex().password);
    await page.screenshot({ path: join(ARTIFACTS, '1-entra-organizations.png'), fullPage: true });
    await page.click('#signin');
    await page.waitForURL(`${app.url}/`);
  });

  it("shows the user's own mail and names their organization", async () => {
    await expect(page.getByTestId('who').textContent()).resolves.toContain(alex().name);
    await expect(page.getByTestId('organization').textContent()).resolves.toContain(`organization ${fabrikam().id}`);
    const subjects = await page.getByTestId('subject').allTextContents();
    expect(subjects.length).toBeGreaterThan(0);
    // The page's CSP allows no fetch; the browser context's request client sends the same cookies.
    const me = await (await context.request.get(`${app.url}/api/me`)).json();
    expect(me).toEqual({ name: alex().name, username: alex().username, tenantId: fabrikam().id, idleExpiresAt: expect.any(String), absoluteExpiresAt: expect.any(String) });
    await page.screenshot({ path: join(ARTIFACTS, '2-inbox-second-organization.png'), fullPage: true });
  });
});
