/**
 * Claims requests travel from a Graph claims challenge (base64 JSON in WWW-Authenticate) through
 * our loginUrl (`claims=` query parameter, base64url JSON) to the authorize request (raw JSON).
 */
/**
 * Real claims challenges are a few hundred bytes. The claims ride in the sealed transaction cookie,
 * which must stay well under the browser's 4 KiB cookie limit.
 */
const MAX_CLAIMS_LENGTH = 1024;

/** Decodes a claims value from a challenge or our loginUrl; undefined when it is not a JSON object. */
export function decodeClaims(encoded: string | null | undefined): string | undefined {
  if (!encoded || encoded.length > MAX_CLAIMS_LENGTH) return undefined;
  const text = encoded.trim().startsWith('{') ? encoded : Buffer.from(encoded, 'base64').toString('utf8');
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? JSON.stringify(parsed) : undefined;
  } catch {
    return undefined;
  }
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
