/**
 * Admin consent: a tenant administrator approves the app for everyone in their organization, so
 * users of a multi-tenant app meet no consent prompt (and organizations that forbid user consent
 * can use it at all). Entra's v2 `adminconsent` endpoint grants the permissions registered on the
 * app (`<graph>/.default`) and returns to the callback with the outcome.
 *
 *   GET /api/admin-consent?tenant=<tenant id or domain>   redirects to Entra (default: organizations)
 *   GET /api/admin-consent/callback                       shows the outcome, escaped
 *
 * The `state` rides in a short-lived cookie and must come back unchanged, so a crafted link cannot
 * show someone an outcome the app never asked for. Nothing is stored.
 */
import { randomBytes } from 'node:crypto';
import type { Cookie, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { isGuid } from '../auth/issuer';
import { constantTimeEqual } from '../auth/login-transaction';
import { badRequest } from '../errors';
import { parseCookieHeader } from '../http/cookies';
import { html, redirect } from '../http/responses';
import type { Services } from '../services';
import { adminConsentPage } from '../web/admin-consent-page';

export const ADMIN_CONSENT_CALLBACK_PATH = '/api/admin-consent/callback';
const STATE_COOKIE = '__Host-admin-consent';
/** Besides a tenant GUID: a verified domain, or organizations. */
const TENANT_NAME = /^(?:[a-z0-9-]+(?:\.[a-z0-9-]+)+|organizations)$/i;

function stateCookie(value: string, maxAge: number): Cookie {
  return { name: STATE_COOKIE, value, path: '/', secure: true, httpOnly: true, sameSite: 'Lax', maxAge };
}

/** GET /api/admin-consent: sends an administrator to Entra's admin consent for one tenant, or any. */
export async function adminConsent(services: Services, request: HttpRequest): Promise<HttpResponseInit> {
  const { config } = services;
  const single = config.tenantMode === 'single';
  const requested = request.query.get('tenant');
  if (requested !== null && !isGuid(requested) && !TENANT_NAME.test(requested)) {
    throw badRequest('"tenant" must be a tenant id (GUID), a verified domain, or organizations.', { parameter: 'tenant' });
  }
  // A single-tenant app is consented in its own tenant; elsewhere, the administrator's tenant (or
  // `organizations`: Entra finds it from the administrator's sign-in).
  const tenant = single ? config.tenantId : (requested ?? 'organizations');
  const state = randomBytes(24).toString('base64url');
  const url = new URL(`${config.cloudInstance}${encodeURIComponent(tenant)}/v2.0/adminconsent`);
  url.searchParams.set('client_id', config.clientId);
  url.searchParams.set('scope', `${new URL(config.graphEndpoint).origin}/.default`);
  url.searchParams.set('redirect_uri', `${config.publicBaseUrl}${ADMIN_CONSENT_CALLBACK_PATH}`);
  url.searchParams.set('state', state);
  return redirect(url.href, { cookies: [stateCookie(state, 600)] });
}

/** GET /api/admin-consent/callback: the outcome Entra reports (success with the tenant, or the error). */
export async function adminConsentCallback(_services: Services, request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const query = request.query;
  const clear = [stateCookie('', 0)];
  const expected = parseCookieHeader(request.headers.get('cookie')).get(STATE_COOKIE);
  const state = query.get('state');
  if (!expected || !state || !constantTimeEqual(expected, state)) {
    context.warn('admin consent: callback without its state; outcome not shown');
    return html(400, adminConsentPage({ outcome: 'unknown' }), { cookies: clear });
  }
  const error = query.get('error');
  if (error !== null) {
    context.warn(`admin consent: not granted (${/^[a-z_]{1,64}$/.test(error) ? error : 'unrecognised error code'})`);
    return html(200, adminConsentPage({ outcome: 'error', error, description: query.get('error_description') ?? undefined }), { cookies: clear });
  }
  const tenant = query.get('tenant') ?? '';
  const granted = (query.get('admin_consent') ?? '').toLowerCase() === 'true';
  context.info(`admin consent: ${granted ? 'granted' : 'not granted'} for tenant ${/^[0-9a-f-]{36}$/i.test(tenant) ? tenant : '(not a tenant id)'}`);
  return html(200, adminConsentPage(granted ? { outcome: 'granted', tenant } : { outcome: 'error', error: 'admin_consent_not_granted' }), { cookies: clear });
}
