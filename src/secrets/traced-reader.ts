/**
 * A client span per Key Vault secret read (`key_vault get_secret`), and bff.key_vault.reads
 * counted ok or failed (with the failure's kind). The span names the vault's host; the secret's
 * value, and the vault's error messages (which can quote request details), never reach it.
 */
import { instruments } from '../telemetry/instruments';
import { clientCall, errorKind } from '../telemetry/spans';
import type { SecretReader } from './cached-secret';

/** The status a Key Vault SDK error carries (RestError.statusCode), if any. */
function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

export function tracedSecretReader(reader: SecretReader, vaultUrl: string): SecretReader {
  const host = new URL(vaultUrl).host;
  return {
    getSecret: (name, options) =>
      clientCall('key_vault get_secret', { 'server.address': host, 'http.request.method': 'GET' }, instruments().keyVaultDuration, {}, async () => {
        try {
          const read = await reader.getSecret(name, options);
          instruments().keyVaultReads.add(1, { outcome: 'ok' });
          return read;
        } catch (error) {
          const status = statusOf(error);
          instruments().keyVaultReads.add(1, { outcome: 'failed', 'error.type': status !== undefined ? `http_${status}` : errorKind(error) });
          throw error;
        }
      }),
  };
}
