import { startTestApp, type TestApp } from '../support/app';
import { emulatorAdmin, emulators, entraAdmin } from '../support/emulators';
import { Browser } from '../support/http-client';
import { signIn } from '../support/sign-in';

describe('the web page', () => {
  let app: TestApp;
  const adele = emulators().entra.users[0]!;

  beforeAll(async () => {
    app = await startTestApp({ realClock: true });
  });
  afterAll(async () => {
    await emulatorAdmin.graph('DELETE', 'faults');
    await app.stop();
  });

  it('signed out: explains the app, offers sign-in, and sends strict security headers', async () => {
    const hop = await new Browser().request(`${app.url}/`);
    expect(hop.status).toBe(200);
    expect(hop.body).toContain('Sign in with Microsoft');
    expect(hop.body).toContain('href="/api/login?returnTo=%2F"');
    const csp = hop.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain(`form-action 'self' ${new URL(emulators().entra.url).origin}`);
    expect(hop.headers.get('x-content-type-options')).toBe('nosniff');
    expect(hop.headers.get('referrer-policy')).toBe('same-origin');
    expect(hop.headers.get('cache-control')).toBe('no-store');
  });

  it('serves its stylesheet', async () => {
    const hop = await new Browser().request(`${app.url}/api/assets/app.css`);
    expect(hop.status).toBe(200);
    expect(hop.headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  it('signed in: the name, unread mail escaped, sign-out and delete links', async () => {
    const browser = new Browser();
    const { last } = await signIn(browser, app.url, adele.username);
    expect(last.status).toBe(200);
    expect(last.body).toContain(adele.name);
    expect(last.body).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(last.body).not.toContain('<img src=x');
    expect(last.body).toContain('<form class="inline-form" method="post" action="/api/logout">');
    expect(last.body).toContain('href="/api/forget"');
  });

  it('pages to older mail through an opaque cursor link', async () => {
    await emulatorAdmin.graph('PUT', 'mailboxes/' + adele.oid, {
      value: Array.from({ length: 14 }, (_, i) => ({
        subject: `Message ${i}`,
        isRead: false,
        receivedDateTime: new Date(Date.UTC(2026, 10, 20, 12, 0, 0) - i * 60_000).toISOString(),
        from: { emailAddress: { name: `Sender ${i}`, address: `s${i}@example.com` } },
      })),
    });
    try {
      const browser = new Browser();
      const { last } = await signIn(browser, app.url, adele.username);
      const older = /href="(\/\?cursor=[^"]+)"/.exec(last.body)?.[1];
      expect(older).toBeDefined();
      const next = await browser.request(`${app.url}${older!.replace(/&amp;/g, '&')}`);
      expect(next.status).toBe(200);
      expect(next.body).toContain('Message 10');
      expect(next.body).toContain('href="/">Newest</a>');
      const forged = await browser.request(`${app.url}/?cursor=forged`);
      expect(forged.status).toBe(400);
      expect(forged.body).toContain('no longer valid');
    } finally {
      await emulatorAdmin.graph('DELETE', 'mailboxes/' + adele.oid);
    }
  });

  it('consent revoked: the sign-in button with a short explanation, never an error dump', async () => {
    const { username, oid } = await entraAdmin.createUser({ username: `revoked-${Date.now()}@contoso.test`, name: 'Rita Revoked' });
    const browser = new Browser();
    await signIn(browser, app.url, username);
    await entraAdmin.revokeUser(username);
    // The cached access token is still valid; make Graph refuse it as it would after revocation.
    await emulatorAdmin.graph('POST', 'faults', { status: 401, count: 4, path: 'messages', user: oid });
    // First one quiet re-sign-in attempt (silent-sign-in.ts), then, with its cookie set, no other.
    const first = await browser.request(`${app.url}/`);
    expect([first.status, first.location]).toEqual([302, `${app.url}/api/login?returnTo=%2F&prompt=none`]);
    const hop = await browser.request(`${app.url}/`);
    expect(hop.status).toBe(200);
    expect(hop.body).toContain('Sign in with Microsoft');
    expect(hop.body).toContain('Sign in again to continue.');
    expect(hop.body).not.toMatch(/stack|Error:|invalid_grant/);
  });

  it('Graph unavailable: stays signed in, says so, answers 503 with Retry-After', async () => {
    const browser = new Browser();
    await signIn(browser, app.url, adele.username);
    await emulatorAdmin.graph('POST', 'faults', { status: 503, count: 10, retryAfterSeconds: 20, path: 'messages', user: adele.oid });
    try {
      const hop = await browser.request(`${app.url}/`);
      expect(hop.status).toBe(503);
      expect(hop.headers.get('retry-after')).toBe('20');
      expect(hop.body).toContain('Reload the page in a few seconds.');
      expect(hop.body).toContain('Sign out');
    } finally {
      await emulatorAdmin.graph('DELETE', 'faults');
    }
    expect((await browser.request(`${app.url}/`)).status).toBe(200);
  });
});
