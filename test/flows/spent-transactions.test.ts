/**
 * Issue 16, finding 2: the sign-in transaction was one-time only because the browser deletes its
 * cookie; a client that kept the cookie replayed it with junk codes and reached Entra's token
 * endpoint every time. The callback now records the spent transaction server-side first
 * (src/auth/spent-transactions.ts), so a replay never reaches Entra.
 */
import { randomBytes } from 'node:crypto';
import { measureStorage, type TestApp } from '../support/app';
import { useOwnClientApp } from '../support/own-client-app';
import { emulators, type EntraTestClient } from '../support/emulators';
import { Browser } from '../support/http-client';
import { signIn, startLogin } from '../support/sign-in';

const REPLAYS = 10;

describe('spent sign-in transactions', () => {
  const user = emulators().entra.users[0]!;
  const own = useOwnClientApp();
  let client: EntraTestClient;
  let app: TestApp;

  beforeAll(() => {
    client = own.client();
    app = own.app();
  });

  it('a replayed transaction cookie and state never reach the token endpoint', async () => {
    const browser = new Browser();
    const started = await startLogin(browser, app.url);
    const state = new URL(started.location!).searchParams.get('state')!;
    const cookie = browser.jar.header(`${app.url}/api/callback`);
    expect(cookie).toMatch(/__Host-txn-/);
    await client.admin.resetStats();

    const callback = (code: string) =>
      fetch(`${app.url}/api/callback?${new URLSearchParams({ state, code })}`, { headers: { cookie }, redirect: 'manual' });
    const first = await callback('junk-0');
    expect(first.status).toBe(400);
    expect(await first.text()).toContain('login_failed');
    expect((await client.admin.stats()).tokenRequests).toBe(1);

    for (let i = 1; i <= REPLAYS; i++) {
      const replay = await callback(`junk-${i}`);
      expect(replay.status).toBe(400);
      const body = await replay.text();
      expect(body).toContain('login_transaction_invalid');
      expect(body).toContain('already used');
      // The replay's response deletes the cookie again.
      expect(replay.headers.getSetCookie().some((c) => /^__Host-txn-[^=]+=; Path=\/; Max-Age=0/.test(c))).toBe(true);
    }
    expect((await client.admin.stats()).tokenRequests).toBe(1);
  });

  it('a sign-in costs one write more than before: the spent transaction', async () => {
    await signIn(new Browser(), app.url, user.username); // the account's partition exists
    const cost = await measureStorage(app, async () => {
      const { last } = await signIn(new Browser(), app.url, user.username);
      expect(last.status).toBe(200);
    });
    // The session row, its front-channel (sid) row, the token cache, the spent transaction.
    expect(cost.writes).toBe(4);
  });

  it('the sweep deletes spent transactions once their cookie has expired, and keeps the others', async () => {
    const old = randomBytes(32).toString('base64url');
    const fresh = randomBytes(32).toString('base64url');
    const now = app.clock();
    expect(await app.services.spentTransactions.spend(old, now + 600_000)).toBe(true);
    expect(await app.services.spentTransactions.spend(fresh, now + 1_200_000)).toBe(true);
    expect(await app.services.spentTransactions.spend(old, now + 600_000)).toBe(false);

    // Other test files' rows may be swept too: count only ours through spend() afterwards.
    let swept = 0;
    do swept = await app.services.spentTransactions.sweepExpired(now + 900_000, 500);
    while (swept === 500);
    expect(await app.services.spentTransactions.spend(old, now + 600_000)).toBe(true); // gone: insertable again
    expect(await app.services.spentTransactions.spend(fresh, now + 1_200_000)).toBe(false); // still there
  });
});
