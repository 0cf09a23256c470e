/**
 * Picks where the app's secrets come from:
 *
 * | KEY_VAULT_URL | CLIENT_CREDENTIAL | client credential                          | key ring                          |
 * | ------------- | ----------------- | ------------------------------------------ | --------------------------------- |
 * | set           | secret            | vault secret CLIENT_SECRET_NAME            | vault secret KEY_RING_SECRET_NAME |
 * | set           | certificate       | vault secret CLIENT_CERTIFICATE_NAME (PEM) | vault secret KEY_RING_SECRET_NAME |
 * | set           | managedIdentity   | assertion from the identity AZURE_CLIENT_ID | vault secret KEY_RING_SECRET_NAME |
 * | unset         | managedIdentity   | assertion from the identity AZURE_CLIENT_ID | KEY_RING                          |
 * | unset         | secret            | CLIENT_SECRET                              | KEY_RING                          |
 *
 * Nothing here does I/O: the first request that needs a secret reads it.
 */
import { ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import type { Clock } from '../clock';
import type { Config } from '../config';
import type { SecretLogger, SecretReader } from './cached-secret';
import { createSecretClient, createVaultCredential, vaultClientCertificate, vaultClientSecret, vaultKeyRing, type VaultSecretOptions } from './key-vault';
import { localClientCredentials, localKeyRing } from './local';
import { managedIdentityAssertion, tokenExchangeAudience } from './managed-identity';
import { tracedSecretReader } from './traced-reader';
import type { ClientCredentialProvider, SecretProviders } from './types';

export type SecretsConfig = Pick<
  Config,
  | 'keyVaultUrl'
  | 'clientCredential'
  | 'clientSecretName'
  | 'clientCertificateName'
  | 'keyRingSecretName'
  | 'managedIdentityClientId'
  | 'clientSecret'
  | 'keyRing'
  | 'cloudInstance'
>;

export interface CreateSecretsOptions {
  readonly log?: SecretLogger;
  readonly clock?: Clock;
  /** Reads the vault instead of a SecretClient built here (tests). */
  readonly reader?: SecretReader;
  /** The credential the SecretClient uses. Default DefaultAzureCredential (AZURE_CLIENT_ID selects the identity). */
  readonly vaultCredential?: TokenCredential;
  /** The identity that signs client assertions. Default ManagedIdentityCredential(AZURE_CLIENT_ID). */
  readonly assertionCredential?: TokenCredential;
}

export function createSecrets(config: SecretsConfig, options: CreateSecretsOptions = {}): SecretProviders {
  const vault = config.keyVaultUrl === undefined ? undefined : vaultOptions(config, config.keyVaultUrl, options);
  return {
    credentials: clientCredentials(config, vault, options),
    keyRing: vault ? vaultKeyRing({ ...vault, secretName: config.keyRingSecretName }) : localKeyRing(config),
  };
}

function vaultOptions(config: SecretsConfig, vaultUrl: string, options: CreateSecretsOptions): VaultSecretOptions {
  const reader = options.reader ?? createSecretClient(vaultUrl, options.vaultCredential ?? createVaultCredential(config.managedIdentityClientId));
  return {
    reader: tracedSecretReader(reader, vaultUrl),
    vaultUrl,
    managedIdentityClientId: config.managedIdentityClientId,
    ...(options.clock !== undefined ? { clock: options.clock } : {}),
    ...(options.log !== undefined ? { log: options.log } : {}),
  };
}

function clientCredentials(config: SecretsConfig, vault: VaultSecretOptions | undefined, options: CreateSecretsOptions): ClientCredentialProvider {
  switch (config.clientCredential) {
    case 'managedIdentity': {
      const clientId = config.managedIdentityClientId;
      // loadConfig refuses managedIdentity without AZURE_CLIENT_ID; this guards other callers.
      if (clientId === undefined) throw new Error('CLIENT_CREDENTIAL=managedIdentity needs AZURE_CLIENT_ID: the user-assigned identity the app registration trusts.');
      return managedIdentityAssertion({
        credential: options.assertionCredential ?? new ManagedIdentityCredential({ clientId }),
        managedIdentityClientId: clientId,
        audience: tokenExchangeAudience(config.cloudInstance),
        ...(options.clock !== undefined ? { clock: options.clock } : {}),
        ...(options.log !== undefined ? { log: options.log } : {}),
      });
    }
    case 'certificate':
      if (vault === undefined) throw new Error('CLIENT_CREDENTIAL=certificate needs KEY_VAULT_URL: the certificate is read from the vault.');
      return vaultClientCertificate({ ...vault, secretName: config.clientCertificateName });
    case 'secret':
      return vault ? vaultClientSecret({ ...vault, secretName: config.clientSecretName }) : localClientCredentials(config);
  }
}
