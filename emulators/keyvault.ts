/**
 * An Azure Key Vault (secrets) stand-in speaking the data-plane protocol that
 * `@azure/keyvault-secrets` uses: the bearer challenge (a request without a token gets 401 +
 * `WWW-Authenticate: Bearer authorization="<authority>", resource="https://vault.azure.net"`),
 * tokens verified like Key Vault does (RS256 signature against the emulated Entra's JWKS, issuer,
 * audience `https://vault.azure.net`, lifetime), versioned secrets, Key Vault's error shapes, and
 * test controls under `/_emulator/` (secrets, denied principals, outage, stats, latency).
 *
 * Served: `GET /secrets`, `GET /secrets/{name}[/{version}]`, `GET /secrets/{name}/versions`,
 * `PUT /secrets/{name}`, all with `?api-version=` 7.x or a date-style version (`2025-07-01`).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import * as http from 'node:http';
import { bearerTokenOf, createJwtVerifier, JwtVerificationError, stringClaim, type JwtFailure } from './jwt-verify';
import { listen, readJson, sleep } from './http-util';

export interface KeyVaultSecretInput {
  readonly value: string;
  /** e.g. `application/x-pem-file` or `application/x-pkcs12` for a certificate's secret. */
  readonly contentType?: string;
  readonly tags?: Readonly<Record<string, string>>;
  /** Default true. */
  readonly enabled?: boolean;
}

export interface KeyVaultEmulatorOptions {
  readonly host?: string;
  /** 0 (default) picks a free port. */
  readonly port?: number;
  /** PEM certificate chain and key; without them the server speaks plain HTTP (the SDK then refuses it, see the tests). */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Accepted token issuer(s). */
  readonly issuer: string | readonly string[];
  readonly jwksUri: string;
  /** Extra CA (PEM) trusted when fetching the JWKS over https. */
  readonly jwksCa?: string | readonly string[];
  /** Accepted audiences. Default `https://vault.azure.net` and Key Vault's app id. */
  readonly audience?: string | readonly string[];
  /**
   * `authorization` in the challenge: the authority the client gets a token from, e.g.
   * `https://127.0.0.1:<entraPort>/<tenant>`. Default: the first issuer without a trailing `/v2.0`.
   */
  readonly authority?: string;
  /** `resource` in the challenge. Default `https://vault.azure.net`. */
  readonly resource?: string;
  /** Initial secrets (one version each). */
  readonly secrets?: Readonly<Record<string, string | KeyVaultSecretInput>>;
  /** Delay added to every data-plane response (not the admin routes). */
  readonly latencyMs?: number;
  readonly clockToleranceSeconds?: number;
  /** ms since epoch. Default Date.now. */
  readonly clock?: () => number;
}

export interface KeyVaultEmulator {
  /** KEY_VAULT_URL for the app, e.g. `https://127.0.0.1:5444/` (ends with '/'). */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

interface SecretVersion {
  readonly version: string;
  readonly value: string;
  readonly contentType: string | undefined;
  readonly tags: Readonly<Record<string, string>> | undefined;
  enabled: boolean;
  readonly created: number;
  updated: number;
}

interface Stats {
  requests: number;
  /** Successful (200) reads of a secret value. */
  secretReads: number;
  /** Successful reads per secret name. */
  byName: Record<string, number>;
  byStatus: Record<string, number>;
  /** 401s sent to requests without a token (the first leg of the challenge protocol). */
  challenges: number;
  /** 401s sent to requests with a token that failed verification. */
  rejectedTokens: number;
  writes: number;
}

export const KEY_VAULT_AUDIENCES: readonly string[] = ['https://vault.azure.net', 'cfa8b339-82a2-471a-a3c9-0fc0be7a4093'];
const NAME = /^[0-9a-zA-Z-]{1,127}$/;
const VERSION = /^[0-9a-f]{32}$/i;
/** 7.0 ... 7.6 and the date-style versions newer SDKs send (4.12 sends e.g. 2026-04-01). */
const API_VERSION = /^(?:7\.\d(?:-preview(?:\.\d+)?)?|20\d\d-\d\d-\d\d(?:-preview)?)$/;
const LATEST_API_VERSION = '2026-04-01';
const ADMIN_BODY_LIMIT = 1024 * 1024;
const NOT_FOUND_HINT =
  'If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182';

export async function startKeyVault(options: KeyVaultEmulatorOptions): Promise<KeyVaultEmulator> {
  const clock = options.clock ?? Date.now;
  const issuers = typeof options.issuer === 'string' ? [options.issuer] : [...options.issuer];
  const authority = options.authority ?? (issuers[0] ?? '').replace(/\/+$/, '').replace(/\/v2\.0$/, '');
  const resource = options.resource ?? 'https://vault.azure.net';
  const challenge = `Bearer authorization="${authority}", resource="${resource}"`;
  const verifier = createJwtVerifier({
    issuer: issuers,
    jwksUri: options.jwksUri,
    audience: options.audience ?? KEY_VAULT_AUDIENCES,
    clock,
    ...(options.jwksCa !== undefined ? { ca: options.jwksCa } : {}),
    ...(options.clockToleranceSeconds !== undefined ? { clockToleranceSeconds: options.clockToleranceSeconds } : {}),
  });

  const secrets = new Map<string, SecretVersion[]>();
  const denied = new Set<string>();
  let down: { retryAfterSeconds: number | undefined } | undefined;
  let latencyMs = options.latencyMs ?? 0;
  let stats = emptyStats();
  let baseUrl = '';

  function emptyStats(): Stats {
    return { requests: 0, secretReads: 0, byName: {}, byStatus: {}, challenges: 0, rejectedTokens: 0, writes: 0 };
  }

  function addVersion(name: string, input: KeyVaultSecretInput): SecretVersion {
    const now = Math.floor(clock() / 1000);
    const entry: SecretVersion = {
      version: randomBytes(16).toString('hex'),
      value: input.value,
      contentType: input.contentType,
      tags: input.tags ? { ...input.tags } : undefined,
      enabled: input.enabled ?? true,
      created: now,
      updated: now,
    };
    const versions = secrets.get(name) ?? [];
    versions.push(entry);
    secrets.set(name, versions);
    return entry;
  }

  for (const [name, input] of Object.entries(options.secrets ?? {})) {
    if (!NAME.test(name)) throw new Error(`invalid Key Vault secret name: ${name}`);
    addVersion(name, typeof input === 'string' ? { value: input } : input);
  }

  const vaultBase = (): string => baseUrl.replace(/\/$/, '');
  const attributes = (v: SecretVersion): Record<string, unknown> => ({
    enabled: v.enabled,
    created: v.created,
    updated: v.updated,
    recoveryLevel: 'Recoverable+Purgeable',
    recoverableDays: 90,
  });
  const secretBundle = (name: string, v: SecretVersion): Record<string, unknown> => ({
    value: v.value,
    ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
    id: `${vaultBase()}/secrets/${name}/${v.version}`,
    attributes: attributes(v),
    ...(v.tags !== undefined ? { tags: v.tags } : {}),
  });
  const secretItem = (id: string, v: SecretVersion): Record<string, unknown> => ({
    id,
    attributes: attributes(v),
    ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
    ...(v.tags !== undefined ? { tags: v.tags } : {}),
  });

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, { error: { code: 'InternalServerError', message: 'The service encountered an internal error.' } });
      else res.destroy();
    });
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', baseUrl);
    if (url.pathname === '/_emulator' || url.pathname.startsWith('/_emulator/')) {
      await admin(req, res, url);
      return;
    }
    stats.requests++;
    res.setHeader('x-ms-request-id', randomUUID());
    const clientRequestId = req.headers['x-ms-client-request-id'];
    if (typeof clientRequestId === 'string' && /^[A-Za-z0-9._-]{1,100}$/.test(clientRequestId)) res.setHeader('x-ms-client-request-id', clientRequestId);
    res.setHeader('x-ms-keyvault-service-version', '1.9.0.0');
    res.setHeader('x-ms-keyvault-region', 'local');
    res.setHeader('cache-control', 'no-cache');
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      stats.byStatus[String(status)] = (stats.byStatus[String(status)] ?? 0) + 1;
      send(res, status, body, headers);
    };

    if (down) {
      reply(503, { error: { code: 'ServiceUnavailable', message: 'The service is unavailable. Try again later.' } }, down.retryAfterSeconds !== undefined ? { 'retry-after': String(down.retryAfterSeconds) } : {});
      return;
    }
    await sleep(latencyMs);

    // The challenge protocol: no token -> 401 telling the client where to get one.
    const token = bearerTokenOf(req.headers.authorization);
    if (!token) {
      stats.challenges++;
      reply(401, { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } }, { 'www-authenticate': challenge });
      return;
    }
    let oid: string | undefined;
    try {
      const claims = await verifier.verify(token);
      oid = stringClaim(claims, 'oid');
    } catch (error) {
      const reason: JwtFailure = error instanceof JwtVerificationError ? error.reason : 'malformed';
      if (reason === 'jwks_unavailable') {
        reply(503, { error: { code: 'ServiceUnavailable', message: 'The service could not validate the token right now. Try again later.' } }, { 'retry-after': '1' });
        return;
      }
      stats.rejectedTokens++;
      reply(401, { error: { code: 'Unauthorized', message: tokenErrorMessage(reason) } }, { 'www-authenticate': challenge });
      return;
    }

    const apiVersion = url.searchParams.get('api-version');
    if (apiVersion === null) {
      reply(400, { error: { code: 'BadParameter', message: 'The api-version query parameter is required.' } });
      return;
    }
    if (!API_VERSION.test(apiVersion)) {
      reply(400, { error: { code: 'BadParameter', message: `The specified version (${apiVersion.slice(0, 30)}) is not recognized. Consider using the latest supported version (${LATEST_API_VERSION}).` } });
      return;
    }

    const segments = url.pathname.split('/').filter((s, i, all) => s !== '' || (i > 0 && i < all.length - 1)).map(safeDecode);
    // ['secrets'], ['secrets', name], ['secrets', name, version|'versions']
    if (segments[0] !== 'secrets' || segments.length > 3 || segments.some((s) => s === undefined)) {
      reply(404, { error: { code: 'NotFound', message: 'The requested resource was not found.' } });
      return;
    }
    const name = segments[1] as string | undefined;
    const third = segments[2] as string | undefined;
    if (name !== undefined && !NAME.test(name)) {
      reply(400, { error: { code: 'BadParameter', message: `The request URI contains an invalid name: ${name.slice(0, 130)}` } });
      return;
    }
    const method = req.method ?? 'GET';
    const op = method === 'PUT' ? 'set' : third === 'versions' || name === undefined ? 'list' : 'get';
    if (!((method === 'GET' && op !== 'set') || (method === 'PUT' && name !== undefined && third === undefined))) {
      reply(405, { error: { code: 'MethodNotAllowed', message: `The requested method ${method.slice(0, 10)} is not allowed for this resource.` } });
      return;
    }
    if (oid !== undefined && denied.has(oid)) {
      const action = op === 'set' ? 'Microsoft.KeyVault/vaults/secrets/setSecret/action' : op === 'list' ? 'Microsoft.KeyVault/vaults/secrets/readMetadata/action' : 'Microsoft.KeyVault/vaults/secrets/getSecret/action';
      reply(403, {
        error: {
          code: 'Forbidden',
          message: `Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: oid=${oid};\r\nAction: '${action}'\r\nResource: '${name ?? 'secrets'}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\nVault: local;location=local\r\n`,
          innererror: { code: 'ForbiddenByRbac' },
        },
      });
      return;
    }

    if (op === 'set') {
      let body: unknown;
      try {
        body = await readJson(req, ADMIN_BODY_LIMIT);
      } catch (error) {
        reply(400, { error: { code: 'BadParameter', message: error instanceof Error ? error.message : 'invalid body' } });
        return;
      }
      const input = parseSecretInput(body);
      if (typeof input === 'string') {
        reply(400, { error: { code: 'BadParameter', message: input } });
        return;
      }
      stats.writes++;
      reply(200, secretBundle(name as string, addVersion(name as string, input)));
      return;
    }

    if (name === undefined) {
      const value = [...secrets.entries()].map(([n, versions]) => secretItem(`${vaultBase()}/secrets/${n}`, versions[versions.length - 1] as SecretVersion));
      reply(200, { value, nextLink: null });
      return;
    }
    const versions = secrets.get(name);
    if (third === 'versions') {
      if (!versions) {
        reply(404, secretNotFound(name));
        return;
      }
      reply(200, { value: versions.map((v) => secretItem(`${vaultBase()}/secrets/${name}/${v.version}`, v)), nextLink: null });
      return;
    }
    // Key Vault's "current version" is the newest one; a disabled one is refused, not skipped.
    const version = third === undefined || third === '' ? versions?.[versions.length - 1] : VERSION.test(third) ? versions?.find((v) => v.version === third.toLowerCase()) : undefined;
    if (!version) {
      reply(404, secretNotFound(third ? `${name}/${third.slice(0, 40)}` : name));
      return;
    }
    if (!version.enabled) {
      reply(403, { error: { code: 'Forbidden', message: 'Operation get is not allowed on a disabled secret.', innererror: { code: 'SecretDisabled' } } });
      return;
    }
    stats.secretReads++;
    stats.byName[name] = (stats.byName[name] ?? 0) + 1;
    reply(200, secretBundle(name, version));
  }

  // ---- admin routes ---------------------------------------------------------------------------

  async function admin(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const path = url.pathname.replace(/\/+$/, '');
    const method = req.method ?? 'GET';
    const reply = (status: number, body: unknown): void => send(res, status, body, { 'cache-control': 'no-store' });
    const fail = (status: number, message: string): void => reply(status, { error: { code: status === 404 ? 'NotFound' : 'BadRequest', message } });
    let body: unknown;
    if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
      try {
        body = await readJson(req, ADMIN_BODY_LIMIT);
      } catch (error) {
        return fail(400, error instanceof Error ? error.message : 'invalid body');
      }
    }
    const obj = (body ?? {}) as Record<string, unknown>;
    const isObject = body !== null && typeof body === 'object' && !Array.isArray(body);

    if (path === '/_emulator/health' && method === 'GET') return reply(200, { ok: true });
    if (path === '/_emulator/secrets' && method === 'GET') {
      const list = [...secrets.entries()].map(([name, versions]) => ({
        name,
        versions: versions.map((v) => ({ version: v.version, enabled: v.enabled, contentType: v.contentType ?? null, created: v.created })),
      }));
      return reply(200, { secrets: list });
    }
    const secretMatch = /^\/_emulator\/secrets\/([^/]+)(?:\/([^/]+))?$/.exec(path);
    if (secretMatch) {
      const name = safeDecode(secretMatch[1] as string);
      if (name === undefined || !NAME.test(name)) return fail(400, 'a secret name is 1-127 characters of 0-9, a-z, A-Z and -');
      const versionId = secretMatch[2];
      if (versionId === undefined && method === 'PUT') {
        const input = parseSecretInput(body);
        if (typeof input === 'string') return fail(400, input);
        const entry = addVersion(name, input);
        return reply(200, { name, version: entry.version, id: `${vaultBase()}/secrets/${name}/${entry.version}` });
      }
      if (versionId === undefined && method === 'DELETE') {
        const existed = secrets.delete(name);
        return existed ? reply(200, { deleted: name }) : fail(404, `no secret ${name}`);
      }
      if (versionId !== undefined && method === 'PATCH') {
        const version = secrets.get(name)?.find((v) => v.version === versionId.toLowerCase());
        if (!version) return fail(404, `no version ${versionId} of ${name}`);
        if (!isObject || typeof obj['enabled'] !== 'boolean') return fail(400, 'expected { "enabled": true|false }');
        version.enabled = obj['enabled'];
        version.updated = Math.floor(clock() / 1000);
        return reply(200, { name, version: version.version, enabled: version.enabled });
      }
    }
    if (path === '/_emulator/deny') {
      if (method === 'POST') {
        if (!isObject || typeof obj['oid'] !== 'string' || obj['oid'] === '') return fail(400, 'expected { "oid": "<object id>", "deny"?: true|false }');
        if (obj['deny'] !== undefined && typeof obj['deny'] !== 'boolean') return fail(400, 'deny must be a boolean');
        if (obj['deny'] === false) denied.delete(obj['oid']);
        else denied.add(obj['oid']);
        return reply(200, { denied: [...denied] });
      }
      if (method === 'DELETE') {
        denied.clear();
        return reply(200, { denied: [] });
      }
      if (method === 'GET') return reply(200, { denied: [...denied] });
    }
    if (path === '/_emulator/down' && method === 'POST') {
      if (!isObject || typeof obj['down'] !== 'boolean') return fail(400, 'expected { "down": true|false, "retryAfterSeconds"?: n }');
      const retry = obj['retryAfterSeconds'];
      if (retry !== undefined && (typeof retry !== 'number' || !Number.isInteger(retry) || retry < 0)) return fail(400, 'retryAfterSeconds must be a non-negative integer');
      down = obj['down'] ? { retryAfterSeconds: retry as number | undefined } : undefined;
      return reply(200, { down: down !== undefined });
    }
    if (path === '/_emulator/stats' && method === 'GET') return reply(200, stats);
    if (path === '/_emulator/stats/reset' && method === 'POST') {
      stats = emptyStats();
      return reply(200, stats);
    }
    if (path === '/_emulator/settings') {
      if (method === 'GET') return reply(200, { latencyMs });
      if (method === 'PUT' || method === 'POST') {
        if (!isObject) return fail(400, 'settings must be an object');
        for (const key of Object.keys(obj)) if (key !== 'latencyMs') return fail(400, `unknown setting ${key}`);
        const value = obj['latencyMs'];
        if (value !== undefined) {
          if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 600_000) return fail(400, 'latencyMs must be a non-negative integer');
          latencyMs = value;
        }
        return reply(200, { latencyMs });
      }
    }
    return fail(404, `no admin route ${method} ${path}`);
  }

  const listening = await listen(handler, options);
  const { server, port } = listening;
  baseUrl = listening.baseUrl;
  return {
    url: baseUrl,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function secretNotFound(nameOrId: string): unknown {
  return { error: { code: 'SecretNotFound', message: `A secret with (name/id) ${nameOrId} was not found in this key vault. ${NOT_FOUND_HINT}` } };
}

function tokenErrorMessage(reason: JwtFailure): string {
  switch (reason) {
    case 'expired':
      return "[TokenExpired] Error validating token: 'S2S12086'.";
    case 'not_yet_valid':
      return 'AKV10031: The token is not yet valid.';
    case 'audience':
      return 'AKV10022: Invalid audience. Expected https://vault.azure.net.';
    case 'issuer':
      return 'AKV10032: Invalid issuer.';
    case 'bad_signature':
    case 'unknown_key':
    case 'unsupported_alg':
      return 'AKV10046: Unable to validate the token signature.';
    default:
      return 'AKV10001: The token is malformed.';
  }
}

function parseSecretInput(body: unknown): KeyVaultSecretInput | string {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return 'expected { "value": "...", "contentType"?: "...", "tags"?: {...} }';
  const b = body as Record<string, unknown>;
  if (typeof b['value'] !== 'string') return 'value must be a string';
  if (b['value'].length > 25 * 1024) return 'A secret value is limited to 25 KB.';
  if (b['contentType'] !== undefined && typeof b['contentType'] !== 'string') return 'contentType must be a string';
  const tags = b['tags'];
  if (tags !== undefined && (tags === null || typeof tags !== 'object' || Array.isArray(tags) || Object.values(tags).some((t) => typeof t !== 'string'))) return 'tags must map names to strings';
  const attrs = b['attributes'] as Record<string, unknown> | undefined;
  const enabled = b['enabled'] ?? attrs?.['enabled'];
  if (enabled !== undefined && typeof enabled !== 'boolean') return 'enabled must be a boolean';
  return {
    value: b['value'],
    ...(typeof b['contentType'] === 'string' ? { contentType: b['contentType'] } : {}),
    ...(tags !== undefined ? { tags: tags as Record<string, string> } : {}),
    ...(enabled !== undefined ? { enabled } : {}),
  };
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.end(JSON.stringify(body));
}

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}


