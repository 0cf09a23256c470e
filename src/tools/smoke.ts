/**
 * `npm run smoke -- <base-url>`: what a person runs right after a deployment, from any machine with
 * Node (no Azure login, no settings, no dependencies: global fetch only). It asks the deployed app
 * what a browser would, signed out, and checks the answers:
 *
 *   health   GET /api/health is 200 {"status":"ok"} (the functions are deployed and the host runs)
 *   page     GET / is 200 text/html with the "Sign in with Microsoft" link
 *   login    GET /api/login is a 302 to the authority's authorize endpoint with
 *            redirect_uri = <base-url>/api/callback, response_type=code, PKCE S256, offline_access,
 *            state and nonce (proves the settings, the vault and the authority's metadata work)
 *   cookies  the transaction cookie of /api/login is __Host-, Secure, HttpOnly, SameSite, Path=/
 *   me       GET /api/me is 401 JSON {"error":"login_required","loginUrl":"/api/login?..."}
 *   headers  nosniff, no-store and a strict Referrer-Policy everywhere; on the page a CSP with no
 *            inline script and framing refused (frame-ancestors 'none' or X-Frame-Options)
 *
 * Redirects are never followed: the 302 itself is what is checked. Nothing is sent but plain GETs
 * without cookies, and nothing printed carries a cookie value or a URL's state, nonce or challenge.
 */
import { isGuid } from '../auth/issuer';
import { ErrorCode } from '../errors';
import { failed, networkReason, passed, type CheckResult, type Problem } from './report';

export interface SmokeOptions {
  /** The app's public origin, as people reach it (PUBLIC_BASE_URL). */
  readonly baseUrl: string;
  /** When given, /api/login must redirect to `<authority>/oauth2/v2.0/authorize` (CLOUD_INSTANCE + TENANT_ID). */
  readonly authority?: string;
  /** Per request. Default 15 s (a cold start on Flex Consumption takes a few seconds). */
  readonly timeoutMs?: number;
}

/** A bad command line: exit 2 with this message. */
export class SmokeUsageError extends Error {
  readonly code = 'smoke_usage';
}

/** `https://host[:port]` from what the person typed (a trailing slash is fine, a path is not). */
export function parseBaseUrl(text: string | undefined): string {
  if (text === undefined || text === '') throw new SmokeUsageError('give the app\'s base URL, e.g. npm run smoke -- https://<app>.azurewebsites.net');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SmokeUsageError(`"${text}" is not a URL: give the app's base URL, e.g. https://<app>.azurewebsites.net`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new SmokeUsageError(`"${text}" must start with https://`);
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    throw new SmokeUsageError(`"${text}" must be an origin only (no path, query or credentials): the app serves /api/... from its root`);
  }
  return url.origin;
}

interface Answer {
  readonly path: string;
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
}

type Fetched = { readonly answer: Answer } | { readonly error: unknown };

const AUTHORIZE_PATH = /^\/[^/]+\/oauth2\/v2\.0\/authorize$/;
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
const STRICT_REFERRER = new Set(['no-referrer', 'same-origin', 'strict-origin', 'strict-origin-when-cross-origin']);
const SIGN_IN_LINK = /<a\b[^>]*\bhref="\/api\/login[^"]*"[^>]*>[\s\S]{0,400}?Sign in with Microsoft/;

/** Runs every check against the app at `options.baseUrl`; never throws for what the app answers. */
export async function runSmoke(options: SmokeOptions): Promise<CheckResult[]> {
  const base = parseBaseUrl(options.baseUrl);
  const timeoutMs = options.timeoutMs ?? 15_000;
  const get = async (path: string): Promise<Fetched> => {
    try {
      const response = await fetch(`${base}${path}`, { redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
      return { answer: { path, status: response.status, headers: response.headers, body: await response.text() } };
    } catch (error) {
      return { error };
    }
  };
  // One request per path, in turn (a cold app warms up on the first).
  const health = await get('/api/health');
  const page = await get('/');
  const login = await get('/api/login');
  const me = await get('/api/me');

  return [
    checkHealth(base, health),
    checkPage(base, page),
    checkLogin(base, login, options.authority),
    checkCookies(login),
    checkMe(base, me),
    checkHeaders([health, page, login, me]),
  ];
}

function unreachable(check: string, base: string, path: string, error: unknown): CheckResult {
  return failed(check, {
    code: `${check}_unreachable`,
    message:
      `GET ${base}${path} got no answer (${networkReason(error)}). Fix: check the URL (the function app's https://<name>.azurewebsites.net, ` +
      'or your custom domain) and that the app is running (az functionapp show -g <rg> -n <app> --query state).',
  });
}

/** ` (config_invalid: "...")` when the app answered one of its JSON errors, ` (config_invalid)` for its error page. */
function appErrorOf(answer: Answer): string {
  const onPage = /Error code: <code>([a-z_]{1,64})<\/code>/.exec(answer.body);
  if (onPage) return ` (${onPage[1]})`;
  try {
    const body = JSON.parse(answer.body) as { error?: unknown; message?: unknown };
    if (typeof body.error !== 'string') return '';
    return typeof body.message === 'string' ? ` (${body.error}: ${JSON.stringify(body.message)})` : ` (${body.error})`;
  } catch {
    return '';
  }
}

/** What an unexpected status usually means for a freshly deployed function app. */
function statusHint(status: number): string {
  if (status === 404) return 'nothing answers this route there: publish the app (docs/deploy.md), then check that `func azure functionapp list-functions <app>` lists it.';
  if (status === 401 || status === 403) {
    return 'the platform refused the request before the app saw it: turn off App Service Authentication and access restrictions for this app (it signs people in itself).';
  }
  if (status >= 500) return 'run `npm run doctor` with the app\'s settings: it names the setting or dependency at fault; the function app\'s log stream shows the rest.';
  return 'deploy the current build (npm run build, then publish: docs/deploy.md).';
}

/** The answer when it came with `status`; otherwise the check's failure (`<check>_unreachable` or `<check>_status`). */
function expectStatus(check: string, base: string, path: string, fetched: Fetched, status: number, expectation: string, request = `GET ${path}`): { answer: Answer } | { result: CheckResult } {
  if ('error' in fetched) return { result: unreachable(check, base, path, fetched.error) };
  const { answer } = fetched;
  if (answer.status === status) return { answer };
  return {
    result: failed(check, {
      code: `${check}_status`,
      message: `${request} answered ${answer.status}${appErrorOf(answer)}, expected ${expectation}. Fix: ${statusHint(answer.status)}`,
    }),
  };
}

function checkHealth(base: string, fetched: Fetched): CheckResult {
  const got = expectStatus('health', base, '/api/health', fetched, 200, '200');
  if ('result' in got) return got.result;
  const { answer } = got;
  if (!/^\s*\{\s*"status"\s*:\s*"ok"\s*\}\s*$/.test(answer.body)) {
    return failed('health', { code: 'health_body', message: `GET /api/health answered 200 but not {"status":"ok"}: something else answers at this URL. Fix: check the URL.` });
  }
  return passed('health', 'GET /api/health answered 200 {"status":"ok"}');
}

function checkPage(base: string, fetched: Fetched): CheckResult {
  const got = expectStatus('page', base, '/', fetched, 200, '200 with the sign-in page');
  if ('result' in got) return got.result;
  const { answer } = got;
  const problems: Problem[] = [];
  const type = answer.headers.get('content-type') ?? '';
  if (!/^text\/html\b/i.test(type)) problems.push({ code: 'page_content_type', message: `GET / answered ${type ? `Content-Type ${type}` : 'no Content-Type'}, expected text/html. Fix: check the URL.` });
  if (!SIGN_IN_LINK.test(answer.body)) {
    problems.push({
      code: 'page_sign_in',
      message:
        'GET / has no "Sign in with Microsoft" link to /api/login: something else answers at /. Fix: deploy the current build, and set AzureWebJobsDisableHomepage=true with routePrefix "" in host.json.',
    });
  }
  return problems.length > 0 ? failed('page', problems) : passed('page', 'GET / answered 200 text/html with the "Sign in with Microsoft" link');
}

function checkLogin(base: string, fetched: Fetched, expectedAuthority: string | undefined): CheckResult {
  const got = expectStatus('login', base, '/api/login', fetched, 302, '302 to the authority');
  if ('result' in got) return got.result;
  const { answer } = got;
  const location = answer.headers.get('location') ?? '';
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    return failed('login', { code: 'login_location', message: 'GET /api/login answered 302 without an absolute Location. Fix: deploy the current build.' });
  }
  const endpoint = `${url.origin}${url.pathname}`;
  const problems: Problem[] = [];
  const redirectUri = `${base}/api/callback`;
  const q = url.searchParams;

  if (url.protocol !== 'https:') {
    problems.push({ code: 'login_authority', message: `GET /api/login redirects to ${endpoint}, not https. Fix: set CLOUD_INSTANCE to the https:// authority host (default https://login.microsoftonline.com/).` });
  } else if (expectedAuthority !== undefined) {
    const authority = expectedAuthority.replace(/\/+$/, '');
    const expected = `${authority}/oauth2/v2.0/authorize`;
    if (endpoint !== expected) {
      problems.push({
        code: 'login_authority',
        message: `GET /api/login redirects to ${endpoint}, expected ${expected}. Fix: set CLOUD_INSTANCE and TENANT_ID so that CLOUD_INSTANCE + TENANT_ID is ${authority}.`,
      });
    }
  } else if (!AUTHORIZE_PATH.test(url.pathname)) {
    problems.push({ code: 'login_authority', message: `GET /api/login redirects to ${endpoint}, which is not an Entra v2 authorize endpoint (/<tenant>/oauth2/v2.0/authorize). Fix: set CLOUD_INSTANCE and TENANT_ID.` });
  }
  const clientId = q.get('client_id') ?? '';
  if (!isGuid(clientId)) problems.push({ code: 'login_client_id', message: 'the authorize request has no client_id GUID. Fix: set CLIENT_ID to the application (client) id of the app registration.' });
  if (q.get('redirect_uri') !== redirectUri) {
    problems.push({
      code: 'login_redirect_uri',
      message:
        `redirect_uri is ${JSON.stringify(q.get('redirect_uri') ?? '')}, expected "${redirectUri}". ` +
        `Fix: set PUBLIC_BASE_URL to ${base} (the origin people use), and register ${redirectUri} as a Web redirect URI of the app registration.`,
    });
  }
  if (q.get('response_type') !== 'code') {
    problems.push({ code: 'login_response_type', message: `response_type is ${JSON.stringify(q.get('response_type') ?? '')}, expected "code". Fix: deploy the current build.` });
  }
  if (q.get('code_challenge_method') !== 'S256' || !CHALLENGE.test(q.get('code_challenge') ?? '')) {
    problems.push({
      code: 'login_pkce',
      message: `the authorize request lacks PKCE S256 (code_challenge_method ${JSON.stringify(q.get('code_challenge_method') ?? '')}, code_challenge ${q.has('code_challenge') ? 'malformed' : 'missing'}). Fix: deploy the current build.`,
    });
  }
  const scopes = (q.get('scope') ?? '').split(' ').filter(Boolean);
  const missingScopes = ['openid', 'offline_access'].filter((s) => !scopes.includes(s));
  if (missingScopes.length > 0) {
    problems.push({
      code: 'login_scope',
      message: `scope ${JSON.stringify(q.get('scope') ?? '')} lacks ${missingScopes.join(' and ')}: without offline_access there is no refresh token and people sign in again every hour. Fix: deploy the current build.`,
    });
  }
  for (const name of ['state', 'nonce'] as const) {
    if ((q.get(name) ?? '').length < 16) {
      problems.push({ code: `login_${name}`, message: `the authorize request has no ${name} (or a short one): sign-in is open to ${name === 'state' ? 'CSRF' : 'token replay'}. Fix: deploy the current build.` });
    }
  }
  if (problems.length > 0) return failed('login', problems);
  return passed('login', `GET /api/login redirects (302) to ${endpoint} with client_id ${clientId}, redirect_uri ${redirectUri}, PKCE S256, offline_access, state and nonce`);
}

interface SetCookie {
  readonly name: string;
  readonly attributes: ReadonlyMap<string, string>;
}

function parseSetCookie(header: string): SetCookie {
  const [pair = '', ...attributes] = header.split(';');
  const name = pair.slice(0, Math.max(0, pair.indexOf('='))).trim();
  const map = new Map<string, string>();
  for (const attribute of attributes) {
    const index = attribute.indexOf('=');
    const key = (index < 0 ? attribute : attribute.slice(0, index)).trim().toLowerCase();
    map.set(key, index < 0 ? '' : attribute.slice(index + 1).trim());
  }
  return { name, attributes: map };
}

/** A cookie's name for the output: the transaction cookies' names carry a hash of the state. */
function shownName(name: string): string {
  return /^__Host-txn-/.test(name) ? '__Host-txn-*' : name;
}

function checkCookies(fetched: Fetched): CheckResult {
  if ('error' in fetched || fetched.answer.status !== 302) {
    return failed('cookies', { code: 'cookies_not_checked', message: 'not checked: GET /api/login did not answer 302 (see login), and its transaction cookie is what is checked.' });
  }
  const cookies = fetched.answer.headers.getSetCookie().map(parseSetCookie);
  if (!cookies.some((c) => c.name.startsWith('__Host-txn-'))) {
    return failed('cookies', {
      code: 'cookie_missing',
      message: 'GET /api/login set no __Host-txn-* cookie, so no sign-in can complete. Fix: make sure nothing between browsers and the app (a proxy, Front Door) drops Set-Cookie.',
    });
  }
  const problems: Problem[] = [];
  for (const cookie of cookies) {
    const lacks: string[] = [];
    if (!cookie.name.startsWith('__Host-')) lacks.push('the __Host- prefix');
    if (!cookie.attributes.has('secure')) lacks.push('Secure');
    if (!cookie.attributes.has('httponly')) lacks.push('HttpOnly');
    if (!/^(lax|strict)$/i.test(cookie.attributes.get('samesite') ?? '')) lacks.push('SameSite=Lax or Strict');
    if (cookie.attributes.get('path') !== '/' || cookie.attributes.has('domain')) lacks.push('Path=/ without Domain');
    if (lacks.length > 0) {
      problems.push({
        code: 'cookie_attributes',
        message: `cookie ${shownName(cookie.name)} from GET /api/login lacks ${lacks.join(', ')}. Fix: deploy the current build, and keep proxies from rewriting Set-Cookie.`,
      });
    }
  }
  if (problems.length > 0) return failed('cookies', problems);
  const names = [...new Set(cookies.map((c) => shownName(c.name)))].join(', ');
  return passed('cookies', `GET /api/login sets ${names}: __Host-, Secure, HttpOnly, SameSite, Path=/`);
}

function checkMe(base: string, fetched: Fetched): CheckResult {
  const got = expectStatus('me', base, '/api/me', fetched, 401, `401 ${ErrorCode.LOGIN_REQUIRED}`, 'GET /api/me without a session');
  if ('result' in got) return got.result;
  const { answer } = got;
  let body: { error?: unknown; loginUrl?: unknown } | undefined;
  try {
    body = /^application\/json\b/i.test(answer.headers.get('content-type') ?? '') ? (JSON.parse(answer.body) as typeof body) : undefined;
  } catch {
    body = undefined;
  }
  if (body?.error !== ErrorCode.LOGIN_REQUIRED) {
    return failed('me', { code: 'me_body', message: `GET /api/me answered 401 but not JSON {"error":"${ErrorCode.LOGIN_REQUIRED}"}: something else answers at this URL. Fix: check the URL.` });
  }
  if (typeof body.loginUrl !== 'string' || !body.loginUrl.startsWith('/api/login?')) {
    return failed('me', { code: 'me_login_url', message: 'GET /api/me answered 401 without a relative loginUrl to /api/login. Fix: deploy the current build.' });
  }
  return passed('me', `GET /api/me answered 401 ${ErrorCode.LOGIN_REQUIRED} with loginUrl ${body.loginUrl}`);
}

/** A CSP directive's sources, or undefined when the policy lacks it. */
function directive(policy: string, name: string): string[] | undefined {
  for (const part of policy.split(';')) {
    const [key, ...sources] = part.trim().split(/\s+/);
    if (key?.toLowerCase() === name) return sources;
  }
  return undefined;
}

const KEEP_HEADERS = 'the app sets it on every response (src/http/responses.ts): make sure nothing between browsers and the app (a proxy, Front Door, an App Gateway rule) removes or rewrites it';

function checkHeaders(all: readonly Fetched[]): CheckResult {
  const answers = all.flatMap((f) => ('answer' in f ? [f.answer] : []));
  if (answers.length === 0) return failed('headers', { code: 'headers_not_checked', message: 'not checked: no request got an answer (see health).' });
  const problems: Problem[] = [];
  const where = (list: readonly Answer[]): string => list.map((a) => `GET ${a.path}`).join(', ');
  const lacking = (test: (a: Answer) => boolean, list: readonly Answer[] = answers): Answer[] => list.filter((a) => !test(a));

  const sniffing = lacking((a) => (a.headers.get('x-content-type-options') ?? '').toLowerCase() === 'nosniff');
  if (sniffing.length > 0) problems.push({ code: 'header_nosniff', message: `X-Content-Type-Options: nosniff is missing on ${where(sniffing)}. Fix: ${KEEP_HEADERS}.` });
  const cached = lacking((a) => /\bno-store\b/i.test(a.headers.get('cache-control') ?? ''));
  if (cached.length > 0) problems.push({ code: 'header_cache', message: `Cache-Control: no-store is missing on ${where(cached)}: a cache could serve one person's answer to another. Fix: ${KEEP_HEADERS}.` });
  const referrer = lacking((a) => (a.headers.get('referrer-policy') ?? '').split(',').some((p) => STRICT_REFERRER.has(p.trim().toLowerCase())));
  if (referrer.length > 0) problems.push({ code: 'header_referrer', message: `Referrer-Policy is missing or weak on ${where(referrer)} (expected same-origin, no-referrer or strict-origin*). Fix: ${KEEP_HEADERS}.` });

  const pages = answers.filter((a) => a.path === '/' && a.status === 200);
  const weakCsp = lacking((a) => {
    const policy = a.headers.get('content-security-policy') ?? '';
    const scripts = directive(policy, 'script-src') ?? directive(policy, 'default-src');
    return scripts !== undefined && !scripts.some((s) => /^('unsafe-inline'|'unsafe-eval'|\*|https?:|data:)$/i.test(s));
  }, pages);
  if (weakCsp.length > 0) {
    problems.push({ code: 'header_csp', message: `Content-Security-Policy on ${where(weakCsp)} is missing or allows inline or foreign script. Fix: ${KEEP_HEADERS}.` });
  }
  const framable = lacking((a) => {
    const ancestors = directive(a.headers.get('content-security-policy') ?? '', 'frame-ancestors');
    const frameOptions = (a.headers.get('x-frame-options') ?? '').toUpperCase();
    return (ancestors !== undefined && ancestors.length === 1 && /^'(none|self)'$/i.test(ancestors[0]!)) || frameOptions === 'DENY' || frameOptions === 'SAMEORIGIN';
  }, pages);
  if (framable.length > 0) {
    problems.push({ code: 'header_frame', message: `${where(framable)} may be framed by other sites (no frame-ancestors 'none' nor X-Frame-Options: DENY). Fix: ${KEEP_HEADERS}.` });
  }
  if (problems.length > 0) return failed('headers', problems);
  const pageNote = pages.length > 0 ? '; the page: a CSP without inline script, framing refused' : '';
  return passed('headers', `nosniff, no-store and Referrer-Policy on ${where(answers)}${pageNote}`);
}
