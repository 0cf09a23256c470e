/**
 * What the rest of the app needs from secrets, apart from where they come from (settings locally,
 * Key Vault or a managed identity in Azure).
 */
import type { ClientAssertionCallback } from '@azure/msal-node';
import type { KeyRing } from '../crypto/keyring';

/** The client credential in the shape msal-node's `auth` configuration takes. */
export type MsalClientCredential =
  | { readonly clientSecret: string }
  | { readonly clientCertificate: { thumbprintSha256: string; privateKey: string; x5c?: string } }
  | { readonly clientAssertion: ClientAssertionCallback };

export interface ClientCredentialProvider {
  /** The current credential; fetched once, cached, refreshed in the background. */
  current(): Promise<MsalClientCredential>;
  /**
   * Entra answered `invalid_client` (a rotated or expired secret): fetch the newest version.
   * Resolves true when the credential changed, so one retry is worth it.
   */
  renew(): Promise<boolean>;
}

export interface KeyRingProvider {
  /** The key ring: newest key seals, every key opens. */
  current(): Promise<KeyRing>;
  /** A value names a kid this instance does not know: fetch the newest ring. True when it changed. */
  renew?(): Promise<boolean>;
}

/** The two providers the app is built with (local settings, or Key Vault and a managed identity). */
export interface SecretProviders {
  readonly credentials: ClientCredentialProvider;
  readonly keyRing: KeyRingProvider;
}
