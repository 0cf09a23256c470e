/**
 * A Key Vault stand-in of a test file's own (so taking it down, denying the identity or changing
 * secrets disturbs no other file), trusting the shared emulated Entra's tokens, with the App Service
 * managed-identity endpoint set in process.env for DefaultAzureCredential. `stop()` puts the
 * environment back.
 */
import { KEY_VAULT_AUDIENCES, startKeyVault, type KeyVaultEmulator, type KeyVaultSecretInput } from '../../emulators/keyvault';
import { ensureTestCa, issueServerCertificate } from '../../emulators/tls';
import { adminCall, emulators } from './emulators';

export interface OwnKeyVault {
  readonly vault: KeyVaultEmulator;
  /** Its admin routes (`_emulator/<path>`: down, deny, secrets, stats; emulators/keyvault.ts). */
  admin<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  stop(): Promise<void>;
}

export async function startOwnKeyVault(secrets: Readonly<Record<string, string | KeyVaultSecretInput>>): Promise<OwnKeyVault> {
  const info = emulators();
  const ca = ensureTestCa();
  const savedEnv: Record<string, string | undefined> = {};
  // The App Service managed-identity endpoint: DefaultAzureCredential / ManagedIdentityCredential read these.
  for (const [name, value] of [
    ['IDENTITY_ENDPOINT', info.entra.msiEndpoint],
    ['IDENTITY_HEADER', info.entra.msiHeader],
  ] as const) {
    savedEnv[name] = process.env[name];
    process.env[name] = value;
  }
  const vault = await startKeyVault({
    tls: issueServerCertificate(ca),
    issuer: info.entra.issuer,
    jwksUri: info.entra.jwksUri,
    jwksCa: ca.certPem,
    audience: KEY_VAULT_AUDIENCES,
    authority: info.entra.authority,
    secrets,
  });
  return {
    vault,
    admin: (method, path, body) => adminCall(vault.url, method, path, body),
    stop: async () => {
      await vault.stop();
      for (const [name, value] of Object.entries(savedEnv)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    },
  };
}
