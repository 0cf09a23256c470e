/**
 * `npm run doctor` (dist/tools/doctor.js, run as its own process with the app's settings) against
 * the emulators, then with each dependency down or misconfigured. Every run's whole output is
 * asserted: the lines that pass, and one line per problem with its code.
 *
 * The shared emulators are never broken for other test files: faults come from a stand-in server,
 * closed ports, a tenant the emulated Entra does not know, a wrong storage key, and vault secrets
 * of this file's own.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { odata, TableClient } from '@azure/data-tables';
import { freePort, listen } from '../../emulators/ports';
import { ensureTestCa, issueServerCertificate } from '../../emulators/tls';
import { emulatorAdmin, emulators } from '../support/emulators';
import { build } from '../support/instances';
import { runTool } from './run-tool';

const PUBLIC_BASE_URL = 'http://localhost:7071';
const IDENTITY_NOTE =
  'Run here, the doctor reads as the identity DefaultAzureCredential finds (your `az login` off Azure, the managed identity on Azure), so that identity needs the same access.';

beforeAll(() => build('doctor'));

type Env = Record<string, string>;

function doctor(env: Env, options: { cwd?: string } = {}): ReturnType<typeof runTool> {
  return runTool('doctor', [], { env: { PUBLIC_BASE_URL, ...env }, ...options });
}

function origin(url: string): string {
  return new URL(url).origin;
}

/** The line each check prints when it passes with these settings. */
function passing(env: Env): Record<'settings' | 'authority' | 'client-credential' | 'key-ring' | 'table' | 'graph', string> {
  const e = emulators();
  const authority = `${env['CLOUD_INSTANCE']}${env['TENANT_ID']}`;
  const vault = env['KEY_VAULT_URL'] ? origin(env['KEY_VAULT_URL']) : undefined;
  const credential = env['CLIENT_CREDENTIAL'] ?? 'secret';
  const tables = origin(/TableEndpoint=([^;]+)/.exec(e.tables.connectionString)![1]!);
  const kid = /^([^:]+):/.exec(e.env['KEY_RING']!)![1];
  return {
    settings:
      `✓ settings: authority ${authority}, client ${env['CLIENT_ID']}, public base ${PUBLIC_BASE_URL}, credential ${credential}, ` +
      `secrets from ${vault ? `Key Vault ${vault}` : `local settings (${credential === 'secret' ? 'CLIENT_SECRET, ' : ''}KEY_RING)`}, tables at a connection string`,
    authority: `✓ authority: ${authority}/v2.0/.well-known/openid-configuration lists the authorize and token endpoints (issuer ${authority}/v2.0)`,
    'client-credential':
      credential === 'managedIdentity'
        ? `✓ client-credential: client assertion from the managed identity ${e.entra.managedIdentityClientId} (AZURE_CLIENT_ID)`
        : `✓ client-credential: client secret: ${vault ? `secret "client-secret" (CLIENT_SECRET_NAME) in Key Vault ${vault}` : 'CLIENT_SECRET (local setting)'}, value not shown`,
    'key-ring': `✓ key-ring: ${vault ? `secret "key-ring" (KEY_RING_SECRET_NAME) in Key Vault ${vault}` : 'KEY_RING (local setting)'}: 1 key, newest kid "${kid}", values not shown`,
    table: `✓ table: table "accounts" at ${tables}: wrote, read and deleted a probe row (partition ~doctor)`,
    graph: `✓ graph: ${env['GRAPH_API_ENDPOINT']}v1.0/me answered 401 InvalidAuthenticationToken without a token: reachable, and Microsoft Graph`,
  };
}

const HEADER = 'doctor: settings from the environment and local.settings.json (not found)';

/** The whole expected output: the passing lines, with the given checks' lines replaced. */
function expected(env: Env, replaced: Partial<Record<keyof ReturnType<typeof passing>, string[]>>, summary: string, header = HEADER): string[] {
  const ok = passing(env);
  return [header, ...(Object.keys(ok) as (keyof typeof ok)[]).flatMap((check) => replaced[check] ?? [ok[check]]), summary];
}

test('passes on the emulators: local secrets (from local.settings.json), Key Vault, and the managed identity as client credential', async () => {
  const e = emulators();
  const dir = mkdtempSync(path.join(tmpdir(), 'bff-doctor-settings-'));
  try {
    writeFileSync(path.join(dir, 'local.settings.json'), JSON.stringify({ IsEncrypted: false, Values: { ...e.env, PUBLIC_BASE_URL } }));
    const local = await runTool('doctor', [], { cwd: dir });
    expect(local.lines).toEqual(expected(e.env, {}, 'doctor: all 6 checks passed', 'doctor: settings from the environment and local.settings.json'));
    expect([local.code, local.stderr]).toEqual([0, '']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const vault = await doctor(e.envKeyVault);
  expect(vault.lines).toEqual(expected(e.envKeyVault, {}, 'doctor: all 6 checks passed'));
  expect(vault.code).toBe(0);

  const secretless = { ...e.envKeyVault, CLIENT_CREDENTIAL: 'managedIdentity' };
  const withIdentity = await doctor(secretless);
  expect(withIdentity.lines).toEqual(expected(secretless, {}, 'doctor: all 6 checks passed'));
  expect(withIdentity.code).toBe(0);

  // Every probe row was deleted again.
  const table = TableClient.fromConnectionString(e.tables.connectionString, 'accounts', { allowInsecureConnection: true });
  const left = [];
  for await (const row of table.listEntities({ queryOptions: { filter: odata`PartitionKey eq ${'~doctor'}` } })) left.push(row.rowKey);
  expect(left).toEqual([]);
});

test('the managed identity off Azure is a note, neither a pass nor a problem', async () => {
  const e = emulators();
  // Local secrets and no IDENTITY_ENDPOINT: as on a developer's machine.
  const env = { ...e.env, CLIENT_CREDENTIAL: 'managedIdentity', AZURE_CLIENT_ID: e.entra.managedIdentityClientId };
  const run = await doctor(env);
  expect(run.lines).toEqual(
    expected(
      env,
      {
        'client-credential': [
          `· client-credential: not checked here: CLIENT_CREDENTIAL=managedIdentity, and only Azure gives the managed identity ${e.entra.managedIdentityClientId} (AZURE_CLIENT_ID) a token; run \`npm run smoke\` against the app after deploying.`,
        ],
      },
      'doctor: all 5 checks passed (1 not checked here)',
    ),
  );
  expect(run.code).toBe(0);
});

test('bad settings: one config_invalid line per problem, and nothing else is tried; a broken settings file; bad usage', async () => {
  const { TENANT_ID: _tenant, ...withoutTenant } = emulators().env;
  const run = await doctor({ ...withoutTenant, CLIENT_ID: 'not-a-guid', SESSION_IDLE_TIMEOUT_HOURS: '-1' });
  expect(run.lines).toEqual([
    HEADER,
    '✗ settings [config_invalid]: TENANT_ID is missing: set it to your Entra tenant id (a GUID) or "organizations".',
    '✗ settings [config_invalid]: CLIENT_ID must be a GUID ("not-a-guid").',
    '✗ settings [config_invalid]: SESSION_IDLE_TIMEOUT_HOURS must be a positive number ("-1").',
    'doctor: 3 problems in 1 of 1 checks',
  ]);
  expect(run.code).toBe(1);

  const dir = mkdtempSync(path.join(tmpdir(), 'bff-doctor-settings-'));
  try {
    writeFileSync(path.join(dir, 'mine.json'), '{ "Values": ');
    const broken = await runTool('doctor', ['--settings', 'mine.json'], { cwd: dir });
    expect(broken.lines[0]).toBe('doctor: settings from the environment and mine.json');
    expect(broken.lines[1]).toMatch(/^✗ settings \[settings_file_invalid\]: mine\.json is not valid JSON \(.+\); fix it or delete it\.$/);
    expect(broken.lines.slice(2)).toEqual(['doctor: 1 problem in 1 of 1 checks']);
    expect(broken.code).toBe(1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const usage = await runTool('doctor', ['--verbose']);
  expect([usage.code, usage.stdout, usage.stderr]).toEqual([2, '', 'doctor: unknown arguments: --verbose\nusage: npm run doctor [-- --settings <local.settings.json>]\n']);
});

/** An HTTPS server (test CA) that answers 503 to everything, Graph-shaped under /v1.0/. */
async function startFailingServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const tls = issueServerCertificate(ensureTestCa(path.dirname(emulators().tls.caPath)));
  const server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    if ((req.url ?? '').startsWith('/v1.0/')) {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '10' });
      res.end(JSON.stringify({ error: { code: 'ServiceNotAvailable', message: 'The service is temporarily unavailable.' } }));
    } else {
      res.writeHead(503, { 'content-type': 'text/html', 'retry-after': '10' }).end('<h1>Service Unavailable</h1>');
    }
  });
  const port = await listen(server, 0);
  return { url: `https://127.0.0.1:${port}/`, stop: () => new Promise((resolve) => server.close(() => resolve())) };
}

test('Entra and Graph failing: authority_unavailable, graph_unavailable', async () => {
  const failing = await startFailingServer();
  try {
    const env: Env = { ...emulators().env, CLOUD_INSTANCE: failing.url, GRAPH_API_ENDPOINT: failing.url };
    const authority = `${failing.url}${env['TENANT_ID']}`;
    const run = await doctor(env);
    expect(run.lines).toEqual(
      expected(
        env,
        {
          authority: [
            `✗ authority [authority_unavailable]: ${authority}/v2.0/.well-known/openid-configuration answered 503: the identity provider is failing right now; the app retries by itself. Run the doctor again in a few minutes.`,
          ],
          graph: [`✗ graph [graph_unavailable]: ${failing.url}v1.0/me answered 503 ServiceNotAvailable: Graph is failing right now; the app retries by itself. Run the doctor again in a few minutes.`],
        },
        'doctor: 2 problems in 2 of 6 checks',
      ),
    );
    expect(run.code).toBe(1);
  } finally {
    await failing.stop();
  }
});

test('every dependency unreachable: authority_unreachable, vault_unreachable, storage_unreachable, graph_unreachable', async () => {
  const e = emulators();
  const closed = `127.0.0.1:${await freePort()}`;
  const env = {
    ...e.envKeyVault,
    CLOUD_INSTANCE: `https://${closed}/`,
    KEY_VAULT_URL: `https://${closed}/`,
    GRAPH_API_ENDPOINT: `https://${closed}/`,
    TABLES_CONNECTION_STRING: e.tables.connectionString.replace(/TableEndpoint=http:\/\/[^/]+/, `TableEndpoint=http://${closed}`),
  };
  const vaultDown = (name: string): string =>
    `Key Vault https://${closed} is not answering (network error ECONNREFUSED) while reading secret "${name}": the app retries by itself; try again in a few seconds. ` +
    'If it stays so, check KEY_VAULT_URL and that this machine can reach the vault (firewall, private endpoint).';
  const run = await doctor(env);
  expect(run.lines).toEqual([
    HEADER,
    passing(env).settings,
    `✗ authority [authority_unreachable]: https://${closed}/${e.env['TENANT_ID']}/v2.0/.well-known/openid-configuration got no answer (ECONNREFUSED): check CLOUD_INSTANCE (https://${closed}/) and that this machine can reach it.`,
    `✗ client-credential [vault_unreachable]: ${vaultDown('client-secret')}`,
    `✗ key-ring [vault_unreachable]: ${vaultDown('key-ring')}`,
    `✗ table [storage_unreachable]: table "accounts" at http://${closed} did not answer (ECONNREFUSED): check TABLES_CONNECTION_STRING and that this machine can reach the storage account (firewall, private endpoint).`,
    `✗ graph [graph_unreachable]: https://${closed}/v1.0/me got no answer (ECONNREFUSED): check GRAPH_API_ENDPOINT (https://${closed}/) and that this machine can reach it.`,
    'doctor: 5 problems in 5 of 6 checks',
  ]);
  expect(run.code).toBe(1);
});

test('misconfigured: unknown tenant, wrong storage key, GRAPH_API_ENDPOINT not Graph', async () => {
  const e = emulators();
  const tenant = '11111111-2222-3333-4444-555555555555';
  const env = {
    ...e.env,
    TENANT_ID: tenant,
    TABLES_CONNECTION_STRING: e.tables.connectionString.replace(/AccountKey=[^;]+/, `AccountKey=${randomBytes(64).toString('base64')}`),
    GRAPH_API_ENDPOINT: e.entra.url,
  };
  const tables = origin(/TableEndpoint=([^;]+)/.exec(e.tables.connectionString)![1]!);
  const run = await doctor(env);
  expect(run.lines).toEqual(
    expected(
      env,
      {
        authority: [
          `✗ authority [authority_not_found]: ${e.entra.url}${tenant}/v2.0/.well-known/openid-configuration answered 400: the authority does not know tenant "${tenant}". ` +
            "Set TENANT_ID to your tenant id (Entra admin center, Overview) and CLOUD_INSTANCE to your cloud's sign-in host.",
        ],
        table: [
          `✗ table [storage_access_denied]: table "accounts" at ${tables} refused the request (403): give the app's identity the role "Storage Table Data Contributor" on the storage account (with a connection string: check its account key). ${IDENTITY_NOTE}`,
        ],
        graph: [
          `✗ graph [graph_unexpected]: ${e.entra.url}v1.0/me answered 404 without a token, where Graph answers 401 with its error body: ` +
            "GRAPH_API_ENDPOINT does not point at Microsoft Graph: set it to https://graph.microsoft.com/ (or your national cloud's Graph endpoint).",
        ],
      },
      'doctor: 3 problems in 3 of 6 checks',
    ),
  );
  expect(run.code).toBe(1);
});

test('the vault lacks the client secret and holds a malformed key ring: secret_missing, secret_unusable, no value printed', async () => {
  const e = emulators();
  const suffix = randomBytes(4).toString('hex');
  const ringValue = `kbad:${randomBytes(8).toString('base64')}`; // too short a key
  await emulatorAdmin.keyVault('PUT', `secrets/doctor-ring-${suffix}`, { value: ringValue });
  const env = { ...e.envKeyVault, CLIENT_SECRET_NAME: `doctor-missing-${suffix}`, KEY_RING_SECRET_NAME: `doctor-ring-${suffix}` };
  const vault = origin(e.keyVault.url);
  const run = await doctor(env);
  expect(run.lines).toEqual(
    expected(
      env,
      {
        'client-credential': [
          `✗ client-credential [secret_missing]: Key Vault ${vault} has no secret "doctor-missing-${suffix}": add it to the vault, or set CLIENT_SECRET_NAME to the name of the secret that holds it.`,
        ],
        'key-ring': [
          `✗ key-ring [secret_unusable]: Key Vault ${vault}: secret "doctor-ring-${suffix}" (KEY_RING_SECRET_NAME) is not a valid key ring. The key ring is invalid: the key of kid "kbad" is shorter than 32 bytes. ` +
            'Expected `kid:base64key` entries (keys of at least 32 random bytes) separated by commas, newest first.',
        ],
      },
      'doctor: 2 problems in 2 of 6 checks',
    ),
  );
  expect(run.code).toBe(1);
  expect(run.stdout + run.stderr).not.toContain(ringValue.slice(5));
  expect(run.stdout + run.stderr).not.toContain(e.entra.clientSecret);
});

test('a malformed local KEY_RING: key_ring_invalid', async () => {
  const env = { ...emulators().env, KEY_RING: 'k1:AAAA' };
  const run = await doctor(env);
  expect(run.lines).toEqual(
    expected(
      env,
      {
        'client-credential': ['✗ client-credential [not_checked]: not checked: the secrets could not be set up (see key-ring).'],
        'key-ring': [
          '✗ key-ring [key_ring_invalid]: KEY_RING: The key ring is invalid: the key of kid "k1" is shorter than 32 bytes. Expected `kid:base64key` entries (keys of at least 32 random bytes) separated by commas, newest first.',
        ],
      },
      'doctor: 2 problems in 2 of 6 checks',
    ),
  );
  expect(run.code).toBe(1);
});
