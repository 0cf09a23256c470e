/**
 * The whole emulated Azure in one process (built to dist-dev/emulators.mjs by scripts/build.mjs):
 * TLS from the local test CA, Entra ID (with managed identity), Graph, Key Vault, and Azurite's
 * Table service (a child process).
 *
 *   node dist-dev/emulators.mjs [--ports fixed|free] [--tables-location <dir>]
 *                               [--public-base-url http://localhost:7071] [--tls-dir .local/tls]
 *                               [--stdin-lifeline]
 *
 *   --ports fixed       Entra 7443, Graph 7444, Key Vault 7445, Azurite Table 10002 (npm start)
 *   --ports free        free ports (tests; the default)
 *   --tables-location   keep Azurite's data in this folder (default: in memory)
 *   --public-base-url   the app's origin: the app's registration (infra/entra-app.json) is made
 *                       for it (loopback URIs match on any port, as in Entra)
 *   --stdin-lifeline    stop when stdin closes (a parent that dies takes the emulators with it)
 *
 * When everything listens, prints ONE line to stdout: `EMULATORS_READY <json>` (see EmulatorsInfo),
 * then only logs to stderr. SIGTERM / SIGINT stop everything and exit 0.
 */
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { startAzurite, type Azurite } from './azurite';
import { startEntra, type EntraEmulator } from './entra';
import { entraRedirectUris } from './entra-app';
import { GRAPH_AUDIENCES, startGraph, type GraphEmulator } from './graph';
import { KEY_VAULT_AUDIENCES, startKeyVault, type KeyVaultEmulator } from './keyvault';
import { ensureTestCa, issueCertificate, issueServerCertificate, DEFAULT_TLS_DIR } from './tls';

export const FIXED_PORTS = { entra: 7443, graph: 7444, keyVault: 7445, tables: 10002 } as const;

/** Names of the secrets seeded in the emulated Key Vault (the app's defaults). */
export const VAULT_SECRET_NAMES = { clientSecret: 'client-secret', keyRing: 'key-ring', clientCertificate: 'client-certificate' } as const;

/** The JSON after `EMULATORS_READY `. */
export interface EmulatorsInfo {
  readonly entra: {
    /** CLOUD_INSTANCE, ends with '/'. */
    readonly url: string;
    readonly tenantId: string;
    readonly clientId: string;
    readonly clientSecret: string;
    readonly authority: string;
    readonly issuer: string;
    readonly jwksUri: string;
    readonly users: readonly { readonly username: string; readonly password: string; readonly name: string; readonly oid: string; readonly tenantId: string }[];
    /** The emulated tenants: two organizations (the home tenant first) and the personal-account tenant. */
    readonly tenants: readonly { readonly id: string; readonly name: string; readonly domains: readonly string[]; readonly personal: boolean }[];
    /** IDENTITY_ENDPOINT / IDENTITY_HEADER for @azure/identity's managed identity (App Service). */
    readonly msiEndpoint: string;
    readonly msiHeader: string;
    readonly managedIdentityClientId: string;
    readonly managedIdentityPrincipalId: string;
    /** A certificate registered on the app (also in Key Vault as `client-certificate`). */
    readonly clientCertificate: { readonly cert: string; readonly key: string; readonly thumbprintSha256: string };
  };
  readonly graph: { readonly url: string };
  readonly keyVault: { readonly url: string; readonly secretNames: typeof VAULT_SECRET_NAMES };
  readonly tables: { readonly connectionString: string; readonly endpoint: string };
  readonly tls: { readonly caPath: string };
  /** App settings to run the app against the emulators (secret and key ring given directly). */
  readonly env: Readonly<Record<string, string>>;
  /** App settings for the Key Vault + managed identity path (no CLIENT_SECRET / KEY_RING). */
  readonly envKeyVault: Readonly<Record<string, string>>;
}

interface CliOptions {
  readonly ports: 'fixed' | 'free';
  readonly tablesLocation: string | undefined;
  readonly publicBaseUrl: string;
  readonly tlsDir: string;
  readonly stdinLifeline: boolean;
}

function parseArgs(argv: readonly string[]): CliOptions {
  let ports: 'fixed' | 'free' = 'free';
  let tablesLocation: string | undefined;
  let publicBaseUrl = 'http://localhost:7071';
  let tlsDir = DEFAULT_TLS_DIR;
  let stdinLifeline = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--ports': {
        const v = value();
        if (v !== 'fixed' && v !== 'free') throw new Error('--ports must be fixed or free');
        ports = v;
        break;
      }
      case '--tables-location':
        tablesLocation = path.resolve(value());
        break;
      case '--public-base-url': {
        const v = value().replace(/\/+$/, '');
        const parsed = new URL(v);
        if (parsed.pathname !== '/' || parsed.search || parsed.hash) throw new Error('--public-base-url must be an origin, such as http://localhost:7071');
        publicBaseUrl = parsed.origin;
        break;
      }
      case '--tls-dir':
        tlsDir = value();
        break;
      case '--stdin-lifeline':
        stdinLifeline = true;
        break;
      case '--help':
      case '-h':
        process.stderr.write('usage: node dist-dev/emulators.mjs [--ports fixed|free] [--tables-location <dir>] [--public-base-url <origin>] [--tls-dir <dir>] [--stdin-lifeline]\n');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${arg}`);
    }
  }
  return { ports, tablesLocation, publicBaseUrl, tlsDir, stdinLifeline };
}

/** A URL, and the same on the other loopback name (localhost <-> 127.0.0.1). */
function withLoopbackTwin(uri: string): string[] {
  const url = new URL(uri);
  const out = [url.href];
  if (url.hostname === 'localhost' || url.hostname === '127.0.0.1') {
    const twin = new URL(url.href);
    twin.hostname = url.hostname === 'localhost' ? '127.0.0.1' : 'localhost';
    out.push(twin.href);
  }
  return out;
}

export interface RunningEmulators {
  readonly info: EmulatorsInfo;
  stop(): Promise<void>;
}

/** Starts everything; on failure stops what had started and rethrows. */
export async function startAll(options: CliOptions): Promise<RunningEmulators> {
  const ca = ensureTestCa(options.tlsDir);
  if (options.tablesLocation !== undefined) mkdirSync(options.tablesLocation, { recursive: true });
  const tls = issueServerCertificate(ca);
  const fixed = options.ports === 'fixed';
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    const pending = stops.splice(0).reverse();
    await Promise.allSettled(pending.map((stop) => stop()));
  };

  try {
    const clientCertificate = issueCertificate(ca, { keyType: 'rsa', usage: 'client', commonName: 'bff-client-credential', days: 30 });
    const thumbprintSha256 = createHash('sha256').update(new X509Certificate(clientCertificate.cert).raw).digest('hex');

    // The app's registration (infra/entra-app.json), as in Azure: Entra matches
    // post_logout_redirect_uri against the registered redirect URIs, so both lists are the same.
    const registeredUris = entraRedirectUris(options.publicBaseUrl).flatMap(withLoopbackTwin);
    const entra: EntraEmulator = await startEntra({
      port: fixed ? FIXED_PORTS.entra : 0,
      tls,
      redirectUris: registeredUris,
      postLogoutRedirectUris: registeredUris,
      clientCertificates: [clientCertificate.cert],
    });
    stops.push(() => entra.stop());

    const keyRing = `k${randomBytes(4).toString('hex')}:${randomBytes(32).toString('base64')}`;
    const [graph, keyVault, azurite] = await Promise.all([
      startGraph({ port: fixed ? FIXED_PORTS.graph : 0, tls, issuer: entra.issuers, jwksUri: entra.jwksUri, audience: GRAPH_AUDIENCES }).then((g: GraphEmulator) => {
        stops.push(() => g.stop());
        return g;
      }),
      startKeyVault({
        port: fixed ? FIXED_PORTS.keyVault : 0,
        tls,
        issuer: entra.issuer,
        jwksUri: entra.jwksUri,
        audience: KEY_VAULT_AUDIENCES,
        authority: entra.authority,
        secrets: {
          [VAULT_SECRET_NAMES.clientSecret]: entra.clientSecret,
          [VAULT_SECRET_NAMES.keyRing]: keyRing,
          [VAULT_SECRET_NAMES.clientCertificate]: { value: `${clientCertificate.key}${clientCertificate.cert}`, contentType: 'application/x-pem-file' },
        },
      }).then((k: KeyVaultEmulator) => {
        stops.push(() => k.stop());
        return k;
      }),
      startAzurite({
        ...(fixed ? { port: FIXED_PORTS.tables } : {}),
        ...(options.tablesLocation !== undefined ? { location: options.tablesLocation } : {}),
      }).then((a: Azurite) => {
        stops.push(() => a.stop());
        return a;
      }),
    ]);

    const env: Record<string, string> = {
      TENANT_ID: entra.tenantId,
      CLIENT_ID: entra.clientId,
      CLOUD_INSTANCE: entra.url,
      PUBLIC_BASE_URL: options.publicBaseUrl,
      CLIENT_SECRET: entra.clientSecret,
      KEY_RING: keyRing,
      GRAPH_API_ENDPOINT: graph.url,
      TABLES_CONNECTION_STRING: azurite.connectionString,
    };
    const { CLIENT_SECRET: _secret, KEY_RING: _ring, ...withoutLocalSecrets } = env;
    const envKeyVault: Record<string, string> = {
      ...withoutLocalSecrets,
      KEY_VAULT_URL: keyVault.url,
      AZURE_CLIENT_ID: entra.managedIdentityClientId,
      IDENTITY_ENDPOINT: entra.msiEndpoint,
      IDENTITY_HEADER: entra.msiHeader,
    };
    const info: EmulatorsInfo = {
      entra: {
        url: entra.url,
        tenantId: entra.tenantId,
        clientId: entra.clientId,
        clientSecret: entra.clientSecret,
        authority: entra.authority,
        issuer: entra.issuer,
        jwksUri: entra.jwksUri,
        users: entra.users.map((u) => ({ username: u.username, password: u.password, name: u.name, oid: u.oid, tenantId: u.tenantId ?? entra.tenantId })),
        tenants: entra.tenants.map((t) => ({ id: t.id, name: t.name, domains: t.domains, personal: t.personal })),
        msiEndpoint: entra.msiEndpoint,
        msiHeader: entra.msiHeader,
        managedIdentityClientId: entra.managedIdentityClientId,
        managedIdentityPrincipalId: entra.managedIdentityPrincipalId,
        clientCertificate: { cert: clientCertificate.cert, key: clientCertificate.key, thumbprintSha256 },
      },
      graph: { url: graph.url },
      keyVault: { url: keyVault.url, secretNames: VAULT_SECRET_NAMES },
      tables: { connectionString: azurite.connectionString, endpoint: azurite.endpoint },
      tls: { caPath: ca.certPath },
      env,
      envKeyVault,
    };
    return { info, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function main(): Promise<void> {
  let options: CliOptions;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`emulators: ${(error as Error).message}\n`);
    process.exit(2);
  }

  let running: RunningEmulators | undefined;
  let stopping = false;
  const shutdown = (code: number): void => {
    if (stopping) return;
    stopping = true;
    const done = (): void => process.exit(code);
    const timer = setTimeout(done, 10_000);
    timer.unref();
    void (running ? running.stop() : Promise.resolve()).finally(done);
  };
  process.once('SIGTERM', () => shutdown(0));
  process.once('SIGINT', () => shutdown(0));
  process.once('SIGHUP', () => shutdown(0));
  if (options.stdinLifeline) {
    process.stdin.on('end', () => shutdown(0));
    process.stdin.on('close', () => shutdown(0));
    process.stdin.on('error', () => shutdown(0));
    process.stdin.resume();
  }

  try {
    running = await startAll(options);
  } catch (error) {
    process.stderr.write(`emulators: failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
    shutdown(1);
    return;
  }
  if (stopping) {
    await running.stop();
    return;
  }
  process.stdout.write(`EMULATORS_READY ${JSON.stringify(running.info)}\n`);
  const { entra, graph, keyVault, tables } = running.info;
  process.stderr.write(
    `emulators: Entra ${entra.url}${entra.tenantId} · Graph ${graph.url} · Key Vault ${keyVault.url} · Tables ${tables.endpoint}\n` +
      entra.tenants
        .map((t) => `emulators: ${t.name} (${t.personal ? 'personal accounts' : 'organization'}, tenant ${t.id}): ${entra.users.filter((u) => u.tenantId === t.id).map((u) => u.username).join(', ')}\n`)
        .join('') +
      `emulators: password for every user ${entra.users[0]?.password ?? ''}\n`,
  );
}

// Run only as the entry point (dist-dev/emulators.mjs), never when imported.
if (/(?:emulators\.mjs|[\\/]cli\.(?:ts|js|mjs))$/.test(process.argv[1] ?? '')) void main();
