/**
 * `npm run smoke` (dist/tools/smoke.js, run as its own process) against the app on the emulators,
 * against the same app misconfigured, and against a stand-in server whose routes answer wrongly.
 */
import * as http from 'node:http';
import { freePort, listen } from '../../emulators/ports';
import { startTestApp, type TestApp } from '../support/app';
import { emulators } from '../support/emulators';
import { runSmoke } from '../../src/tools/smoke';
import { formatResult } from '../../src/tools/report';
import { build } from '../support/instances';
import { runTool } from './run-tool';

let app: TestApp;

beforeAll(async () => {
  build('smoke');
  app = await startTestApp({ realClock: true });
});

afterAll(async () => {
  await app?.stop();
});

function passLines(base: string): string[] {
  const { authority, clientId } = emulators().entra;
  return [
    `smoke: ${base}`,
    '✓ health: GET /api/health answered 200 {"status":"ok"}',
    '✓ page: GET / answered 200 text/html with the "Sign in with Microsoft" link',
    `✓ login: GET /api/login redirects (302) to ${authority}/oauth2/v2.0/authorize with client_id ${clientId}, redirect_uri ${base}/api/callback, PKCE S256, offline_access, state and nonce`,
    '✓ cookies: GET /api/login sets __Host-txn-*: __Host-, Secure, HttpOnly, SameSite, Path=/',
    '✓ me: GET /api/me answered 401 login_required with loginUrl /api/login?returnTo=%2F',
    '✓ headers: nosniff, no-store and Referrer-Policy on GET /api/health, GET /, GET /api/login, GET /api/me; the page: a CSP without inline script, framing refused',
  ];
}

test('passes against the app on the emulators, with and without the expected authority', async () => {
  const run = await runTool('smoke', [app.url]);
  expect(run.stderr).toBe('');
  expect(run.lines).toEqual([...passLines(app.url), 'smoke: all 6 checks passed']);
  expect(run.code).toBe(0);

  const withAuthority = await runTool('smoke', [`${app.url}/`, '--authority', `${emulators().entra.authority}/`]);
  expect(withAuthority.lines).toEqual([...passLines(app.url), 'smoke: all 6 checks passed']);
  expect(withAuthority.code).toBe(0);
});

test('a wrong PUBLIC_BASE_URL and another authority fail the login check, saying what to set', async () => {
  const misconfigured = await startTestApp({ realClock: true, env: { PUBLIC_BASE_URL: 'https://bff.example.net' } });
  try {
    const base = misconfigured.url;
    const expected = 'https://login.microsoftonline.com/contoso.onmicrosoft.com';
    const run = await runTool('smoke', [base, '--authority', expected]);
    const pass = passLines(base);
    expect(run.lines).toEqual([
      ...pass.slice(0, 3),
      `✗ login [login_authority]: GET /api/login redirects to ${emulators().entra.authority}/oauth2/v2.0/authorize, expected ${expected}/oauth2/v2.0/authorize. ` +
        `Fix: set CLOUD_INSTANCE and TENANT_ID so that CLOUD_INSTANCE + TENANT_ID is ${expected}.`,
      `✗ login [login_redirect_uri]: redirect_uri is "https://bff.example.net/api/callback", expected "${base}/api/callback". ` +
        `Fix: set PUBLIC_BASE_URL to ${base} (the origin people use), and register ${base}/api/callback as a Web redirect URI of the app registration.`,
      ...pass.slice(4),
      'smoke: 2 problems in 1 of 6 checks',
    ]);
    expect(run.code).toBe(1);
  } finally {
    await misconfigured.stop();
  }
});

test('an app whose authority is down answers /api/login with its 503: the login line names the app\'s error code and points at the doctor', async () => {
  const cutOff = await startTestApp({ realClock: true, env: { CLOUD_INSTANCE: `https://127.0.0.1:${await freePort()}/` } });
  try {
    const run = await runTool('smoke', [cutOff.url]);
    const pass = passLines(cutOff.url);
    expect(run.lines).toEqual([
      ...pass.slice(0, 3),
      '✗ login [login_status]: GET /api/login answered 503 (identity_provider_unavailable), ' +
        "expected 302 to the authority. Fix: run `npm run doctor` with the app's settings: it names the setting or dependency at fault; the function app's log stream shows the rest.",
      '✗ cookies [cookies_not_checked]: not checked: GET /api/login did not answer 302 (see login), and its transaction cookie is what is checked.',
      ...pass.slice(5),
      'smoke: 2 problems in 2 of 6 checks',
    ]);
    expect(run.code).toBe(1);
  } finally {
    await cutOff.stop();
  }
});

/** Routes that answer the way a broken or foreign deployment would. */
async function startStandIn(): Promise<{ url: string; stop: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/api/health') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
    } else if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html', 'x-content-type-options': 'nosniff', 'content-security-policy': "default-src 'self' 'unsafe-inline'" });
      res.end('<h1>Your Functions 4.0 app is up and running</h1>');
    } else if (path === '/api/login') {
      const authorize = new URL('https://login.microsoftonline.com/common/oauth2/v2.0/authorize');
      authorize.search = new URLSearchParams({ client_id: 'not-a-guid', redirect_uri: 'https://elsewhere.example/api/callback', response_type: 'token', scope: 'openid profile Mail.Read' }).toString();
      res.setHeader('set-cookie', ['__Host-txn-abcdefghijklmnop=sealed; Path=/; SameSite=None', 'tracking=1; Domain=example.net; Path=/; Secure; HttpOnly; SameSite=Lax']);
      res.writeHead(302, { location: authorize.href, 'cache-control': 'no-store', 'referrer-policy': 'unsafe-url' }).end();
    } else if (path === '/api/me') {
      res.writeHead(401, { 'content-type': 'application/json', 'cache-control': 'no-cache' }).end(JSON.stringify({ error: 'unauthorized' }));
    } else {
      res.writeHead(404).end();
    }
  });
  const port = await listen(server, 0);
  return { url: `http://127.0.0.1:${port}`, stop: () => new Promise((resolve) => server.close(() => resolve())) };
}

test('routes answering wrongly get one ✗ line per problem, each with its code and what to do', async () => {
  const standIn = await startStandIn();
  try {
    const run = await runTool('smoke', [standIn.url]);
    const keep =
      'the app sets it on every response (src/http/responses.ts): make sure nothing between browsers and the app (a proxy, Front Door, an App Gateway rule) removes or rewrites it';
    expect(run.lines).toEqual([
      `smoke: ${standIn.url}`,
      '✗ health [health_status]: GET /api/health answered 404, expected 200. Fix: nothing answers this route there: publish the app (docs/deploy.md), then check that `func azure functionapp list-functions <app>` lists it.',
      '✗ page [page_sign_in]: GET / has no "Sign in with Microsoft" link to /api/login: something else answers at /. Fix: deploy the current build, and set AzureWebJobsDisableHomepage=true with routePrefix "" in host.json.',
      '✗ login [login_client_id]: the authorize request has no client_id GUID. Fix: set CLIENT_ID to the application (client) id of the app registration.',
      `✗ login [login_redirect_uri]: redirect_uri is "https://elsewhere.example/api/callback", expected "${standIn.url}/api/callback". Fix: set PUBLIC_BASE_URL to ${standIn.url} (the origin people use), and register ${standIn.url}/api/callback as a Web redirect URI of the app registration.`,
      '✗ login [login_response_type]: response_type is "token", expected "code". Fix: deploy the current build.',
      '✗ login [login_pkce]: the authorize request lacks PKCE S256 (code_challenge_method "", code_challenge missing). Fix: deploy the current build.',
      '✗ login [login_scope]: scope "openid profile Mail.Read" lacks offline_access: without offline_access there is no refresh token and people sign in again every hour. Fix: deploy the current build.',
      '✗ login [login_state]: the authorize request has no state (or a short one): sign-in is open to CSRF. Fix: deploy the current build.',
      '✗ login [login_nonce]: the authorize request has no nonce (or a short one): sign-in is open to token replay. Fix: deploy the current build.',
      '✗ cookies [cookie_attributes]: cookie __Host-txn-* from GET /api/login lacks Secure, HttpOnly, SameSite=Lax or Strict. Fix: deploy the current build, and keep proxies from rewriting Set-Cookie.',
      '✗ cookies [cookie_attributes]: cookie tracking from GET /api/login lacks the __Host- prefix, Path=/ without Domain. Fix: deploy the current build, and keep proxies from rewriting Set-Cookie.',
      '✗ me [me_body]: GET /api/me answered 401 but not JSON {"error":"login_required"}: something else answers at this URL. Fix: check the URL.',
      `✗ headers [header_nosniff]: X-Content-Type-Options: nosniff is missing on GET /api/health, GET /api/login, GET /api/me. Fix: ${keep}.`,
      `✗ headers [header_cache]: Cache-Control: no-store is missing on GET /api/health, GET /, GET /api/me: a cache could serve one person's answer to another. Fix: ${keep}.`,
      `✗ headers [header_referrer]: Referrer-Policy is missing or weak on GET /api/health, GET /, GET /api/login, GET /api/me (expected same-origin, no-referrer or strict-origin*). Fix: ${keep}.`,
      `✗ headers [header_csp]: Content-Security-Policy on GET / is missing or allows inline or foreign script. Fix: ${keep}.`,
      `✗ headers [header_frame]: GET / may be framed by other sites (no frame-ancestors 'none' nor X-Frame-Options: DENY). Fix: ${keep}.`,
      'smoke: 17 problems in 6 of 6 checks',
    ]);
    expect(run.code).toBe(1);
  } finally {
    await standIn.stop();
  }
});

test('an app that answers nothing: every check says so; bad usage exits 2', async () => {
  const base = `http://127.0.0.1:${await freePort()}`;
  const run = await runTool('smoke', [base]);
  const unreachable = (check: string, path: string): string =>
    `✗ ${check} [${check}_unreachable]: GET ${base}${path} got no answer (ECONNREFUSED). Fix: check the URL (the function app's https://<name>.azurewebsites.net, ` +
    'or your custom domain) and that the app is running (az functionapp show -g <rg> -n <app> --query state).';
  expect(run.lines).toEqual([
    `smoke: ${base}`,
    unreachable('health', '/api/health'),
    unreachable('page', '/'),
    unreachable('login', '/api/login'),
    '✗ cookies [cookies_not_checked]: not checked: GET /api/login did not answer 302 (see login), and its transaction cookie is what is checked.',
    unreachable('me', '/api/me'),
    '✗ headers [headers_not_checked]: not checked: no request got an answer (see health).',
    'smoke: 6 problems in 6 of 6 checks',
  ]);
  expect(run.code).toBe(1);

  const usage = 'usage: npm run smoke -- <base-url> [--authority <CLOUD_INSTANCE + TENANT_ID>] [--timeout <seconds>]';
  const none = await runTool('smoke', []);
  expect([none.code, none.stdout, none.stderr]).toEqual([2, '', `smoke: give the app's base URL, e.g. npm run smoke -- https://<app>.azurewebsites.net\n${usage}\n`]);
  const withPath = await runTool('smoke', [`${base}/api`]);
  expect([withPath.code, withPath.stderr]).toEqual([2, `smoke: "${base}/api" must be an origin only (no path, query or credentials): the app serves /api/... from its root\n${usage}\n`]);
});

test('in process: a JSON error of the app is quoted with its code, and a request that hangs past --timeout is unreachable', async () => {
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    if (req.url === '/api/me') {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '5' });
      res.end(JSON.stringify({ error: 'storage_unavailable', message: 'Storage is not answering right now. Try again in a few seconds.' }));
    } else if (req.url !== '/api/health') {
      res.writeHead(404).end();
    } // /api/health never answers
  });
  server.on('connection', (socket) => sockets.add(socket));
  const base = `http://127.0.0.1:${await listen(server, 0)}`;
  try {
    const results = await runSmoke({ baseUrl: base, timeoutMs: 300 });
    const lines = results.flatMap(formatResult);
    expect(lines[0]).toBe(
      `✗ health [health_unreachable]: GET ${base}/api/health got no answer (no answer in time). Fix: check the URL (the function app's https://<name>.azurewebsites.net, ` +
        'or your custom domain) and that the app is running (az functionapp show -g <rg> -n <app> --query state).',
    );
    expect(lines.find((line) => line.startsWith('✗ me '))).toBe(
      '✗ me [me_status]: GET /api/me without a session answered 503 (storage_unavailable: "Storage is not answering right now. Try again in a few seconds."), expected 401 login_required. ' +
        "Fix: run `npm run doctor` with the app's settings: it names the setting or dependency at fault; the function app's log stream shows the rest.",
    );
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});
