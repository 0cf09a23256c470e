/**
 * Claims requests travel from a Graph claims challenge (base64 JSON in WWW-Authenticate) through
 * our loginUrl (`claims=` query parameter, base64url JSON) to the authorize request (raw JSON).
 */
/**
 * Real claims challenges are a few hundred bytes. The claims ride in the sealed transaction cookie,
 * which must stay well under the browser's 4 KiB cookie limit.
 */
const MAX_CLAIMS_LENGTH = 1024;

/** The members a claims request may have (OpenID Connect Core 5.5). */
const CLAIMS_MEMBERS = new Set(['id_token', 'userinfo', 'access_token']);

/**
 * Decodes a claims value from a challenge or our loginUrl; undefined unless it is a well-formed
 * claims request: an object whose members are `id_token`, `userinfo` or `access_token`, each an
 * object of claim names mapped to null or an object. msal-node merges these objects into its own
 * and throws on anything else, and the value may come from anyone's link.
 */
export function decodeClaims(encoded: string | null | undefined): string | undefined {
  if (!encoded || encoded.length > MAX_CLAIMS_LENGTH) return undefined;
  const text = encoded.trim().startsWith('{') ? encoded : Buffer.from(encoded, 'base64').toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isPlainObject(parsed)) return undefined;
  for (const [member, requested] of Object.entries(parsed)) {
    if (!CLAIMS_MEMBERS.has(member) || !isPlainObject(requested)) return undefined;
    if (!Object.values(requested).every((value) => value === null || isPlainObject(value))) return undefined;
  }
  return JSON.stringify(parsed);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function encodeClaims(claims: string): string {
  return Buffer.from(claims, 'utf8').toString('base64url');
}

/** The app's own sign-in URL, relative, with where to come back to and any claims to satisfy. */
export function loginUrl(returnTo: string, claims?: string, prompt?: 'consent' | 'login'): string {
  const params = new URLSearchParams({ returnTo });
  if (claims) params.set('claims', encodeClaims(claims));
  if (prompt) params.set('prompt', prompt);
  return `/api/login?${params.toString()}`;
}
