import type { Cookie } from '@azure/functions';

/**
 * Serializes one cookie as a Set-Cookie value, the way the Functions host does. Names and values
 * are produced by this app (sealed base64url), so they are validated rather than escaped: an
 * unexpected character is a bug, not something to encode around.
 */
export function serializeCookie(cookie: Cookie): string {
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(cookie.name)) throw new Error(`invalid cookie name "${cookie.name}"`);
  if (!/^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/.test(cookie.value)) throw new Error(`invalid value for cookie "${cookie.name}"`);
  const parts = [`${cookie.name}=${cookie.value}`];
  if (cookie.domain) parts.push(`Domain=${cookie.domain}`);
  if (cookie.path) parts.push(`Path=${cookie.path}`);
  if (cookie.expires !== undefined) parts.push(`Expires=${new Date(cookie.expires).toUTCString()}`);
  if (cookie.maxAge !== undefined) parts.push(`Max-Age=${Math.floor(cookie.maxAge)}`);
  if (cookie.secure) parts.push('Secure');
  if (cookie.httpOnly) parts.push('HttpOnly');
  if (cookie.sameSite) parts.push(`SameSite=${cookie.sameSite}`);
  return parts.join('; ');
}

/**
 * Parses a Cookie request header. Malformed pairs are skipped (a foreign or broken cookie must
 * never fail the request); for a repeated name the first one wins, as browsers send the most
 * specific path first.
 */
export function parseCookieHeader(header: string | null | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  if (!header) return cookies;
  for (const pair of header.split(';')) {
    const index = pair.indexOf('=');
    if (index <= 0) continue;
    const name = pair.slice(0, index).trim();
    const value = pair.slice(index + 1).trim();
    if (name && !cookies.has(name)) cookies.set(name, value);
  }
  return cookies;
}
