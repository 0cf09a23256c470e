/**
 * `npm run doctor`: checks each dependency with the app's own settings, credential and modules, the
 * way the app uses it, and prints one line per problem with a stable code and what to do:
 *
 *   settings           loadConfig(): every missing or invalid setting (config_invalid, one line each)
 *   authority          the discovery document msal-node is given (fetchAuthorityMetadata)
 *   client-credential  the client secret or certificate from the vault (or CLIENT_SECRET), or the
 *                      managed identity's assertion: present and parseable
 *   key-ring           the key ring from the vault (or KEY_RING): present and parseable
 *   table              a probe row written, read and deleted in the app's table, in a partition no
 *                      account can have (src/tools/doctor-stores.ts)
 *   graph              GRAPH_API_ENDPOINT answers an unauthenticated GET /v1.0/me with Graph's 401:
 *                      reachable, TLS trusted, and Microsoft Graph (src/graph/transport.ts)
 *
 * Settings come from the environment, then local.settings.json, as `npm run serve` reads them; the
 * credential is DefaultAzureCredential (the managed identity on Azure, `az login` elsewhere). No
 * value of a secret is ever printed.
 */
import { ConfigError, loadConfig, type Config } from '../config';
import { AuthorityMetadataError, authorityMetadataUrl, fetchAuthorityMetadata } from '../auth/msal-app';
import { nodeTransport } from '../graph/transport';
import { checkSecrets, checkTable } from './doctor-stores';
import { failed, networkReason, passed, type CheckResult } from './report';

export interface DoctorOptions {
  /** The settings: the environment merged with local.settings.json (see src/local-settings.ts). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Per dependency call. Default 15 s. */
  readonly timeoutMs?: number;
}

export async function runDoctor(options: DoctorOptions): Promise<CheckResult[]> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  let config: Config;
  try {
    config = loadConfig(options.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return [failed('settings', error.problems.map((message) => ({ code: 'config_invalid', message })))];
  }
  const secrets = checkSecrets(config);
  return [
    passed('settings', settingsSummary(config)),
    ...(await Promise.all([checkAuthority(config, timeoutMs), secrets.clientCredential, secrets.keyRing, checkTable(config, timeoutMs), checkGraph(config, timeoutMs)])),
  ];
}

function settingsSummary(config: Config): string {
  const secrets = config.keyVaultUrl ? `Key Vault ${config.keyVaultUrl}` : `local settings (${config.clientCredential === 'secret' ? 'CLIENT_SECRET, ' : ''}KEY_RING)`;
  const tables = config.tables.connectionString ? 'a connection string' : config.tables.endpoint;
  return `authority ${config.authority}, client ${config.clientId}, public base ${config.publicBaseUrl}, credential ${config.clientCredential}, secrets from ${secrets}, tables at ${tables}`;
}

async function checkAuthority(config: Config, timeoutMs: number): Promise<CheckResult> {
  const url = authorityMetadataUrl(config.authority);
  try {
    const { issuer } = await fetchAuthorityMetadata(config.authority, timeoutMs);
    return passed('authority', `${url} lists the authorize and token endpoints${issuer !== undefined ? ` (issuer ${issuer})` : ''}`);
  } catch (error) {
    if (!(error instanceof AuthorityMetadataError)) {
      return failed('authority', {
        code: 'authority_unreachable',
        message: `${url} got no answer (${networkReason(error)}): check CLOUD_INSTANCE (${config.cloudInstance}) and that this machine can reach it.`,
      });
    }
    const status = error.status;
    if (status === undefined) {
      return failed('authority', {
        code: 'authority_metadata_invalid',
        message: `${url} is not an OpenID Connect discovery document (${error.message}): set CLOUD_INSTANCE to the authority host, such as https://login.microsoftonline.com/.`,
      });
    }
    if (status === 400 || status === 404) {
      return failed('authority', {
        code: 'authority_not_found',
        message: `${url} answered ${status}: the authority does not know tenant "${config.tenantId}". Set TENANT_ID to your tenant id (Entra admin center, Overview) and CLOUD_INSTANCE to your cloud's sign-in host.`,
      });
    }
    if (status >= 500 || status === 429 || status === 408) {
      return failed('authority', {
        code: 'authority_unavailable',
        message: `${url} answered ${status}: the identity provider is failing right now; the app retries by itself. Run the doctor again in a few minutes.`,
      });
    }
    return failed('authority', { code: 'authority_error', message: `${url} answered ${status}: check CLOUD_INSTANCE (${config.cloudInstance}) and TENANT_ID.` });
  }
}

/** Graph's error body: `{ "error": { "code": "...", "message": "..." } }`. */
function graphErrorCode(body: unknown): string | undefined {
  const code = (body as { error?: { code?: unknown } } | null)?.error?.code;
  return typeof code === 'string' ? code : undefined;
}

async function checkGraph(config: Config, timeoutMs: number): Promise<CheckResult> {
  const url = new URL('v1.0/me', config.graphEndpoint);
  const wrongEndpoint = 'GRAPH_API_ENDPOINT does not point at Microsoft Graph: set it to https://graph.microsoft.com/ (or your national cloud\'s Graph endpoint).';
  let status: number;
  let code: string | undefined;
  try {
    // The app's own transport, with no token: Graph must refuse with its 401.
    const answer = await nodeTransport({ maxSockets: 1, idleTimeoutMs: 100 })(url, { Accept: 'application/json' }, timeoutMs);
    status = answer.status;
    code = graphErrorCode(await answer.json().catch(() => undefined));
  } catch (error) {
    return failed('graph', {
      code: 'graph_unreachable',
      message: `${url.href} got no answer (${networkReason(error)}): check GRAPH_API_ENDPOINT (${config.graphEndpoint}) and that this machine can reach it.`,
    });
  }
  if (status === 401 && code !== undefined) return passed('graph', `${url.href} answered 401 ${code} without a token: reachable, and Microsoft Graph`);
  if ((status >= 500 || status === 429) && code !== undefined) {
    return failed('graph', { code: 'graph_unavailable', message: `${url.href} answered ${status} ${code}: Graph is failing right now; the app retries by itself. Run the doctor again in a few minutes.` });
  }
  return failed('graph', { code: 'graph_unexpected', message: `${url.href} answered ${status}${code ? ` ${code}` : ''} without a token, where Graph answers 401 with its error body: ${wrongEndpoint}` });
}
