/**
 * The post-sign-in destination. Only a path on this app is accepted; anything that a browser could
 * read as another origin (absolute, protocol-relative `//evil`, backslashed `/\evil`, a scheme,
 * control characters, or percent-encoded forms of those) falls back to `/`. This is the
 * open-redirect check: it runs when the transaction starts and again when it ends.
 */
export const DEFAULT_RETURN_TO = '/';
/** Keeps the sealed transaction cookie that carries it well under the 4 KiB cookie limit. */
const MAX_LENGTH = 512;
const BASE = 'https://return-to.invalid';

export function safeReturnTo(raw: string | null | undefined): string {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_LENGTH) return DEFAULT_RETURN_TO;
  // Check the text and every decoding of it: browsers and proxies may decode again.
  let text = raw;
  for (let round = 0; round < 3; round++) {
    if (!looksLikeLocalPath(text)) return DEFAULT_RETURN_TO;
    let decoded: string;
    try {
      decoded = decodeURIComponent(text);
    } catch {
      return DEFAULT_RETURN_TO;
    }
    if (decoded === text) break;
    text = decoded;
  }
  let url: URL;
  try {
    url = new URL(raw, BASE);
  } catch {
    return DEFAULT_RETURN_TO;
  }
  if (url.origin !== BASE) return DEFAULT_RETURN_TO;
  const result = `${url.pathname}${url.search}${url.hash}`;
  return looksLikeLocalPath(result) ? result : DEFAULT_RETURN_TO;
}

function looksLikeLocalPath(value: string): boolean {
  if (!value.startsWith('/')) return false;
  if (value.startsWith('//')) return false;
  // Backslashes are read as slashes by browsers; whitespace and controls are stripped by them.
  return !/[\\\u0000-\u0020\u007f-\u009f\u2028\u2029]/.test(value);
}
