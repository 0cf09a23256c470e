/**
 * What one request costs in Table Storage round trips (sessions + token cache), counted at the
 * SDK pipeline: the figures quoted in the README and the issue notes come from this test's output.
 */
import type { MsalTokenService } from '../../src/auth/msal-token-service';
import type { L1TokenCacheStore } from '../../src/cache/l1-token-cache-store';
import { measureStorage, startTestApp, type TestApp } from '../support/app';
import { emulators, entraAdmin, type EntraTestClient } from '../support/emulators';
import { Browser } from '../support/http-client';
import { carrySession, signIn } from '../support/sign-in';

const MSAL_RENEWAL_OFFSET_S = 300;

describe('storage round trips per request', () => {
  const user = emulators().entra.users[2]!;
  const apps: TestApp[] = [];
  let client: EntraTestClient;
  const figures: Record<string, { reads: number; writes: number }> = {};

  beforeAll(async () => {
    // An app registration of its own: its token lifetimes and counters touch no other test.
    client = await entraAdmin.createClient();
  });

  afterAll(async () => {
    await client.admin.reset();
    await Promise.all(apps.map((a) => a.stop()));
    console.log(`storage round trips per request:\n${Object.entries(figures).map(([k, v]) => `  ${k}: ${v.reads} reads, ${v.writes} writes`).join('\n')}`);
  });

  async function mailOk(app: TestApp, browser: Browser): Promise<void> {
    const hop = await browser.request(`${app.url}/api/mail?top=1`);
    expect(hop.status).toBe(200);
  }

  it.each([
    ['without the memory copies', { TOKEN_CACHE_MEMORY_MB: '0', SESSION_MEMORY_TTL_SECONDS: '0' }, 2],
    ['with the token-cache memory copy only', { SESSION_MEMORY_TTL_SECONDS: '0' }, 1],
    // The session memory still confirms the session's row on each use (one small point read), so a
    // device ended on another instance ends here at once (src/auth/session-memory.ts).
    ['with the memory copies (default)', {}, 1],
  ])('warm mail requests %s: no write, at most one read per kind', async (label, env, reads) => {
    const app = await startTestApp({ realClock: true, env: { ...client.env, ...env } });
    apps.push(app);
    await signIn(new Browser(), app.url, user.username); // the first one also creates the tables
    const browser = new Browser();
    figures[`sign-in (${label})`] = await measureStorage(app, () => signIn(browser, app.url, user.username));
    await mailOk(app, browser);
    const counters = (app.services.tokens as MsalTokenService).counters;
    const fromMemoryBefore = counters.servedFromMemory;
    const warm = await measureStorage(app, () => mailOk(app, browser));
    // With the memory copies on, MSAL is not even asked: the access token handed out a moment ago is reused.
    expect(counters.servedFromMemory - fromMemoryBefore).toBe(label.startsWith('without') ? 0 : 1);
    figures[`warm /api/mail (${label})`] = warm;
    expect(warm.writes).toBe(0);
    // The session and the token cache cost one read each; with the memory copies, the token cache none
    // and the session one existence check.
    expect(warm.reads).toBe(reads);
  });

  it('a first visit to an instance reads the session and the token cache in one round trip', async () => {
    const signInApp = await startTestApp({ realClock: true, env: client.env });
    const otherInstance = await startTestApp({ realClock: true, env: client.env });
    apps.push(signInApp, otherInstance);
    const browser = new Browser();
    await signIn(browser, signInApp.url, user.username);
    // The same browser behind a load balancer: its cookie reaches the other instance.
    carrySession(browser, signInApp, otherInstance);
    const l1 = (otherInstance.services.tokenCacheStore as Partial<L1TokenCacheStore>).l1!;
    const before = { ...l1.stats };
    const firstVisit = await measureStorage(otherInstance, () => mailOk(otherInstance, browser));
    figures['warm /api/mail, first visit to an instance'] = firstVisit;
    expect(firstVisit).toEqual({ reads: 1, writes: 0 });
    // The rows the session read brought along served MSAL's cache access from memory.
    expect(l1.stats.hits - before.hits).toBeGreaterThanOrEqual(1);
    expect(l1.stats.misses - before.misses).toBe(0);
  });

  it('a refresh costs the lease and one conditional write', async () => {
    // Memory copies off, so every read is visible: the worst case.
    const app = await startTestApp({ realClock: true, env: { ...client.env, TOKEN_CACHE_MEMORY_MB: '0', SESSION_MEMORY_TTL_SECONDS: '0' } });
    apps.push(app);
    await client.admin.setSettings({ accessTokenTtlSeconds: MSAL_RENEWAL_OFFSET_S + 2 });
    const browser = new Browser();
    await signIn(browser, app.url, user.username);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await client.admin.resetStats();
    const refresh = await measureStorage(app, () => mailOk(app, browser));
    figures['/api/mail with a refresh'] = refresh;
    expect((await client.admin.stats()).refreshTokenRedemptions).toBe(1);
    // Reads: the session, the offline probe, and MSAL's two cache accesses during a refresh (the
    // lookup, then the re-read before it saves). Writes: take the lease, the ETag-conditional
    // cache write, release the lease.
    expect(refresh).toEqual({ reads: 4, writes: 3 });
  });

  it('the expiry index adds a write the first time an instance writes an account\'s expiry day (src/storage/expiry-index.ts)', async () => {
    const env = { ...client.env, TOKEN_CACHE_MEMORY_MB: '0', SESSION_MEMORY_TTL_SECONDS: '0' };
    const app = await startTestApp({ realClock: true, env });
    const other = await startTestApp({ realClock: true, env });
    apps.push(app, other);
    // Another account signs in on each first: their first write also asks for the table (createTable).
    const someoneElse = emulators().entra.users[1]!.username;
    await signIn(new Browser(), app.url, someoneElse);
    await signIn(new Browser(), other.url, someoneElse);
    await client.admin.setSettings({ accessTokenTtlSeconds: MSAL_RENEWAL_OFFSET_S + 2 });
    const browser = new Browser();
    const signInCost = await measureStorage(app, () => signIn(browser, app.url, user.username));
    figures['sign-in, the first of the account on this instance today'] = signInCost;
    // The spent sign-in transaction, the session's index row and row, its front-channel (sid) row,
    // the token cache's index row and row.
    expect(signInCost.writes).toBe(6);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await client.admin.resetStats();
    // The same browser behind a load balancer reaches the other instance, which never indexed this account.
    carrySession(browser, app, other);
    const refresh = await measureStorage(other, () => mailOk(other, browser));
    figures['/api/mail with a refresh, the first of the account on this instance today'] = refresh;
    expect((await client.admin.stats()).refreshTokenRedemptions).toBe(1);
    // The lease, the cache's index row (its expiry moved to a day this instance has not indexed), the cache, the release.
    expect(refresh.writes).toBe(4);
  });
});
