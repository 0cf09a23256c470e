import type { Cookie, HttpResponseInit } from '@azure/functions';

/**
 * Headers on every response. Nothing this app serves may be cached by a browser or a proxy: pages
 * and API answers are per user, and a cached page would outlive sign-out.
 */
const BASE_HEADERS: Readonly<Record<string, string>> = {
  'Cache-Control': 'no-store',
  Pragma: 'no-cache',
  'X-Content-Type-Options': 'nosniff',
  // Not no-referrer: under it browsers send `Origin: null` on the app's own form posts, and the
  // sign-out and forget forms are checked by Origin. same-origin leaks nothing to other sites.
  'Referrer-Policy': 'same-origin',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/**
 * A strict policy with no inline script at all. `form-action` must list the authority too:
 * browsers apply it to the redirect that follows a form post (sign-out goes to Entra).
 */
export function contentSecurityPolicy(formActionOrigins: readonly string[] = [], options: { readonly script?: boolean } = {}): string {
  return [
    "default-src 'none'",
    "style-src 'self'",
    "img-src 'self' data:",
    // A page with a script of its own (a same-origin file, never inline) may call the app's API.
    ...(options.script ? ["script-src 'self'", "connect-src 'self'"] : ["script-src 'none'"]),
    `form-action 'self'${formActionOrigins.map((o) => ` ${o}`).join('')}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

export interface ResponseOptions {
  readonly cookies?: readonly Cookie[];
  readonly headers?: Readonly<Record<string, string>>;
}

export function json(status: number, body: unknown, options: ResponseOptions = {}): HttpResponseInit {
  return {
    status,
    headers: { ...BASE_HEADERS, 'Content-Type': 'application/json; charset=utf-8', ...options.headers },
    body: JSON.stringify(body),
    ...(options.cookies ? { cookies: [...options.cookies] } : {}),
  };
}

export function html(
  status: number,
  page: string,
  options: ResponseOptions & { formActionOrigins?: readonly string[]; script?: boolean } = {},
): HttpResponseInit {
  return {
    status,
    headers: {
      ...BASE_HEADERS,
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Security-Policy': contentSecurityPolicy(options.formActionOrigins, { script: options.script === true }),
      ...options.headers,
    },
    body: page,
    ...(options.cookies ? { cookies: [...options.cookies] } : {}),
  };
}

/** 302 to a location the caller has already validated (never user input taken as is). */
export function redirect(location: string, options: ResponseOptions = {}): HttpResponseInit {
  return {
    status: 302,
    headers: { ...BASE_HEADERS, Location: location, ...options.headers },
    ...(options.cookies ? { cookies: [...options.cookies] } : {}),
  };
}

export function text(status: number, body: string, contentType: string, options: ResponseOptions = {}): HttpResponseInit {
  return { status, headers: { ...BASE_HEADERS, 'Content-Type': contentType, ...options.headers }, body };
}
