/**
 * Strict-Transport-Security on every response (issue 16, finding 4): browsers then refuse plain
 * HTTP to the app's host for a year, so a network attacker cannot strip TLS from a later visit.
 * Browsers ignore the header on plain-HTTP responses (local runs), so sending it always is harmless.
 *
 * `includeSubDomains` is a setting (HSTS_INCLUDE_SUBDOMAINS, default on): it also covers every
 * subdomain of the app's host, which is right for a dedicated domain and wrong when sibling hosts
 * under it still serve plain HTTP.
 */
import type { RouteHandler } from './route';

export const HSTS_HEADER = 'Strict-Transport-Security';
/** One year, the minimum the HSTS preload list and ASVS ask for. */
export const HSTS_MAX_AGE_SECONDS = 31_536_000;

export function strictTransportSecurity(includeSubDomains: boolean): string {
  return `max-age=${HSTS_MAX_AGE_SECONDS}${includeSubDomains ? '; includeSubDomains' : ''}`;
}

/** The handler's responses, each with the header (a handler never sets its own). */
export function withStrictTransportSecurity(handler: RouteHandler, value: string): RouteHandler {
  return async (request, context) => {
    const response = await handler(request, context);
    const init = response.headers;
    const headers = init instanceof Headers || Array.isArray(init) ? Object.fromEntries(init) : (init as Record<string, string> | undefined);
    return { ...response, headers: { ...headers, [HSTS_HEADER]: value } };
  };
}
