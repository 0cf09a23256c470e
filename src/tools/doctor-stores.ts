/**
 * `npm run doctor`: the secrets and the table, checked through the app's own modules (createSecrets
 * and CachedSecret, createTableClient), so a problem found here is the one the app would meet, with
 * the app's own message. Values are never printed: only names, counts and key ids.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../config';
import { KeyRingError } from '../crypto/keyring';
import { AppError, isAppError } from '../errors';
import { UnusableSecretError } from '../secrets/cached-secret';
import { createSecrets } from '../secrets/create-secrets';
import { innerCode } from '../secrets/vault-errors';
import type { SecretProviders } from '../secrets/types';
import { createTableClient, ensureTable, statusOf, TABLES } from '../storage/tables';
import { failed, networkReason, noted, passed, type CheckResult, type Problem } from './report';

const CREDENTIAL_ERRORS = new Set(['CredentialUnavailableError', 'AggregateAuthenticationError', 'AuthenticationError']);

/** Who reads the vault and the table when the doctor runs: DefaultAzureCredential's identity. */
const DOCTOR_IDENTITY =
  'Run here, the doctor reads as the identity DefaultAzureCredential finds (your `az login` off Azure, the managed identity on Azure), so that identity needs the same access.';

interface ErrorShape {
  readonly name?: unknown;
  readonly statusCode?: unknown;
}

/** A Key Vault read that failed, as the app reported it (AppError from src/secrets/vault-errors.ts). */
export function vaultProblem(error: unknown): Problem {
  if (!isAppError(error)) return { code: 'vault_error', message: `reading the vault failed unexpectedly (${networkReason(error)}).` };
  const cause = (error.cause ?? {}) as ErrorShape;
  const status = typeof cause.statusCode === 'number' ? cause.statusCode : undefined;
  let code: string;
  if (error.code === 'key_vault_unavailable') code = 'vault_unreachable';
  else if (status === 404) code = 'secret_missing';
  else if (status === 403 && innerCode(cause) === 'SecretDisabled') code = 'secret_disabled';
  else if (status === 403) code = 'vault_access_denied';
  else if (status === 401 || (typeof cause.name === 'string' && CREDENTIAL_ERRORS.has(cause.name))) code = 'vault_credential';
  else if (error.cause === undefined || error.cause instanceof UnusableSecretError) code = 'secret_unusable';
  else code = 'vault_error';
  const more =
    code === 'vault_access_denied' || code === 'vault_credential'
      ? ` ${DOCTOR_IDENTITY}`
      : code === 'vault_unreachable'
        ? ' If it stays so, check KEY_VAULT_URL and that this machine can reach the vault (firewall, private endpoint).'
        : '';
  return { code, message: `${error.message}${more}` };
}

export interface SecretsChecks {
  readonly clientCredential: Promise<CheckResult>;
  readonly keyRing: Promise<CheckResult>;
}

/** The client credential and the key ring, read where the app reads them (vault or local settings). */
export function checkSecrets(config: Config): SecretsChecks {
  const silent = { warn: () => {}, error: () => {} };
  let secrets: SecretProviders;
  try {
    secrets = createSecrets(config, { log: silent });
  } catch (error) {
    // Only the local key ring is read while the providers are built (KEY_RING, parsed at once).
    const problem: Problem =
      error instanceof KeyRingError
        ? { code: 'key_ring_invalid', message: `KEY_RING: ${error.message}` }
        : { code: 'secrets_setup', message: `the secrets could not be set up: ${error instanceof Error ? error.message : String(error)}` };
    return {
      keyRing: Promise.resolve(failed('key-ring', problem)),
      clientCredential: Promise.resolve(failed('client-credential', { code: 'not_checked', message: 'not checked: the secrets could not be set up (see key-ring).' })),
    };
  }
  return { clientCredential: checkClientCredential(config, secrets), keyRing: checkKeyRing(config, secrets) };
}

function vaultSecret(config: Config, name: string, setting: string): string {
  return `secret "${name}" (${setting}) in Key Vault ${config.keyVaultUrl}`;
}

async function checkClientCredential(config: Config, secrets: SecretProviders): Promise<CheckResult> {
  let credential: Awaited<ReturnType<SecretProviders['credentials']['current']>>;
  try {
    credential = await secrets.credentials.current();
  } catch (error) {
    return failed('client-credential', vaultProblem(error));
  }
  if ('clientSecret' in credential) {
    const where = config.keyVaultUrl ? vaultSecret(config, config.clientSecretName, 'CLIENT_SECRET_NAME') : 'CLIENT_SECRET (local setting)';
    return passed('client-credential', `client secret: ${where}, value not shown`);
  }
  if ('clientCertificate' in credential) {
    return passed(
      'client-credential',
      `certificate and private key from ${vaultSecret(config, config.clientCertificateName, 'CLIENT_CERTIFICATE_NAME')}, SHA-256 thumbprint ${credential.clientCertificate.thumbprintSha256}`,
    );
  }
  // CLIENT_CREDENTIAL=managedIdentity: the assertion is a token of the app's managed identity.
  try {
    await credential.clientAssertion({ clientId: config.clientId, tokenEndpoint: `${config.authority}/oauth2/v2.0/token` });
  } catch (error) {
    const cause = isAppError(error) ? (error.cause as ErrorShape | undefined) : undefined;
    if (cause?.name === 'CredentialUnavailableError' || cause?.name === 'AggregateAuthenticationError') {
      return noted(
        'client-credential',
        `not checked here: CLIENT_CREDENTIAL=managedIdentity, and only Azure gives the managed identity ${config.managedIdentityClientId} (AZURE_CLIENT_ID) a token; run \`npm run smoke\` against the app after deploying.`,
      );
    }
    return failed('client-credential', { code: 'managed_identity_failed', message: error instanceof AppError ? error.message : `the managed identity gave no token (${networkReason(error)}).` });
  }
  return passed('client-credential', `client assertion from the managed identity ${config.managedIdentityClientId} (AZURE_CLIENT_ID)`);
}

async function checkKeyRing(config: Config, secrets: SecretProviders): Promise<CheckResult> {
  try {
    const ring = await secrets.keyRing.current();
    const where = config.keyVaultUrl ? vaultSecret(config, config.keyRingSecretName, 'KEY_RING_SECRET_NAME') : 'KEY_RING (local setting)';
    const keys = `${ring.kids.length} key${ring.kids.length === 1 ? '' : 's'}`;
    return passed('key-ring', `${where}: ${keys}, newest kid "${ring.current.kid}", values not shown`);
  } catch (error) {
    return failed('key-ring', vaultProblem(error));
  }
}

/** A partition no account can have: accounts are `<oid>.<tid>` (GUIDs), and `~` sorts after them all. */
export const PROBE_PARTITION = '~doctor';

/** Writes, reads back and deletes a probe row in the app's table, with the app's client. */
export async function checkTable(config: Config, timeoutMs: number): Promise<CheckResult> {
  const client = createTableClient(config, TABLES.accounts);
  const where = `table "${TABLES.accounts}" at ${new URL(client.url).origin}`;
  const rowKey = `probe-${randomUUID()}`;
  const value = randomUUID();
  const abort = (): { abortSignal: AbortSignal } => ({ abortSignal: AbortSignal.timeout(timeoutMs) });
  try {
    // The app creates the table itself only on Azurite (connection string); on Azure, Bicep does.
    if (config.tables.connectionString) await ensureTable(client)();
    // No expiresAt: the app's sweeps must never meet the row. Should the delete below fail (the
    // doctor then says why), the row left in ~doctor is a few bytes that no request ever reads.
    await client.createEntity({ partitionKey: PROBE_PARTITION, rowKey, probe: value }, abort());
    const read = await client.getEntity<{ probe?: string }>(PROBE_PARTITION, rowKey, abort());
    await client.deleteEntity(PROBE_PARTITION, rowKey, abort());
    if (read.probe !== value) {
      return failed('table', { code: 'storage_readback', message: `${where} gave back a different value than was written: TABLES_ENDPOINT must be Azure Table Storage.` });
    }
  } catch (error) {
    return failed('table', storageProblem(config, where, isAppError(error) && error.cause !== undefined ? error.cause : error));
  }
  return passed('table', `${where}: wrote, read and deleted a probe row (partition ${PROBE_PARTITION})`);
}

function storageProblem(config: Config, where: string, error: unknown): Problem {
  const status = statusOf(error);
  const name = (error as ErrorShape | undefined)?.name;
  const setting = config.tables.connectionString ? 'TABLES_CONNECTION_STRING' : 'TABLES_ENDPOINT';
  if (typeof name === 'string' && CREDENTIAL_ERRORS.has(name)) {
    return {
      code: 'storage_credential',
      message: `no identity could get a token for ${where}: on Azure, attach the managed identity (AZURE_CLIENT_ID); locally, sign in with \`az login\`.`,
    };
  }
  if (status === 403) {
    return {
      code: 'storage_access_denied',
      message:
        `${where} refused the request (403): give the app's identity the role "Storage Table Data Contributor" on the storage account` +
        `${config.tables.connectionString ? ' (with a connection string: check its account key)' : ''}. ${DOCTOR_IDENTITY}`,
    };
  }
  if (status === 401) return { code: 'storage_credential', message: `${where} rejected the credential (401): the storage account must be in the identity's tenant; check ${setting}.` };
  if (status === 404) return { code: 'storage_table_missing', message: `${where} does not exist: provision infra/main.bicep (it creates the table), or check ${setting}.` };
  if (status === undefined || status >= 500 || status === 408 || status === 429) {
    const reason = status === undefined ? networkReason(error) : `status ${status}`;
    return { code: 'storage_unreachable', message: `${where} did not answer (${reason}): check ${setting} and that this machine can reach the storage account (firewall, private endpoint).` };
  }
  return { code: 'storage_error', message: `${where} answered ${status} to the probe row: check ${setting}.` };
}
