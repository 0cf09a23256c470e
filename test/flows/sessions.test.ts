/**
 * "Your devices" (issue 15) against the emulators: the list, ending one device or all the others
 * (Origin + X-CSRF), at once on every instance, the tokens of the last device, the page itself,
 * expiry in /api/me.
 */
import type { RememberingSessionStore } from '../../src/auth/session-memory';
import { startTestApp, type TestApp } from '../support/app';
import { emulators, entraAdmin } from '../support/emulators';
import { Browser, type Hop } from '../support/http-client';
import { carrySession, signIn } from '../support/sign-in';

const CHROME_ON_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const SAFARI_ON_IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

/** A browser that sends one User-Agent on every request. */
class DeviceBrowser extends Browser {
  constructor(private readonly userAgent: string) {
    super();
  }
  override request(url: string, init: RequestInit = {}): Promise<Hop> {
    const headers = new Headers(init.headers);
    headers.set('user-agent', this.userAgent);
    return super.request(url, { ...init, headers });
  }
}

interface Listed {
  id: string;
  current: boolean;
  createdAt: string;
  lastSeenAt: string;
  device: string;
}

describe('sessions people control', () => {
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

  const list = async (browser: Browser, on = app): Promise<Listed[]> => {
    const hop = await browser.request(`${on.url}/api/sessions`);
    expect(hop.status).toBe(200);
    return (JSON.parse(hop.body) as { sessions: Listed[] }).sessions;
  };
  const write = (browser: Browser, path: string, headers: Record<string, string> = { origin: app.url, 'x-csrf': '1' }) =>
    browser.request(`${app.url}${path}`, { method: 'POST', headers });
  const meStatus = async (browser: Browser, on = app): Promise<number> => (await browser.request(`${on.url}/api/me`)).status;
  const homeAccountIdOf = (oid: string): string => `${oid}.${emulators().entra.tenantId}`;

  async function twoDevices() {
    const user = await entraAdmin.createUser({ username: `devices-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@contoso.test` });
    const laptop = new DeviceBrowser(CHROME_ON_WINDOWS);
    const phone = new DeviceBrowser(SAFARI_ON_IPHONE);
    await signIn(laptop, app.url, user);
    app.clock.advance(1000);
    await signIn(phone, app.url, user);
    return { user, laptop, phone, homeAccountId: homeAccountIdOf(user.oid) };
  }

  it('GET /api/sessions lists the account\'s devices with a label, times and an opaque id; 401 without a session', async () => {
    const { laptop, phone } = await twoDevices();
    const fromLaptop = await list(laptop);
    expect(fromLaptop).toEqual([
      { id: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/), current: false, createdAt: expect.any(String), lastSeenAt: expect.any(String), device: 'Safari on iPhone' },
      { id: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/), current: true, createdAt: expect.any(String), lastSeenAt: expect.any(String), device: 'Chrome on Windows' },
    ]);
    expect(Date.parse(fromLaptop[0]!.createdAt) - Date.parse(fromLaptop[1]!.createdAt)).toBe(1000);
    // The same ids from the other device, with "current" the other way round.
    expect((await list(phone)).map((s) => [s.id, s.current])).toEqual(fromLaptop.map((s) => [s.id, !s.current]));
    // An id is neither the cookie's secret nor the stored hash of it.
    const cookie = laptop.jar.get(app.url, '__Host-session')!.value;
    for (const { id } of fromLaptop) {
      expect(cookie).not.toContain(id);
      expect((await app.services.sessionStore.listForAccount(cookie.split('.').slice(1, 3).join('.'))).some(({ ref }) => ref.idHash.includes(id))).toBe(false);
    }
    const anonymous = await new Browser().request(`${app.url}/api/sessions`);
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body)).toEqual({ error: 'login_required', message: 'You are not signed in. Sign in to continue.', loginUrl: '/api/login?returnTo=%2Fapi%2Fdevices' });
  });

  it('ending a device needs the app\'s Origin and X-CSRF: 1 (403 otherwise), answers 204, and takes effect at once on every instance', async () => {
    const { laptop, phone } = await twoDevices();
    // The phone is also served by another instance, which now remembers its session for 30 s.
    carrySession(phone, app, other);
    expect(await meStatus(phone, other)).toBe(200);
    const phoneId = (await list(laptop)).find((s) => !s.current)!.id;

    const noOrigin = await write(laptop, `/api/sessions/${phoneId}/end`, { 'x-csrf': '1' });
    expect([noOrigin.status, JSON.parse(noOrigin.body)]).toEqual([403, { error: 'forbidden_origin', message: 'This action must be started from the app itself. Go back to the app and try again.' }]);
    const crossSite = await write(laptop, `/api/sessions/${phoneId}/end`, { origin: 'https://evil.example', 'x-csrf': '1' });
    expect(crossSite.status).toBe(403);
    const noHeader = await write(laptop, `/api/sessions/${phoneId}/end`, { origin: app.url });
    expect([noHeader.status, JSON.parse(noHeader.body)]).toEqual([
      403,
      { error: 'csrf_header_missing', message: "This action must be sent by the app's own page (header X-CSRF: 1). Reload the page and try again." },
    ]);
    const wrongValue = await write(laptop, `/api/sessions/${phoneId}/end`, { origin: app.url, 'x-csrf': 'true' });
    expect(wrongValue.status).toBe(403);
    expect(await meStatus(phone)).toBe(200); // none of those ended anything

    const ended = await write(laptop, `/api/sessions/${phoneId}/end`);
    expect([ended.status, ended.body]).toEqual([204, '']);
    expect(await meStatus(phone)).toBe(401);
    // /api/mail overlaps the check with its Graph call (mail.ts) and answers 401 all the same.
    const mailAfter = await phone.request(`${other.url}/api/mail?top=1`);
    expect([mailAfter.status, JSON.parse(mailAfter.body)]).toEqual([401, { error: 'login_required', message: 'You are not signed in. Sign in to continue.', loginUrl: '/api/login?returnTo=%2F' }]);
    expect((other.services.sessionStore as RememberingSessionStore).stats.endedElsewhere).toBe(1);
    expect(await meStatus(phone, other)).toBe(401); // at once, despite the other instance's memory
    expect((other.services.sessionStore as RememberingSessionStore).stats.endedElsewhere).toBeGreaterThanOrEqual(1);
    expect(await meStatus(laptop)).toBe(200);
    expect((await list(laptop)).map((s) => s.device)).toEqual(['Chrome on Windows']);

    const again = await write(laptop, `/api/sessions/${phoneId}/end`);
    expect([again.status, JSON.parse(again.body)]).toEqual([404, { error: 'session_not_found', message: 'That device is not signed in (any more). Reload the list of your devices.' }]);
    const junk = await write(laptop, `/api/sessions/${encodeURIComponent('../../x')}/end`);
    expect(junk.status).toBe(404);
    const unsigned = await write(new Browser(), `/api/sessions/${phoneId}/end`);
    expect(unsigned.status).toBe(401);
  });

  it('another account\'s device id ends nothing', async () => {
    const a = await twoDevices();
    const b = await twoDevices();
    const bPhone = (await list(b.laptop)).find((s) => !s.current)!.id;
    expect((await write(a.laptop, `/api/sessions/${bPhone}/end`)).status).toBe(404);
    expect(await meStatus(b.phone)).toBe(200);
  });

  it('"end-others" signs every other device out, keeps this one and the tokens', async () => {
    const { laptop, phone, user, homeAccountId } = await twoDevices();
    const tablet = new DeviceBrowser('Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36');
    await signIn(tablet, app.url, user);
    expect((await write(phone, '/api/sessions/end-others', { origin: app.url })).status).toBe(403);
    const ended = await write(phone, '/api/sessions/end-others');
    expect([ended.status, ended.body]).toEqual([204, '']);
    expect(await meStatus(laptop)).toBe(401);
    expect(await meStatus(tablet)).toBe(401);
    expect((await list(phone)).map((s) => [s.device, s.current])).toEqual([['Safari on iPhone', true]]);
    expect((await phone.request(`${app.url}/api/mail?top=1`)).status).toBe(200);
    expect(await app.services.tokenCacheStore.read(homeAccountId)).toBeDefined();
  });

  it('ending this very device clears its cookie; the last device out takes the tokens, as a sign-out does', async () => {
    const { laptop, phone, homeAccountId } = await twoDevices();
    const laptopId = (await list(laptop)).find((s) => s.current)!.id;
    const ended = await write(laptop, `/api/sessions/${laptopId}/end`);
    expect(ended.status).toBe(204);
    expect(ended.headers.getSetCookie().some((c) => /^__Host-session=; .*Max-Age=0/.test(c))).toBe(true);
    expect(await app.services.tokenCacheStore.read(homeAccountId)).toBeDefined(); // the phone still uses them
    const phoneId = (await list(phone))[0]!.id;
    expect((await write(phone, `/api/sessions/${phoneId}/end`)).status).toBe(204);
    expect(await app.services.tokenCacheStore.read(homeAccountId)).toBeUndefined();
  });

  it('/api/me says when the session ends: idle (sliding) and absolute', async () => {
    const { laptop } = await twoDevices();
    const body = JSON.parse((await laptop.request(`${app.url}/api/me`)).body) as Record<string, string>;
    const absolute = Date.parse(body['absoluteExpiresAt']!);
    const idle = Date.parse(body['idleExpiresAt']!);
    expect(absolute - idle).toBe((app.config.session.absoluteTimeoutSeconds - app.config.session.idleTimeoutSeconds) * 1000);
  });

  it('the "Your devices" page lists the devices, loads its script from the app only, and is linked from the main page', async () => {
    const { laptop } = await twoDevices();
    const page = await laptop.request(`${app.url}/api/devices`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'");
    expect(page.body).toContain('<script src="/api/assets/devices.js" defer></script>');
    expect(page.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    expect(page.body.match(/data-testid="device"/g)).toHaveLength(2);
    expect(page.body).toContain('Safari on iPhone');
    expect(page.body).toContain('data-endpoint="/api/sessions/end-others"');
    const script = await laptop.request(`${app.url}/api/assets/devices.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(script.body).toContain("'X-CSRF': '1'");
    const home = await laptop.request(`${app.url}/`);
    expect(home.body).toContain('href="/api/devices"');
    // Only the devices page may run a script.
    expect(home.headers.get('content-security-policy')).toContain("script-src 'none'");
  });
});

describe('the sign-in-due notice near the absolute limit', () => {
  it('the page says when a sign-in will be needed once the absolute limit is within a week', async () => {
    const app = await startTestApp({ env: { SESSION_IDLE_TIMEOUT_HOURS: '120', SESSION_ABSOLUTE_TIMEOUT_HOURS: '240' } });
    try {
      const browser = new Browser();
      await signIn(browser, app.url, emulators().entra.users[1]!.username);
      expect((await browser.request(`${app.url}/`)).body).not.toContain('data-testid="sign-in-due"');
      app.clock.advance(4 * 24 * 3600_000); // 6 days left of 10; the idle timeout (5 days) not reached
      const home = await browser.request(`${app.url}/`);
      expect(home.body).toContain('data-testid="sign-in-due"');
      expect(home.body).toContain('You will need to sign in with Microsoft again after that.');
    } finally {
      await app.stop();
    }
  });
});
