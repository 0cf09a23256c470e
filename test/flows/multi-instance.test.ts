/**
 * Refresh once across instances (issue 4): three local host processes (`node dist/serve.js`), one
 * Azurite, one emulated Entra that rotates refresh tokens with reuse detection ON, so a second
 * redemption of the same refresh token would revoke the grant and force a sign-in.
 *
 * The file uses its own app registration in the Entra emulator (settings, stats and reuse detection
 * are per client), and users created at runtime (no other test file knows or revokes them). The
 * tables are the shared ones; partitions are per user, so nothing collides.
 *
 * Expiry: MSAL treats an access token as expired 300 s before its `expires_on`, so a lifetime of
 * at most 300 s makes a freshly issued token due for refresh at once, and 300 + N s gives N usable
 * seconds.
 */
import { emulators, entraAdmin, type EntraClientAdmin, type EntraStats, type EntraUser } from '../support/emulators';
import { Browser } from '../support/http-client';
import { buildApp, mapLimit, shareSession, signInAs, startInstances, stopInstances, type Instance } from '../support/instances';

const INSTANCE_COUNT = 3;
/** Access-token lifetime at sign-in: at or under MSAL's 300 s renewal offset, due for refresh at once. */
const DUE_AT_ONCE_TTL = 290;
/** Seconds a refreshed token stays usable in the one-user test (must outlast the storm). */
const USABLE_SECONDS = 8;
/** Token endpoint latency: widens the window in which the other requests pile up behind the refresh. */
const ENTRA_LATENCY_MS = 200;

interface Answer {
  readonly status: number;
  /** The `error` code of a non-200 answer, or a network failure. */
  readonly error: string | undefined;
  readonly instance: number;
  readonly ms: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function getMail(browser: Browser, instance: Instance): Promise<Answer> {
  const started = Date.now();
  try {
    const hop = await browser.request(`${instance.url}/api/mail?top=1`, { signal: AbortSignal.timeout(20_000) });
    let error: string | undefined;
    if (hop.status !== 200) {
      try {
        error = String((JSON.parse(hop.body) as { error?: unknown }).error);
      } catch {
        error = hop.body.slice(0, 80);
      }
    }
    return { status: hop.status, error, instance: instance.index, ms: Date.now() - started };
  } catch (e) {
    return { status: 0, error: `network: ${(e as Error).message}`, instance: instance.index, ms: Date.now() - started };
  }
}

/** `{ "200": 98, "401 login_required": 2 }`: one line that says everything when it is not all 200. */
function tally(answers: readonly Answer[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of answers) {
    const key = a.status === 200 ? '200' : `${a.status} ${a.error ?? ''}`.trim();
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

function perInstance(answers: readonly Answer[]): number[] {
  const counts = new Array<number>(INSTANCE_COUNT).fill(0);
  for (const a of answers) if (a.status === 200) counts[a.instance]! += 1;
  return counts;
}

/** Successful redemptions of the user's refresh tokens. */
function redemptionsOf(stats: EntraStats, user: EntraUser): number {
  return stats.byUser[user.username]?.refreshTokenRedemptions ?? 0;
}

/** Every refresh_token grant request of the client, successful or not (a refused second redemption counts here). */
function refreshAttempts(stats: EntraStats): number {
  return stats.tokenRequestsByGrant['refresh_token'] ?? 0;
}

function percentile(answers: readonly Answer[], p: number): number {
  const sorted = answers.map((a) => a.ms).sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

describe('refresh once across three instances, with refresh-token reuse detection on', () => {
  let instances: Instance[] = [];
  let admin: EntraClientAdmin | undefined;

  beforeAll(async () => {
    // Always rebuild: the processes must run the current src/ (esbuild, well under a second).
    buildApp();
    const client = await entraAdmin.createClient();
    admin = client.admin;
    await admin.setSettings({ refreshTokenReuseDetection: true, latencyMs: ENTRA_LATENCY_MS });
    // One key ring for all (emulators().env's KEY_RING), as the instances of one Function App share theirs.
    instances = await startInstances(INSTANCE_COUNT, {
      env: { ...emulators().env, CLIENT_ID: client.clientId, CLIENT_SECRET: client.clientSecret },
    });
    // Warm every instance up (services, Entra discovery, table clients) with a user whose token
    // stays valid: otherwise a cold instance is still starting while a warm one refreshes, and the
    // storms would not really race across instances.
    const warmUser = await entraAdmin.createUser({ name: 'Multi Instance Warm-up' });
    const warm = new Browser();
    shareSession(warm, await signInAs(warm, instances[0]!.url, warmUser), instances.map((i) => i.url));
    const answers = await Promise.all(instances.map((instance) => getMail(warm, instance)));
    if (answers.some((a) => a.status !== 200)) {
      throw new Error(`warm-up failed: ${JSON.stringify(tally(answers))}\n${instances.map((i) => i.describe()).join('\n')}`);
    }
  }, 45_000);

  afterAll(async () => {
    for (const instance of instances) {
      if (instance.exit) console.error(`an instance had exited before the end of the file:\n${instance.describe()}`);
    }
    await stopInstances(instances);
    await admin?.reset();
  }, 20_000);

  /** Fails with the output of any instance that died, instead of a pile of network errors. */
  function expectAllRunning(): void {
    expect(instances.filter((i) => i.exit).map((i) => i.describe())).toEqual([]);
  }

  it('answers 100 concurrent requests of one user, spread over three instances, with one redemption and no lost update', async () => {
    const admin_ = admin!;
    const user = await entraAdmin.createUser({ name: 'Multi Instance Single' });
    const origins = instances.map((i) => i.url);

    // 1. Sign in through instance 0 with a token that is due for refresh the moment it is stored.
    await admin_.setSettings({ accessTokenTtlSeconds: DUE_AT_ONCE_TTL });
    const browser = new Browser();
    const session = await signInAs(browser, instances[0]!.url, user);
    shareSession(browser, session, origins);
    // The one refresh of the storm gets a token usable for USABLE_SECONDS.
    await admin_.setSettings({ accessTokenTtlSeconds: 300 + USABLE_SECONDS });
    await admin_.resetStats();

    // 2. The storm: 100 at once, round-robin over the instances.
    const started = Date.now();
    const storm = await Promise.all(Array.from({ length: 100 }, (_, i) => getMail(browser, instances[i % INSTANCE_COUNT]!)));
    const stormEnded = Date.now();
    const afterStorm = await admin_.stats();

    // 3. The next request on every instance: served from the stored cache, no redemption.
    const next = await Promise.all(instances.map((instance) => getMail(browser, instance)));
    const afterNext = await admin_.stats();

    // 4. Wait until the refreshed token is due, then a burst on all instances: exactly one more
    //    redemption, with the refresh token the storm stored (an older one would trip reuse detection).
    await sleep(Math.max(0, stormEnded + USABLE_SECONDS * 1000 + 1_200 - Date.now()));
    const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => getMail(browser, instances[i % INSTANCE_COUNT]!)));
    const afterBurst = await admin_.stats();

    console.log(
      `multi-instance, one user: storm of ${storm.length} in ${stormEnded - started} ms ` +
        `(p50 ${percentile(storm, 50)} ms, max ${percentile(storm, 100)} ms): ${JSON.stringify(tally(storm))}, 200s per instance ${JSON.stringify(perInstance(storm))}; ` +
        `Entra: refresh-token redemptions ${afterStorm.refreshTokenRedemptions} (user ${redemptionsOf(afterStorm, user)}, refresh_token requests ${refreshAttempts(afterStorm)}), ` +
        `reuse detected ${afterStorm.refreshTokenReuseDetected}, rotated-token redemption attempts ${afterStorm.rotatedRefreshTokenRedemptionAttempts}, ` +
        `token errors ${JSON.stringify(afterStorm.tokenErrors)}\n` +
        `  next request on each instance: ${JSON.stringify(tally(next))}, redemptions still ${afterNext.refreshTokenRedemptions}\n` +
        `  after expiry, burst of ${burst.length}: ${JSON.stringify(tally(burst))}, redemptions ${afterBurst.refreshTokenRedemptions} (refresh_token requests ${refreshAttempts(afterBurst)}) ` +
        `(+${afterBurst.refreshTokenRedemptions - afterNext.refreshTokenRedemptions}), reuse detected ${afterBurst.refreshTokenReuseDetected}, ` +
        `rotated-token redemption attempts ${afterBurst.rotatedRefreshTokenRedemptionAttempts}`,
    );

    expectAllRunning();
    expect(tally(storm)).toEqual({ '200': 100 });
    expect(perInstance(storm)).toEqual([34, 33, 33]);
    expect(redemptionsOf(afterStorm, user)).toBe(1);
    expect(afterStorm.refreshTokenRedemptions).toBe(1);
    expect(refreshAttempts(afterStorm)).toBe(1);
    expect(afterStorm.refreshTokenReuseDetected).toBe(0);
    expect(afterStorm.rotatedRefreshTokenRedemptionAttempts).toBe(0);
    expect(afterStorm.tokenErrors).toEqual({});
    // Otherwise the refreshed token could have expired during the storm and a second refresh been legitimate.
    expect(stormEnded - started).toBeLessThan((USABLE_SECONDS - 2) * 1000);

    expect(tally(next)).toEqual({ '200': INSTANCE_COUNT });
    expect(redemptionsOf(afterNext, user)).toBe(1);

    expect(tally(burst)).toEqual({ '200': 30 });
    expect(redemptionsOf(afterBurst, user)).toBe(2);
    expect(refreshAttempts(afterBurst)).toBe(2);
    expect(afterBurst.refreshTokenReuseDetected).toBe(0);
    expect(afterBurst.rotatedRefreshTokenRedemptionAttempts).toBe(0);
    expect(afterBurst.tokenErrors).toEqual({});
  }, 40_000);

  it('answers 20 users x 5 concurrent requests over three instances with one redemption per user', async () => {
    const admin_ = admin!;
    const USERS = 20;
    const PER_USER = 5;
    // The emulator creates users at runtime (POST /_emulator/users): 20 users nobody else touches.
    const users = await Promise.all(Array.from({ length: USERS }, (_, i) => entraAdmin.createUser({ name: `Multi Instance ${i + 1}` })));
    const origins = instances.map((i) => i.url);

    await admin_.setSettings({ accessTokenTtlSeconds: DUE_AT_ONCE_TTL });
    const browsers = users.map(() => new Browser());
    await mapLimit(users, 5, async (user, i) => {
      const session = await signInAs(browsers[i]!, instances[i % INSTANCE_COUNT]!.url, user);
      shareSession(browsers[i]!, session, origins);
    });
    // The refreshed tokens stay usable for the rest of the test.
    await admin_.setSettings({ accessTokenTtlSeconds: 3600 });
    await admin_.resetStats();

    // Every user's 5 requests land on all three instances; all 100 fired at once.
    const jobs = Array.from({ length: PER_USER }, (_, j) => users.map((_u, u) => ({ u, instance: instances[(u + j) % INSTANCE_COUNT]! }))).flat();
    const started = Date.now();
    const storm = await Promise.all(jobs.map(({ u, instance }) => getMail(browsers[u]!, instance)));
    const elapsed = Date.now() - started;
    const afterStorm = await admin_.stats();

    // One more request per user, on another instance than its first: no redemption.
    const next = await Promise.all(users.map((_u, u) => getMail(browsers[u]!, instances[(u + 1) % INSTANCE_COUNT]!)));
    const afterNext = await admin_.stats();

    const perUser = users.map((user) => redemptionsOf(afterStorm, user));
    console.log(
      `multi-instance, ${USERS} users x ${PER_USER}: storm of ${storm.length} in ${elapsed} ms ` +
        `(p50 ${percentile(storm, 50)} ms, max ${percentile(storm, 100)} ms): ${JSON.stringify(tally(storm))}, 200s per instance ${JSON.stringify(perInstance(storm))}; ` +
        `Entra: refresh-token redemptions ${afterStorm.refreshTokenRedemptions} for ${USERS} users (per user ${JSON.stringify(perUser)}, refresh_token requests ${refreshAttempts(afterStorm)}), ` +
        `reuse detected ${afterStorm.refreshTokenReuseDetected}, rotated-token redemption attempts ${afterStorm.rotatedRefreshTokenRedemptionAttempts}, ` +
        `token errors ${JSON.stringify(afterStorm.tokenErrors)}\n` +
        `  next request per user: ${JSON.stringify(tally(next))}, redemptions still ${afterNext.refreshTokenRedemptions}`,
    );

    expectAllRunning();
    expect(tally(storm)).toEqual({ '200': USERS * PER_USER });
    expect(afterStorm.refreshTokenRedemptions).toBe(USERS);
    expect(refreshAttempts(afterStorm)).toBe(USERS);
    expect(perUser).toEqual(users.map(() => 1));
    expect(afterStorm.refreshTokenReuseDetected).toBe(0);
    expect(afterStorm.rotatedRefreshTokenRedemptionAttempts).toBe(0);
    expect(afterStorm.tokenErrors).toEqual({});

    expect(tally(next)).toEqual({ '200': USERS });
    expect(afterNext.refreshTokenRedemptions).toBe(USERS);
    expect(refreshAttempts(afterNext)).toBe(USERS);
    expect(afterNext.refreshTokenReuseDetected).toBe(0);
  }, 40_000);
});
