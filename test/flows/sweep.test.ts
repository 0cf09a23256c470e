import { InvocationContext } from '@azure/functions';
import { createTimers } from '../../src/timers';
import { startTestApp, type TestApp } from '../support/app';
import { emulators } from '../support/emulators';
import { Browser } from '../support/http-client';
import { signIn } from '../support/sign-in';

const DAY = 24 * 3600_000;

describe('the sweepExpired timer', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app.stop());

  it('deletes expired sessions and token caches, and keeps live ones', async () => {
    const user = emulators().entra.users[2]!;
    const homeAccountId = `${user.oid}.${emulators().entra.tenantId}`;
    const browser = new Browser();
    await signIn(browser, app.url, user.username);
    expect(await app.services.tokenCacheStore.read(homeAccountId)).toBeDefined();

    const [timer] = createTimers(async () => app.services);
    const context = new InvocationContext({ functionName: timer!.name });
    await timer!.run(context);
    expect(await app.services.tokenCacheStore.read(homeAccountId)).toBeDefined();
    expect((await browser.request(`${app.url}/api/me`)).status).toBe(200);

    app.clock.advance(93 * DAY); // the cache expires in 91 days; its day is swept once it ended an hour ago
    let report = (await timer!.run(context)) as { sessions: number; tokenCachePartitions: number };
    // Bounded batches: run until nothing is left, as successive timer runs would.
    let total = { sessions: report.sessions, partitions: report.tokenCachePartitions };
    while (report.sessions > 0 || report.tokenCachePartitions > 0) {
      report = (await timer!.run(context)) as { sessions: number; tokenCachePartitions: number };
      total = { sessions: total.sessions + report.sessions, partitions: total.partitions + report.tokenCachePartitions };
    }
    expect(total.sessions).toBeGreaterThanOrEqual(1);
    expect(total.partitions).toBeGreaterThanOrEqual(1);
    expect(await app.services.tokenCacheStore.read(homeAccountId)).toBeUndefined();
    expect((await browser.request(`${app.url}/api/me`)).status).toBe(401);
  });
});
