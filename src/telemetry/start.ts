/**
 * Starts the OpenTelemetry SDK when the settings ask for an exporter (telemetry/settings.ts), once
 * per process. The SDK lives in telemetry/sdk.ts, which the build makes a bundle of its own
 * (dist/telemetry.js, required here on first use, like dist/services.js from the route table), so
 * neither the entry bundles nor the services carry it, and an app with no exporter never loads it.
 */
import { ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import { azureMonitorIdentity, telemetryExporters } from './settings';

type SdkModule = typeof import('./sdk');

let started = false;

/**
 * Called where dist/services.js starts serving (before the first request's span, so that span
 * records) and before the timers' services are built; the second and later calls do nothing.
 */
export function startTelemetryIfConfigured(env: Readonly<Record<string, string | undefined>>): void {
  if (started) return;
  const exporters = telemetryExporters(env);
  if (!exporters) return;
  started = true;
  let credential: TokenCredential | undefined;
  if (exporters.azureMonitor) {
    const identity = azureMonitorIdentity(env);
    // Local authentication is off on the component (infra/modules/monitoring.bicep): ingestion takes
    // an Entra token of the app's managed identity, as the Functions host's own telemetry does.
    if (identity !== undefined) {
      const clientId = identity || env['AZURE_CLIENT_ID']?.trim();
      credential = clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
    }
  }
  try {
    const sdk = require('./sdk') as SdkModule;
    sdk.startTelemetry({ env, exporters, ...(credential ? { azureMonitorCredential: credential } : {}) });
  } catch (error) {
    // Telemetry is never a reason to fail requests: the app runs on with the API's no-ops.
    console.error(JSON.stringify({ event: 'telemetry_start_failed', code: 'telemetry_unavailable', cause: error instanceof Error ? error.name : typeof error }));
  }
}
