/**
 * Bearer-token verification shared by the Graph and Key Vault stand-ins: an RS256 JWT from the
 * emulated Entra, checked like a resource server does it: signature against the issuer's JWKS
 * (keys cached, refetched when an unknown `kid` shows up, at most once per cool-down), `iss`,
 * `aud`, `exp` and `nbf` with a small clock skew.
 *
 * Written on node:crypto only (no jose), so jest (CommonJS) can import the emulators directly.
 * Messages never contain the token or any part of it.
 */
import { createPublicKey, verify as verifySignature, type KeyObject, type JsonWebKey } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import { rootCertificates } from 'node:tls';

export type JwtClaims = Readonly<Record<string, unknown>>;

export type JwtFailure =
  | 'missing'
  | 'malformed'
  | 'unsupported_alg'
  | 'unknown_key'
  | 'bad_signature'
  | 'issuer'
  | 'audience'
  | 'expired'
  | 'not_yet_valid'
  | 'jwks_unavailable';

/** Why a token was refused. `reason` is stable; the message is safe to return (no token data). */
export class JwtVerificationError extends Error {
  constructor(
    readonly reason: JwtFailure,
    message: string,
  ) {
    super(message);
    this.name = 'JwtVerificationError';
  }
}

export interface JwtVerifierOptions {
  /** Accepted `iss` values (exact match). */
  readonly issuer: string | readonly string[];
  /** Where the issuer publishes its signing keys. */
  readonly jwksUri: string;
  /** Accepted `aud` values; the token's `aud` (string or array) must contain one of them. */
  readonly audience: string | readonly string[];
  /** Allowed clock skew for `exp`/`nbf`, seconds. Default 30. */
  readonly clockToleranceSeconds?: number;
  /** ms since epoch. Default Date.now. */
  readonly clock?: () => number;
  /**
   * Extra CA certificate(s) (PEM) trusted for fetching the JWKS over https, on top of Node's
   * default roots and NODE_EXTRA_CA_CERTS. Never a way to skip verification.
   */
  readonly ca?: string | readonly string[];
  /** Minimum time between two JWKS fetches caused by unknown `kid`s. Default 1000 ms. */
  readonly refetchCooldownMs?: number;
  /** Keys are refetched after this long even when every `kid` is known. Default 10 min. */
  readonly cacheMaxAgeMs?: number;
  readonly fetchTimeoutMs?: number;
}

export interface JwtVerifier {
  /** Resolves the claims of a valid token; rejects with JwtVerificationError otherwise. */
  verify(token: string): Promise<JwtClaims>;
  /** Number of JWKS fetches so far (for tests of caching). */
  readonly jwksFetches: number;
}

const SUPPORTED_ALG = 'RS256';

export function createJwtVerifier(options: JwtVerifierOptions): JwtVerifier {
  const issuers = new Set(typeof options.issuer === 'string' ? [options.issuer] : options.issuer);
  const audiences = new Set(typeof options.audience === 'string' ? [options.audience] : options.audience);
  const skew = options.clockToleranceSeconds ?? 30;
  const clock = options.clock ?? Date.now;
  const cooldownMs = options.refetchCooldownMs ?? 1000;
  const maxAgeMs = options.cacheMaxAgeMs ?? 10 * 60_000;
  const fetchTimeoutMs = options.fetchTimeoutMs ?? 5000;
  const extraCa = options.ca === undefined ? [] : typeof options.ca === 'string' ? [options.ca] : [...options.ca];

  // One agent for the verifier's lifetime: building a secure context with every root is not free.
  const agent = extraCa.length > 0 ? new https.Agent({ ca: [...rootCertificates, ...extraCa], keepAlive: false }) : undefined;
  let keys: Map<string, KeyObject> | undefined;
  let unnamedKeys: KeyObject[] = [];
  let fetchedAt = 0;
  let attemptedAt = 0;
  let inFlight: Promise<void> | undefined;
  let fetches = 0;

  async function refresh(): Promise<void> {
    if (!inFlight) {
      inFlight = (async () => {
        try {
          fetches++;
          attemptedAt = clock();
          const body = await getJson(options.jwksUri, fetchTimeoutMs, agent);
          const parsed = parseJwks(body);
          keys = parsed.byKid;
          unnamedKeys = parsed.unnamed;
          fetchedAt = clock();
        } finally {
          inFlight = undefined;
        }
      })();
    }
    return inFlight;
  }

  async function keysFor(kid: string | undefined): Promise<KeyObject[]> {
    const stale = keys === undefined || (clock() - fetchedAt > maxAgeMs && clock() - attemptedAt >= cooldownMs);
    if (stale) await refreshOrFail();
    const lookup = (): KeyObject[] => {
      if (kid === undefined) return [...(keys?.values() ?? []), ...unnamedKeys];
      const key = keys?.get(kid);
      return key ? [key] : [];
    };
    let found = lookup();
    if (found.length === 0 && !stale && clock() - attemptedAt >= cooldownMs) {
      await refreshOrFail();
      found = lookup();
    }
    return found;
  }

  async function refreshOrFail(): Promise<void> {
    try {
      await refresh();
    } catch {
      if (keys === undefined) throw new JwtVerificationError('jwks_unavailable', 'The signing keys of the token issuer could not be fetched.');
      // keep serving with the keys we have
    }
  }

  return {
    get jwksFetches() {
      return fetches;
    },
    async verify(token: string): Promise<JwtClaims> {
      const parts = token.split('.');
      if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p)) || !parts[0] || !parts[1]) {
        throw new JwtVerificationError('malformed', 'The access token is not a well-formed JWT.');
      }
      const [encodedHeader, encodedPayload, encodedSignature] = parts as [string, string, string];
      const header = decodeJson(encodedHeader);
      const claims = decodeJson(encodedPayload);
      if (!header || !claims) throw new JwtVerificationError('malformed', 'The access token is not a well-formed JWT.');
      if (header['alg'] !== SUPPORTED_ALG) throw new JwtVerificationError('unsupported_alg', `The token signing algorithm is not supported; expected ${SUPPORTED_ALG}.`);
      const kid = typeof header['kid'] === 'string' ? header['kid'] : undefined;

      const candidates = await keysFor(kid);
      if (candidates.length === 0) throw new JwtVerificationError('unknown_key', 'The token was signed by a key the issuer does not publish.');
      const signingInput = Buffer.from(`${encodedHeader}.${encodedPayload}`, 'ascii');
      const signature = Buffer.from(encodedSignature, 'base64url');
      const valid = candidates.some((key) => {
        try {
          return verifySignature('sha256', signingInput, key, signature);
        } catch {
          return false;
        }
      });
      if (!valid) throw new JwtVerificationError('bad_signature', 'The token signature is invalid.');

      const iss = claims['iss'];
      if (typeof iss !== 'string' || !issuers.has(iss)) throw new JwtVerificationError('issuer', 'The token issuer is not accepted.');
      const aud = claims['aud'];
      const tokenAudiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
      if (!tokenAudiences.some((a) => audiences.has(a))) throw new JwtVerificationError('audience', 'The token audience is not accepted.');

      const now = Math.floor(clock() / 1000);
      const exp = claims['exp'];
      if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new JwtVerificationError('malformed', 'The token has no expiry.');
      if (now - skew >= exp) throw new JwtVerificationError('expired', 'The token is expired.');
      const nbf = claims['nbf'];
      if (nbf !== undefined) {
        if (typeof nbf !== 'number' || !Number.isFinite(nbf)) throw new JwtVerificationError('malformed', 'The token nbf claim is not a number.');
        if (now + skew < nbf) throw new JwtVerificationError('not_yet_valid', 'The token is not yet valid.');
      }
      return claims;
    },
  };
}

/** `Authorization: Bearer <token>` -> the token, or undefined (scheme is case-insensitive). */
export function bearerTokenOf(authorization: string | string[] | undefined): string | undefined {
  const value = Array.isArray(authorization) ? authorization[0] : authorization;
  if (!value) return undefined;
  const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(value);
  return match?.[1];
}

/** The delegated scopes of a token (`scp`, space separated). */
export function scopesOf(claims: JwtClaims): Set<string> {
  const scp = claims['scp'];
  return new Set(typeof scp === 'string' ? scp.split(' ').filter(Boolean) : []);
}

/** The application roles of a token (`roles`). */
export function rolesOf(claims: JwtClaims): Set<string> {
  const roles = claims['roles'];
  return new Set(Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : []);
}

/** A string claim, or undefined. */
export function stringClaim(claims: JwtClaims, name: string): string | undefined {
  const value = claims[name];
  return typeof value === 'string' ? value : undefined;
}

function decodeJson(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function parseJwks(body: unknown): { byKid: Map<string, KeyObject>; unnamed: KeyObject[] } {
  const list = (body as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) throw new Error('JWKS has no keys array');
  const byKid = new Map<string, KeyObject>();
  const unnamed: KeyObject[] = [];
  for (const raw of list) {
    if (raw === null || typeof raw !== 'object') continue;
    const jwk = raw as Record<string, unknown>;
    if (jwk['kty'] !== 'RSA') continue;
    if (jwk['use'] !== undefined && jwk['use'] !== 'sig') continue;
    if (jwk['alg'] !== undefined && jwk['alg'] !== SUPPORTED_ALG) continue;
    let key: KeyObject;
    try {
      key = createPublicKey({ key: { kty: 'RSA', n: jwk['n'], e: jwk['e'] } as JsonWebKey, format: 'jwk' });
    } catch {
      continue;
    }
    if (typeof jwk['kid'] === 'string') byKid.set(jwk['kid'], key);
    else unnamed.push(key);
  }
  return { byKid, unnamed };
}

/** GET a JSON document over http(s); `agent` (https only) carries any extra trusted CA. */
export function getJson(url: string, timeoutMs: number, agent?: https.Agent): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const isHttps = target.protocol === 'https:';
    if (!isHttps && target.protocol !== 'http:') {
      reject(new Error(`unsupported protocol ${target.protocol}`));
      return;
    }
    const requestOptions: https.RequestOptions = { method: 'GET', headers: { accept: 'application/json' }, timeout: timeoutMs };
    // A `ca` option replaces the default trust store (roots + NODE_EXTRA_CA_CERTS), so the agent adds the roots back.
    if (isHttps && agent) requestOptions.agent = agent;
    const request = (isHttps ? https : http).request(target, requestOptions, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        if ((response.statusCode ?? 0) < 200 || (response.statusCode ?? 0) >= 300) {
          reject(new Error(`GET ${target.origin}${target.pathname} answered ${response.statusCode}`));
          return;
        }
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${target.origin}${target.pathname} timed out`)));
    request.on('error', reject);
    request.end();
  });
}
