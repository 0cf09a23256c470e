/**
 * Secrets from Azure Key Vault: the client secret, the client certificate and the key ring, each a
 * CachedSecret (read once per instance, refreshed in the background, renewed on demand).
 *
 * The vault is reached with `SecretClient` and `DefaultAzureCredential` (the managed identity on
 * Azure, selected by AZURE_CLIENT_ID when user-assigned; `az login` on a developer machine).
 */
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { SecretClient, type SecretClientOptions } from '@azure/keyvault-secrets';
import type { Clock } from '../clock';
import { parseKeyRing, type KeyRing } from '../crypto/keyring';
import { CachedSecret, UnusableSecretError, type SecretLogger, type SecretReader } from './cached-secret';
import { parseClientCertificate } from './certificate';
import type { ClientCredentialProvider, KeyRingProvider } from './types';
import type { SecretSite } from './vault-errors';

/**
 * DNS suffixes of Azure Key Vault and Managed HSM in the public and sovereign clouds. For these the
 * SDK's challenge check stays on: it makes sure the vault's 401 challenge names a resource under
 * the vault's own domain, so a token is never sent for someone else's resource.
 */
export const AZURE_KEY_VAULT_DNS_SUFFIXES: readonly string[] = [
  'vault.azure.net',
  'vault.azure.cn',
  'vault.usgovcloudapi.net',
  'vault.microsoftazure.de',
  'managedhsm.azure.net',
  'managedhsm.azure.cn',
  'managedhsm.usgovcloudapi.net',
  'managedhsm.microsoftazure.de',
];

/** True when `vaultUrl` is an Azure Key Vault or Managed HSM host. */
export function isAzureKeyVaultHost(vaultUrl: string): boolean {
  const host = new URL(vaultUrl).hostname.toLowerCase().replace(/\.$/, '');
  return AZURE_KEY_VAULT_DNS_SUFFIXES.some((suffix) => host.endsWith(`.${suffix}`));
}

/**
 * Options for the SecretClient. The challenge-resource check is turned off only for a host that is
 * not Key Vault (the local emulator on 127.0.0.1, whose challenge names https://vault.azure.net):
 * an Azure vault always keeps it.
 */
export function secretClientOptions(vaultUrl: string): SecretClientOptions {
  return {
    // One quick retry inside a read; longer outages are handled by CachedSecret's backoff, so a
    // request never waits out the SDK's default of three exponential retries.
    retryOptions: { maxRetries: 1, retryDelayInMs: 200, maxRetryDelayInMs: 1_000 },
    ...(isAzureKeyVaultHost(vaultUrl) ? {} : { disableChallengeResourceVerification: true }),
  };
}

/** The credential that reads the vault: DefaultAzureCredential, with the user-assigned identity when AZURE_CLIENT_ID is set. */
export function createVaultCredential(managedIdentityClientId: string | undefined): TokenCredential {
  return new DefaultAzureCredential(managedIdentityClientId ? { managedIdentityClientId } : {});
}

export function createSecretClient(vaultUrl: string, credential: TokenCredential): SecretClient {
  return new SecretClient(vaultUrl, credential, secretClientOptions(vaultUrl));
}

/** What every vault-backed provider shares. */
export interface VaultSecretOptions {
  readonly reader: SecretReader;
  readonly vaultUrl: string;
  /** AZURE_CLIENT_ID, named in error messages. */
  readonly managedIdentityClientId: string | undefined;
  readonly clock?: Clock;
  readonly log?: SecretLogger;
  readonly ttlMs?: number;
  readonly minRefreshIntervalMs?: number;
  readonly timeoutMs?: number;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
}

/** A provider together with the cache behind it (tests and diagnostics read its stats). */
export type WithCache<P, T> = P & { readonly cache: CachedSecret<T> };

export function vaultClientSecret(options: VaultSecretOptions & { readonly secretName: string }): WithCache<ClientCredentialProvider, string> {
  const cache = new CachedSecret<string>({
    ...cacheOptions(options, site(options, options.secretName, 'CLIENT_SECRET_NAME')),
    parse: ({ value }) => value,
  });
  return {
    cache,
    current: async () => ({ clientSecret: await cache.get() }),
    renew: () => cache.refresh(),
  };
}

export function vaultClientCertificate(
  options: VaultSecretOptions & { readonly secretName: string },
): WithCache<ClientCredentialProvider, ReturnType<typeof parseClientCertificate>> {
  const cache = new CachedSecret({
    ...cacheOptions(options, site(options, options.secretName, 'CLIENT_CERTIFICATE_NAME')),
    parse: parseClientCertificate,
  });
  return {
    cache,
    current: async () => {
      const { thumbprintSha256, privateKey, x5c } = await cache.get();
      return { clientCertificate: { thumbprintSha256, privateKey, x5c } };
    },
    renew: () => cache.refresh(),
  };
}

export function vaultKeyRing(options: VaultSecretOptions & { readonly secretName: string }): WithCache<Required<KeyRingProvider>, KeyRing> {
  const cache = new CachedSecret<KeyRing>({
    ...cacheOptions(options, site(options, options.secretName, 'KEY_RING_SECRET_NAME')),
    parse: ({ value }) => {
      try {
        return parseKeyRing(value);
      } catch (error) {
        // parseKeyRing's messages name entries and kids, never key material.
        throw new UnusableSecretError(`is not a valid key ring. ${error instanceof Error ? error.message : ''}`.trim(), { cause: error });
      }
    },
  });
  return { cache, current: () => cache.get(), renew: () => cache.refresh() };
}

function site(options: VaultSecretOptions, secretName: string, setting: string): SecretSite {
  return { vaultUrl: options.vaultUrl, secretName, setting, managedIdentityClientId: options.managedIdentityClientId };
}

function cacheOptions(options: VaultSecretOptions, secretSite: SecretSite) {
  return {
    reader: options.reader,
    site: secretSite,
    ...(options.clock !== undefined ? { clock: options.clock } : {}),
    ...(options.log !== undefined ? { log: options.log } : {}),
    ...(options.ttlMs !== undefined ? { ttlMs: options.ttlMs } : {}),
    ...(options.minRefreshIntervalMs !== undefined ? { minRefreshIntervalMs: options.minRefreshIntervalMs } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.backoff !== undefined ? { backoff: options.backoff } : {}),
  };
}
