/**
 * The post-sign-in destination. Only a path on this app is accepted; anything that a browser could
 * read as another origin (absolute, protocol-relative `//evil`, backslashed `/\evil`, a scheme,
 * control characters, or percent-encoded forms of those) falls back to `/`. This is the
 * open-redirect check: it runs when the transaction starts and again when it ends.
 *
 * Encoded forms are checked by decoding up to MAX_DECODING_ROUNDS times. A legitimate path is
 * encoded once (a `%2F` inside a query value), rarely twice; a value that still decodes further
 * after that many rounds is refused outright rather than assumed safe, so whatever a browser or a
 * proxy does with the remaining layers can never be checked too little.
 */
export const DEFAULT_RETURN_TO = '/';
/** Keeps the sealed transaction cookie that carries it well under the 4 KiB cookie limit. */
const MAX_LENGTH = 512;
const BASE = 'https://return-to.invalid';
/** Decoding rounds checked; a value that decodes further than this is refused. */
const MAX_DECODING_ROUNDS = 3;

export function safeReturnTo(raw: string | null | undefined): string {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_LENGTH) return DEFAULT_RETURN_TO;
  // Check the text and every decoding of it: browsers and proxies may decode again. After the last
  // round the text must be fully decoded (decoding changes nothing), or the value is refused.
  let text = raw;
  for (let round = 0; ; round++) {
    if (!looksLikeLocalPath(text)) return DEFAULT_RETURN_TO;
    let decoded: string;
    try {
      decoded = decodeURIComponent(text);
    } catch {
      return DEFAULT_RETURN_TO;
    }
    if (decoded === text) break;
    if (round === MAX_DECODING_ROUNDS) return DEFAULT_RETURN_TO;
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
