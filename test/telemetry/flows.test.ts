/**
 * The spans and metric points of real flows against the emulated Azure, exported to memory through
 * the app's own SDK setup (test/telemetry/harness.ts): a sign-in, a warm mail request, a refresh
 * storm, a Key Vault outage; then a scan of every attribute exported in this file for tokens,
 * secrets, cookies and personal data.
 */
import { randomBytes } from 'node:crypto';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { KeyVaultEmulator } from '../../emulators/keyvault';
import { METRIC } from '../../src/telemetry/instruments';
import { startTestApp, type TestApp } from '../support/app';
import { emulators, entraAdmin, type EntraTestClient, type EntraUser } from '../support/emulators';
import { Browser } from '../support/http-client';
import { startOwnKeyVault, type OwnKeyVault } from '../support/key-vault';
import { signIn } from '../support/sign-in';
import { scanAttributes } from './scan';
import { startTestTelemetry, total, type TestTelemetry } from './harness';

/** MSAL renews an access token this long before it expires. */
const MSAL_RENEWAL_OFFSET_S = 300;

let telemetry: TestTelemetry;
let client: EntraTestClient;
const apps: TestApp[] = [];
/** Everything the scan at the end must not find in any attribute. */
const secrets: string[] = [];
const users: EntraUser[] = [];
const browsers: { browser: Browser; url: string }[] = [];

beforeAll(async () => {
  telemetry = startTestTelemetry();
  // An app registration of its own: its token lifetimes and counters touch no other test file.
  client = await entraAdmin.createClient();
  secrets.push(client.clientSecret, emulators().entra.clientSecret);
});

afterAll(async () => {
  await client.admin.reset();
  await Promise.all(apps.map((a) => a.stop()));
  await telemetry.stop();
});

function trace(spans: readonly ReadableSpan[], root: ReadableSpan): ReadableSpan[] {
  return spans.filter((s) => s.spanContext().traceId === root.spanContext().traceId && s !== root);
}

function serverSpans(route: string): ReadableSpan[] {
  return telemetry.finished().filter((s) => s.kind === SpanKind.SERVER && s.attributes['http.route'] === route);
}

const names = (spans: readonly ReadableSpan[]): string[] => spans.map((s) => s.name).sort();

async function signedInApp(env: Record<string, string> = {}): Promise<{ app: TestApp; browser: Browser; user: EntraUser }> {
  const app = await startTestApp({ realClock: true, env: { ...client.env, ...env } });
  apps.push(app);
  const user = await entraAdmin.createUser({ username: `otel-${randomBytes(4).toString('hex')}@contoso.test`, name: `Otto Telemetry ${randomBytes(2).toString('hex')}` });
  users.push(user);
  const browser = new Browser();
  browsers.push({ browser, url: app.url });
  await signIn(browser, app.url, user);
  return { app, browser, user };
}

describe('telemetry of the flows', () => {
  it('a sign-in: a server span per step, the code redemption and the storage writes under the callback, one sign-in counted ok', async () => {
    await telemetry.metricPoints(); // drain
    const { app } = await signedInApp();
    const points = await telemetry.metricPoints();
    const [callback, ...more] = serverSpans('/api/callback');
    expect(more).toEqual([]);
    expect(callback!.attributes['http.response.status_code']).toBe(302);
    expect(callback!.attributes['enduser.pseudo.id']).toMatch(/^[0-9a-f]{16}$/);
    const children = trace(telemetry.finished(), callback!);
    const redemption = children.filter((s) => s.name === 'entra token');
    expect(redemption.map((s) => s.attributes['oauth.grant_type'])).toEqual(['authorization_code']);
    expect(redemption[0]!.kind).toBe(SpanKind.CLIENT);
    // At least the session row and the token cache (storage-cost.test.ts counts every write a sign-in
    // makes: 4, or 6 with the expiry index's rows).
    expect(children.filter((s) => s.name === 'storage write').length).toBeGreaterThanOrEqual(2);
    for (const child of children) expect(child.parentSpanContext?.traceId).toBe(callback!.spanContext().traceId);
    expect(serverSpans('/api/login').map((s) => s.attributes['http.response.status_code'])).toEqual([302]);

    expect(total(points, METRIC.signIns)).toBe(1);
    expect(total(points, METRIC.signIns, { outcome: 'ok' })).toBe(1);
    expect(total(points, METRIC.requestDuration, { 'http.route': '/api/callback', 'http.response.status_code': 302 })).toBe(1);
    expect(total(points, METRIC.entraDuration, { 'bff.entra.operation': 'token' })).toBe(1);
    expect(total(points, METRIC.refreshRedemptions)).toBe(0);
    expect(points.find((p) => p.name === METRIC.storageDuration)?.unit).toBe('s');
    await app.stop();
  });

  it('a warm mail request: one server span with one Graph call and the session check (one storage read) under it, no Entra, a token from memory', async () => {
    const { app, browser } = await signedInApp();
    expect((await browser.request(`${app.url}/api/mail?top=2`)).status).toBe(200);
    telemetry.spans.reset();
    await telemetry.metricPoints();

    expect((await browser.request(`${app.url}/api/mail?top=2`)).status).toBe(200);
    const points = await telemetry.metricPoints();
    const [mail, ...more] = serverSpans('/api/mail');
    expect(more).toEqual([]);
    expect(mail!.name).toBe('GET /api/mail');
    expect(mail!.attributes).toMatchObject({ 'http.request.method': 'GET', 'http.route': '/api/mail', 'http.response.status_code': 200 });
    expect(typeof mail!.attributes['faas.invocation_id']).toBe('string');
    const children = trace(telemetry.finished(), mail!);
    // The remembered session is confirmed by one point read, so a device ended anywhere ends here at once (README).
    expect(names(children).sort()).toEqual(['graph GET', 'storage read']);
    const graph = children.find((span) => span.name === 'graph GET')!;
    expect(graph.parentSpanContext?.spanId).toBe(mail!.spanContext().spanId);
    expect(graph.attributes['http.response.status_code']).toBe(200);

    expect(total(points, METRIC.tokenAcquisitions, { source: 'memory' })).toBe(1);
    expect(total(points, METRIC.tokenAcquisitions)).toBe(1);
    expect(total(points, METRIC.requestDuration, { 'http.route': '/api/mail', 'http.response.status_code': 200 })).toBe(1);
    expect(total(points, METRIC.graphDuration, { outcome: 'ok' })).toBe(1);
    expect(total(points, METRIC.storageDuration)).toBe(1);
    expect(total(points, METRIC.entraDuration)).toBe(0);
  });

  it('a refresh storm: 30 concurrent requests, one redemption counted, one refreshed token, the rest waited or shared', async () => {
    // Signed in with an access token MSAL already treats as due; the refresh's token lives an hour.
    await client.admin.setSettings({ accessTokenTtlSeconds: MSAL_RENEWAL_OFFSET_S - 10 });
    const { app, browser } = await signedInApp();
    await client.admin.setSettings({ accessTokenTtlSeconds: 3600 });
    await client.admin.resetStats();
    telemetry.spans.reset();
    await telemetry.metricPoints();

    const statuses = await Promise.all(Array.from({ length: 30 }, async () => (await browser.request(`${app.url}/api/mail?top=1`)).status));
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    const points = await telemetry.metricPoints();
    expect((await client.admin.stats()).refreshTokenRedemptions).toBe(1);
    expect(total(points, METRIC.refreshRedemptions)).toBe(1);
    expect(total(points, METRIC.refreshRedemptions, { outcome: 'ok' })).toBe(1);
    expect(total(points, METRIC.tokenAcquisitions, { source: 'refreshed' })).toBe(1);
    expect(total(points, METRIC.forcedSignIns)).toBe(0);
    expect(total(points, METRIC.leaseTimeouts)).toBe(0);
    expect(total(points, METRIC.requestDuration, { 'http.route': '/api/mail', 'http.response.status_code': 200 })).toBe(30);
    const refreshes = telemetry.finished().filter((s) => s.name === 'entra token');
    expect(refreshes.map((s) => s.attributes['oauth.grant_type'])).toEqual(['refresh_token']);
    // The redemption belongs to one of the storm's requests.
    const owner = serverSpans('/api/mail').find((s) => s.spanContext().traceId === refreshes[0]!.spanContext().traceId);
    expect(owner).toBeDefined();
  });
});

describe('telemetry of a Key Vault outage', () => {
  let own: OwnKeyVault;
  let vault: KeyVaultEmulator;
  let app: TestApp;
  const ring = `k1:${randomBytes(32).toString('base64')}`;

  beforeAll(async () => {
    const info = emulators();
    // A vault of this file's own, so taking it down disturbs no other test file.
    own = await startOwnKeyVault({ 'client-secret': info.entra.clientSecret, 'key-ring': ring });
    vault = own.vault;
    secrets.push(ring.split(':')[1]!);
    const { PUBLIC_BASE_URL: _ignored, ...env } = info.envKeyVault;
    app = await startTestApp({ env: { ...env, KEY_VAULT_URL: vault.url } });
    apps.push(app);
  });

  afterAll(async () => {
    await own?.stop();
  });

  it('the failed reads are spans and a failed-read count, the request span carries the code, the log line the trace id; /api/ready names the vault', async () => {
    await own.admin('POST', 'down', { down: true });
    telemetry.spans.reset();
    await telemetry.metricPoints();

    const login = await new Browser().request(`${app.url}/api/login`);
    expect(login.status).toBe(503);
    const ready = await new Browser().request(`${app.url}/api/ready`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('retry-after')).toBe('5');
    expect(JSON.parse(ready.body)).toEqual({
      error: 'not_ready',
      message: 'Not ready: Key Vault did not answer. Operators: see docs/operations.md ("Readiness failing").',
      failing: ['key_vault'],
      checks: { storage: 'ok', key_vault: 'failed', authority: 'ok' },
    });
    const points = await telemetry.metricPoints();

    const [loginSpan] = serverSpans('/api/login');
    expect(loginSpan!.attributes).toMatchObject({ 'http.response.status_code': 503, 'app.error_code': 'key_vault_unavailable' });
    expect(loginSpan!.status.code).toBe(SpanStatusCode.ERROR);
    const reads = trace(telemetry.finished(), loginSpan!).filter((s) => s.name === 'key_vault get_secret');
    expect(reads.length).toBeGreaterThanOrEqual(1);
    for (const read of reads) expect(read.status.code).toBe(SpanStatusCode.ERROR);
    const [readySpan] = serverSpans('/api/ready');
    expect(readySpan!.attributes['app.error_code']).toBe('not_ready');
    expect(names(trace(telemetry.finished(), readySpan!)).filter((n) => n.startsWith('readiness'))).toEqual(['readiness authority', 'readiness key_vault', 'readiness storage']);

    expect(total(points, METRIC.keyVaultReads, { outcome: 'failed' })).toBeGreaterThanOrEqual(1);
    expect(total(points, METRIC.keyVaultReads, { outcome: 'ok' })).toBe(0);
    expect(total(points, METRIC.readinessChecks, { dependency: 'key_vault', outcome: 'failed' })).toBe(1);
    expect(total(points, METRIC.readinessChecks, { outcome: 'ok' })).toBe(2);
    expect(total(points, METRIC.requestDuration, { 'http.route': '/api/login', 'http.response.status_code': 503 })).toBe(1);

    // One structured line per failure, correlated with the trace.
    const failures = app.logs.filter((l) => l.includes('"event":"request_failed"')).map((l) => JSON.parse(l.slice(l.indexOf('{'))) as Record<string, unknown>);
    expect(failures).toEqual([
      expect.objectContaining({ function: 'login', code: 'key_vault_unavailable', status: 503, traceId: loginSpan!.spanContext().traceId, spanId: loginSpan!.spanContext().spanId }),
    ]);
    expect(failures[0]!['invocationId']).toBe(loginSpan!.attributes['faas.invocation_id']);

    // The vault is back: readiness answers again once its cached answer is 5 s old.
    await own.admin('POST', 'down', { down: false });
    expect((await new Browser().request(`${app.url}/api/ready`)).status).toBe(503);
    app.clock.advance(5_000);
    const again = await new Browser().request(`${app.url}/api/ready`);
    expect({ status: again.status, body: JSON.parse(again.body) }).toEqual({ status: 200, body: { status: 'ready', checks: { storage: 'ok', key_vault: 'ok', authority: 'ok' } } });
  });
});

describe('every exported attribute', () => {
  it('carries no token, secret, cookie, e-mail address or name', async () => {
    await telemetry.metricPoints();
    const seeded = emulators().entra.users;
    const forbidden = [
      ...secrets,
      ...[...seeded, ...users].flatMap((u) => [u.username, u.name, u.password, u.oid]),
      ...browsers.flatMap(({ browser, url }) => [browser.jar.get(url, '__Host-session')?.value].filter((v): v is string => v !== undefined)),
    ];
    const spans = telemetry.everySpan();
    expect(spans.length).toBeGreaterThan(50);
    expect(scanAttributes(spans, telemetry.exportedMetrics(), forbidden)).toEqual([]);
  });
});
