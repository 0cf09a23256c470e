/**
 * Front-channel sign-out (issue 15): signing out at (emulated) Entra loads the app's
 * /api/logout/frontchannel?sid= in an iframe, with no cookie of the app, and ends the sessions
 * whose sign-in carried that sid, on every instance, with the tokens of the last device.
 */
import { TableClient } from '@azure/data-tables';
import { measureStorage, startTestApp, type TestApp } from '../support/app';
import { emulators, entraAdmin } from '../support/emulators';
import { Browser } from '../support/http-client';
import { carrySession, signIn } from '../support/sign-in';

/** The front-channel iframes on the emulated Entra's sign-out page, for this browser's Entra session. */
async function frontchannelFrames(browser: Browser): Promise<string[]> {
  const { entra } = emulators();
  const page = await browser.request(`${entra.url}${entra.tenantId}/oauth2/v2.0/logout`);
  expect(page.status).toBe(200);
  return [...page.body.matchAll(/<iframe class="fc"[^>]*\bsrc="([^"]+)"/g)].map((m) => m[1]!.replace(/&amp;/g, '&'));
}

describe('front-channel sign-out', () => {
  let app: TestApp;
  let other: TestApp;

  beforeAll(async () => {
    app = await startTestApp();
    other = await startTestApp();
  });
  afterAll(async () => {
    await app.stop();
    await other.stop();
  });

  const meStatus = async (browser: Browser, on = app): Promise<number> => (await browser.request(`${on.url}/api/me`)).status;

  it('Entra\'s sign-out page frames the app\'s URL with the sid; loaded with no cookie it ends that sign-in everywhere, tokens included', async () => {
    const user = await entraAdmin.createUser({ username: `frontchannel-${Date.now()}@contoso.test` });
    const homeAccountId = `${user.oid}.${emulators().entra.tenantId}`;
    const browser = new Browser();
    await signIn(browser, app.url, user);
    // The same cookie also served by another instance, which now remembers the session.
    carrySession(browser, app, other);
    expect(await meStatus(browser, other)).toBe(200);
    const elsewhere = new Browser(); // the same person on another device: another Entra session, another sid
    await signIn(elsewhere, app.url, user);

    const frames = await frontchannelFrames(browser);
    expect(frames).toHaveLength(1);
    const frame = new URL(frames[0]!);
    expect(frame.origin + frame.pathname).toBe(`${app.url}/api/logout/frontchannel`);
    expect(frame.searchParams.get('sid')).toMatch(/^[A-Za-z0-9_-]{8,}$/);

    const answer = await new Browser().request(frame.href); // an iframe: third-party, no app cookie
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(answer.body).toMatch(/<body><\/body>/);
    expect(answer.headers.get('content-security-policy')).toContain(`frame-ancestors ${new URL(emulators().entra.url).origin};`);
    expect(answer.headers.get('x-frame-options')).toBeNull();

    expect(await meStatus(browser)).toBe(401);
    expect(await meStatus(browser, other)).toBe(401); // at once on the other instance too
    expect(await meStatus(elsewhere)).toBe(200); // another sign-in, another sid: untouched
    expect(await app.services.tokenCacheStore.read(homeAccountId)).toBeDefined();

    // The other device signs out at Entra too: its sid ends the account's last session, and the tokens go.
    const [last] = await frontchannelFrames(elsewhere);
    expect((await new Browser().request(last!)).status).toBe(200);
    expect(await meStatus(elsewhere)).toBe(401);
    expect(await app.services.tokenCacheStore.read(homeAccountId)).toBeUndefined();
  });

  it('an unknown, junk or missing sid is harmless: 200, nothing ended, and junk costs no storage', async () => {
    const browser = new Browser();
    await signIn(browser, app.url, emulators().entra.users[1]!.username);
    const junk = await measureStorage(app, async () => {
      for (const query of ['', '?sid=', '?sid=x', '?sid=%3Cscript%3Ealert(1)%3C%2Fscript%3E', `?sid=${'a'.repeat(5000)}`, '?sid=a&sid=b%00', '?sid=%E0%A4%A']) {
        const answer = await new Browser().request(`${app.url}/api/logout/frontchannel${query}`);
        expect([query, answer.status]).toEqual([query, 200]);
        expect(answer.body).not.toContain('script');
      }
    });
    expect(junk.reads).toBe(0);
    expect(junk.writes).toBe(0);
    // A well-formed sid nobody has: one index read, nothing ended.
    expect((await new Browser().request(`${app.url}/api/logout/frontchannel?sid=00000000-0000-0000-0000-000000000000`)).status).toBe(200);
    expect(await meStatus(browser)).toBe(200);
  });
});

describe('nothing that names a person at rest', () => {
  it('the accounts table holds no e-mail address or name of the seeded users, nor the sid, in plain text', async () => {
    const app = await startTestApp();
    try {
      // This app serves the home tenant (other tenants' sign-ins are refused and store nothing:
      // test/flows/tenants.test.ts).
      const users = emulators().entra.users.filter((u) => u.tenantId === undefined);
      const sids: string[] = [];
      for (const user of users) {
        const browser = new Browser();
        await signIn(browser, app.url, user.username);
        expect((await browser.request(`${app.url}/api/mail?top=1`)).status).toBe(200);
        sids.push(new URL((await frontchannelFrames(browser))[0]!).searchParams.get('sid')!);
      }
      const table = TableClient.fromConnectionString(app.config.tables.connectionString!, 'accounts', { allowInsecureConnection: true });
      const secrets = [...users.flatMap((u) => [u.username, u.name, u.username.split('@')[0]!]), ...sids].map((s) => s.toLowerCase());
      let rows = 0;
      for await (const row of table.listEntities<Record<string, unknown>>()) {
        rows++;
        for (const [property, value] of Object.entries(row)) {
          const text = (value instanceof Uint8Array ? Buffer.from(value).toString('latin1') : String(value)).toLowerCase();
          for (const secret of secrets) expect([property, text.includes(secret)]).toEqual([property, false]);
        }
      }
      expect(rows).toBeGreaterThanOrEqual(users.length * 2); // a session row and a token cache per user at least
    } finally {
      await app.stop();
    }
  });
});
