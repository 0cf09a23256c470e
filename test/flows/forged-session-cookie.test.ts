/**
 * Issue 16, finding 1: a forged session cookie naming a real account (the account is not a secret)
 * used to cost a storage read per request and pull the user's token-cache rows into memory. The
 * cookie now carries a MAC (src/auth/session-cookie.ts), so such a cookie is refused before any
 * storage round trip. Rotation (newest key signs, every key verifies) and revocation still work.
 */
import { randomBytes } from 'node:crypto';
import type { L1TokenCacheStore } from '../../src/cache/l1-token-cache-store';
import { partitionKeyOf } from '../../src/cache/token-cache-store';
import { parseSessionCookie, SESSION_COOKIE } from '../../src/auth/session-cookie';
import { measureStorage, randomKeyRing, startTestApp, type TestApp } from '../support/app';
import { emulators, entraAdmin, type EntraTestClient } from '../support/emulators';
import { Browser } from '../support/http-client';
import { signIn } from '../support/sign-in';

const FORGED_REQUESTS = 100;
const randomPart = (): string => randomBytes(32).toString('base64url');

describe('forged session cookies', () => {
  const user = emulators().entra.users[1]!;
  const apps: TestApp[] = [];
  let client: EntraTestClient;

  beforeAll(async () => {
    client = await entraAdmin.createClient();
  });

  afterAll(async () => {
    await client.admin.reset();
    await Promise.all(apps.map((a) => a.stop()));
  });

  async function app(env: Record<string, string> = {}): Promise<TestApp> {
    const started = await startTestApp({ realClock: true, env: { ...client.env, ...env } });
    apps.push(started);
    return started;
  }

  async function signedIn(at: TestApp): Promise<{ browser: Browser; value: string }> {
    const browser = new Browser();
    await signIn(browser, at.url, user.username);
    const value = browser.jar.get(at.url, SESSION_COOKIE)?.value;
    expect(value).toBeDefined();
    return { browser, value: value! };
  }

  async function get(at: TestApp, path: string, cookie: string): Promise<{ status: number; body: string }> {
    const response = await fetch(`${at.url}${path}`, { headers: { cookie: `${SESSION_COOKIE}=${cookie}` }, redirect: 'manual' });
    return { status: response.status, body: await response.text() };
  }

  it('a forged cookie naming a real account is refused with no storage round trip and loads nothing', async () => {
    const signInApp = await app();
    const other = await app(); // nothing of the user in its memory
    const { value } = await signedIn(signInApp);
    const parts = parseSessionCookie(`${SESSION_COOKIE}=${value}`)!;
    const forgeries = [
      // The format before the MAC, with a random id: what the adversarial review sent.
      () => `${randomPart()}.${parts.homeAccountId}`,
      // A made-up MAC under the real kid.
      () => `${randomPart()}.${parts.homeAccountId}.${randomPart()}.${parts.kid}`,
      // The real MAC over another id.
      () => `${randomPart()}.${parts.homeAccountId}.${parts.mac}.${parts.kid}`,
      // A kid the ring does not have.
      () => `${randomPart()}.${parts.homeAccountId}.${randomPart()}.nokey`,
    ];
    const cost = await measureStorage(other, async () => {
      for (let i = 0; i < FORGED_REQUESTS; i++) {
        const forged = forgeries[i % forgeries.length]!();
        const answer = await get(other, i % 2 === 0 ? '/api/mail?top=1' : '/api/me', forged);
        expect(answer.status).toBe(401);
        expect(JSON.parse(answer.body)).toMatchObject({ error: 'login_required' });
      }
    });
    expect(cost.reads).toBe(0);
    expect(cost.writes).toBe(0);
    // Nothing of the user's token cache was pulled into the other instance's memory.
    const l1 = (other.services.tokenCacheStore as Partial<L1TokenCacheStore>).l1!;
    expect(l1.isFresh(partitionKeyOf(parts.homeAccountId))).toBe(false);
    // The real cookie works there, at the cost of one read.
    expect((await get(other, '/api/me', value)).status).toBe(200);
  });

  it('a cookie issued before the MAC (`<id>.<homeAccountId>`) reads as signed out: the user signs in again', async () => {
    const at = await app();
    const { value } = await signedIn(at);
    const parts = parseSessionCookie(`${SESSION_COOKIE}=${value}`)!;
    const before = { ...at.services.storageTraffic };
    expect((await get(at, '/api/me', `${parts.id}.${parts.homeAccountId}`)).status).toBe(401);
    expect(at.services.storageTraffic.reads - before.reads).toBe(0);
  });

  it('rotation: the newest key signs, every key in the ring verifies, a dropped key signs its sessions out', async () => {
    const oldRing = randomKeyRing('old1');
    const newRing = randomKeyRing('new1');
    const beforeRotation = await app({ KEY_RING: oldRing });
    const { value: oldCookie } = await signedIn(beforeRotation);
    expect(parseSessionCookie(`${SESSION_COOKIE}=${oldCookie}`)!.kid).toBe('old1');

    const rotated = await app({ KEY_RING: `${newRing},${oldRing}` });
    expect((await get(rotated, '/api/me', oldCookie)).status).toBe(200);
    const { value: newCookie } = await signedIn(rotated);
    expect(parseSessionCookie(`${SESSION_COOKIE}=${newCookie}`)!.kid).toBe('new1');
    expect((await get(rotated, '/api/me', newCookie)).status).toBe(200);

    const dropped = await app({ KEY_RING: newRing });
    expect((await get(dropped, '/api/me', newCookie)).status).toBe(200);
    expect((await get(dropped, '/api/me', oldCookie)).status).toBe(401);
  });

  it('revocation: a correctly signed cookie whose session was signed out reads as signed out', async () => {
    const at = await app({ SESSION_MEMORY_TTL_SECONDS: '0' });
    const { browser, value } = await signedIn(at);
    expect((await get(at, '/api/me', value)).status).toBe(200);
    const form = await browser.request(`${at.url}/api/logout`, { method: 'POST', headers: { origin: at.url } });
    expect(form.status).toBe(302);
    expect((await get(at, '/api/me', value)).status).toBe(401);
  });
});
