/**
 * A tiny token issuer for emulator tests, on node:crypto only (jest runs CommonJS; jose is ESM-only):
 * RSA keys, RS256 JWTs signed by hand, and a JWKS served from a local HTTP(S) server.
 */
import { generateKeyPairSync, createSign, randomUUID, type KeyObject } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicJwk: Record<string, unknown>;
}

export function createSigningKey(kid: string = randomUUID()): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
  return { kid, privateKey, publicJwk: { kty: 'RSA', use: 'sig', alg: 'RS256', kid, n: jwk['n'], e: jwk['e'] } };
}

export function signJwt(key: SigningKey, claims: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode({ alg: 'RS256', typ: 'JWT', kid: key.kid, ...header })}.${encode(claims)}`;
  const signature = createSign('RSA-SHA256').update(input).sign(key.privateKey).toString('base64url');
  return `${input}.${signature}`;
}

export interface TestIssuer {
  /** `iss` of the tokens, shaped like Entra v2: `<origin>/<tenant>/v2.0`. */
  readonly issuer: string;
  /** The authority (`<origin>/<tenant>`). */
  readonly authority: string;
  readonly tenantId: string;
  readonly jwksUri: string;
  /** The published key (tokens are signed with it unless told otherwise). */
  readonly key: SigningKey;
  /** Publish these keys from now on (key rotation). */
  publish(keys: readonly SigningKey[]): void;
  /** A token with sensible defaults (iat/nbf now, exp +1h, this issuer); `claims` override them. */
  token(claims: Record<string, unknown>, options?: { key?: SigningKey }): string;
  readonly jwksRequests: number;
  stop(): Promise<void>;
}

export async function startTestIssuer(options: { tls?: { cert: string; key: string }; tenantId?: string } = {}): Promise<TestIssuer> {
  const tenantId = options.tenantId ?? '72f988bf-86f1-41af-91ab-2d7cd011db47';
  const key = createSigningKey('test-key-1');
  let published: readonly SigningKey[] = [key];
  let jwksRequests = 0;
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (req.url === `/${tenantId}/discovery/v2.0/keys`) {
      jwksRequests++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: published.map((k) => k.publicJwk) }));
      return;
    }
    res.statusCode = 404;
    res.end();
  };
  const server = options.tls ? https.createServer(options.tls, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `${options.tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const issuer = `${origin}/${tenantId}/v2.0`;
  return {
    issuer,
    authority: `${origin}/${tenantId}`,
    tenantId,
    jwksUri: `${origin}/${tenantId}/discovery/v2.0/keys`,
    key,
    publish(keys) {
      published = keys;
    },
    token(claims, tokenOptions = {}) {
      const now = Math.floor(Date.now() / 1000);
      return signJwt(tokenOptions.key ?? key, { iss: issuer, iat: now, nbf: now, exp: now + 3600, tid: tenantId, ver: '2.0', ...claims });
    },
    get jwksRequests() {
      return jwksRequests;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
