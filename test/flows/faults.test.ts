/**
 * Transient faults in the app's dependencies: a clear 503 with Retry-After and a stable code, the
 * session and the cached tokens kept, and recovery without a restart once the dependency is back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzurite, type Azurite } from '../../emulators/azurite';
import { startTestApp, type TestApp } from '../support/app';
import { emulators, entraAdmin, type EntraTestClient } from '../support/emulators';
import { Browser, parseForm } from '../support/http-client';
import { signIn, startLogin } from '../support/sign-in';

const MSAL_RENEWAL_OFFSET_S = 300;

describe('dependency faults', () => {
  const lee = emulators().entra.users[2]!;

  describe('Entra', () => {
    let client: EntraTestClient;
    let app: TestApp;
    let browser: Browser;

    beforeAll(async () => {
      // A client of its own: its latency, faults and token lifetimes touch no other test.
      client = await entraAdmin.createClient();
      app = await startTestApp({ realClock: true, env: client.env });
      await client.admin.setSettings({ accessTokenTtlSeconds: MSAL_RENEWAL_OFFSET_S - 60 }); // always due for refresh
      browser = new Browser();
      await signIn(browser, app.url, lee.username);
    });
    afterAll(async () => {
      await client.admin.reset();
      await app.stop();
    });

    it('a 503 from the token endpoint answers 503 with Retry-After and keeps the session', async () => {
      await client.admin.fault({ status: 503, count: 3, retryAfterSeconds: 7 });
      const hop = await browser.request(`${app.url}/api/mail?top=1`);
      expect(hop.status).toBe(503);
      expect(JSON.parse(hop.body)).toMatchObject({ error: 'identity_provider_unavailable' });
      expect(Number(hop.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      await client.admin.fault({ status: 503, count: 0 });
      expect((await browser.request(`${app.url}/api/mail?top=1`)).status).toBe(200);
    });

    it('a token endpoint that does not answer in time gives 503 within the deadline, then recovers', async () => {
      await client.admin.setSettings({ latencyMs: 7000 });
      const started = Date.now();
      const hop = await browser.request(`${app.url}/api/mail?top=1`);
      const took = Date.now() - started;
      await client.admin.setSettings({ latencyMs: 0 });
      expect(hop.status).toBe(503);
      expect(JSON.parse(hop.body)).toMatchObject({ error: 'identity_provider_unavailable' });
      expect(took).toBeLessThan(6900);
      // The slow redemption may still have completed at Entra; the next request must not be
      // refused for reusing a refresh token (reuse detection is off for this client, as in Entra).
      expect((await browser.request(`${app.url}/api/mail?top=1`)).status).toBe(200);
    }, 30_000);
  });

  describe('Table Storage', () => {
    let azurite: Azurite;
    let folder: string;
    let app: TestApp;
    /** Default settings: sessions and token caches remembered for 30 s. */
    let remembering: TestApp;

    beforeAll(async () => {
      folder = mkdtempSync(join(tmpdir(), 'azurite-faults-'));
      azurite = await startAzurite({ location: folder });
      // Memory copies off: every request reaches storage.
      app = await startTestApp({
        realClock: true,
        env: { TABLES_CONNECTION_STRING: azurite.connectionString, TOKEN_CACHE_MEMORY_MB: '0', SESSION_MEMORY_TTL_SECONDS: '0' },
      });
      remembering = await startTestApp({ env: { TABLES_CONNECTION_STRING: azurite.connectionString } });
    }, 60_000);
    afterAll(async () => {
      await remembering.stop();
      await app.stop();
      await azurite.stop();
      rmSync(folder, { recursive: true, force: true });
    });

    it('storage down: 503 storage_unavailable with Retry-After; back up: the same session and tokens work', async () => {
      const browser = new Browser();
      await signIn(browser, app.url, lee.username);
      expect((await browser.request(`${app.url}/api/mail?top=1`)).status).toBe(200);

      await azurite.stop();
      for (const path of ['/api/me', '/api/mail?top=1']) {
        const hop = await browser.request(`${app.url}${path}`);
        expect(hop.status).toBe(503);
        expect(JSON.parse(hop.body)).toMatchObject({ error: 'storage_unavailable' });
        expect(hop.headers.get('retry-after')).toBe('5');
      }
      const page = await browser.request(`${app.url}/`);
      expect(page.status).toBe(503);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);

      await azurite.restart();
      expect((await browser.request(`${app.url}/api/me`)).status).toBe(200);
      expect((await browser.request(`${app.url}/api/mail?top=1`)).status).toBe(200);
    }, 60_000);

    it('storage down at the callback: 503 storage_unavailable page, and the spent sign-in cookie is deleted all the same', async () => {
      const browser = new Browser();
      const homeAccountId = `${lee.oid}.${emulators().entra.tenantId}`;
      const liveBefore = await app.services.sessionStore.countLiveForAccount(homeAccountId, Date.now());
      const start = await startLogin(browser, app.url);
      const page = await browser.follow(start.location!);
      const form = parseForm(page.at(-1)!.body, page.at(-1)!.url);
      await azurite.stop();
      try {
        const hops = await browser.submit(form.action, { ...form.fields, username: lee.username, password: lee.password });
        const callback = hops.find((h) => h.url.startsWith(`${app.url}/api/callback`))!;
        expect(callback.status).toBe(503);
        expect(callback.headers.get('retry-after')).toBe('5');
        expect(callback.body).toContain('storage_unavailable');
        expect(callback.headers.getSetCookie().some((c) => /^__Host-txn-[A-Za-z0-9_-]{16}=; Path=\/; Max-Age=0/.test(c))).toBe(true);
        expect(browser.jar.all().filter((c) => c.name.startsWith('__Host-txn-') || c.name === '__Host-session')).toEqual([]);
      } finally {
        await azurite.restart();
      }
      expect(await app.services.sessionStore.countLiveForAccount(homeAccountId, Date.now())).toBe(liveBefore);
      await signIn(browser, app.url, lee.username); // a new sign-in works once storage is back
      expect((await browser.request(`${app.url}/api/mail?top=1`)).status).toBe(200);
    }, 60_000);

    it('storage down: what this instance read in the last 30 s still serves, then 503 until storage is back', async () => {
      const browser = new Browser();
      await signIn(browser, remembering.url, lee.username);
      expect((await browser.request(`${remembering.url}/api/mail?top=1`)).status).toBe(200);

      await azurite.stop();
      try {
        expect((await browser.request(`${remembering.url}/api/mail?top=1`)).status).toBe(200);
        remembering.clock.advance(30_000);
        const hop = await browser.request(`${remembering.url}/api/mail?top=1`);
        expect(hop.status).toBe(503);
        expect(JSON.parse(hop.body)).toMatchObject({ error: 'storage_unavailable' });
        expect(hop.headers.get('retry-after')).toBe('5');
      } finally {
        await azurite.restart();
      }
      expect((await browser.request(`${remembering.url}/api/mail?top=1`)).status).toBe(200);
    }, 60_000);
  });
});
