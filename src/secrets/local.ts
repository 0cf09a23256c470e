/**
 * Local development: the client secret and the key ring come straight from settings
 * (CLIENT_SECRET, KEY_RING), used only when KEY_VAULT_URL is unset.
 */
import type { Config } from '../config';
import { parseKeyRing } from '../crypto/keyring';
import type { ClientCredentialProvider, KeyRingProvider } from './types';

export function localClientCredentials(config: Pick<Config, 'clientSecret'>): ClientCredentialProvider {
  const clientSecret = config.clientSecret;
  if (!clientSecret) throw new Error('CLIENT_SECRET is missing: set it, or set KEY_VAULT_URL.');
  return {
    current: async () => ({ clientSecret }),
    // A setting cannot change under a running process: nothing newer to fetch.
    renew: async () => false,
  };
}

export function localKeyRing(config: Pick<Config, 'keyRing'>): KeyRingProvider {
  const ring = parseKeyRing(config.keyRing ?? '');
  return { current: async () => ring };
}
