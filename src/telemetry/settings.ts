/**
 * The telemetry settings: the standard ones, read from the environment as the OpenTelemetry and
 * Application Insights SDKs define them (not in src/config.ts: Bicep writes the Application
 * Insights pair as host settings, and the OTEL_* ones are the SDK's own interface). The README's
 * "Observability" section documents each one.
 *
 * With none of the exporters configured, or OTEL_SDK_DISABLED=true, the SDK is never loaded and
 * every span and metric is the API's no-op.
 */

export const TELEMETRY_SETTINGS = [
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING',
    description: 'Export traces and metrics to this Application Insights component (Bicep sets it).',
  },
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
    description: '`ClientId=<managed identity client id>;Authorization=AAD`: export with an Entra token of that identity (Bicep sets it).',
  },
  { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', description: 'Export traces and metrics over OTLP/HTTP to this collector (`/v1/traces`, `/v1/metrics` are added).' },
  { name: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', description: 'OTLP/HTTP endpoint for traces alone (full URL).' },
  { name: 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', description: 'OTLP/HTTP endpoint for metrics alone (full URL).' },
  { name: 'OTEL_TRACES_EXPORTER', description: '`console` adds a one-line summary per request on stderr (local use); `none` exports no traces.' },
  { name: 'OTEL_SDK_DISABLED', description: '`true` turns all telemetry off, whatever else is set.' },
] as const;

export interface TelemetryExporters {
  readonly azureMonitor: boolean;
  readonly otlpTraces: boolean;
  readonly otlpMetrics: boolean;
  readonly consoleSummary: boolean;
}

type Env = Readonly<Record<string, string | undefined>>;

const set = (env: Env, name: string): boolean => (env[name]?.trim() ?? '') !== '';

/** Which exporters the environment asks for; undefined when none (or the SDK is disabled). */
export function telemetryExporters(env: Env): TelemetryExporters | undefined {
  if (env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true') return undefined;
  const tracesExporters = (env['OTEL_TRACES_EXPORTER'] ?? '').split(',').map((e) => e.trim().toLowerCase());
  const noTraces = tracesExporters.includes('none');
  const otlp = set(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  const wanted: TelemetryExporters = {
    azureMonitor: set(env, 'APPLICATIONINSIGHTS_CONNECTION_STRING'),
    otlpTraces: !noTraces && (otlp || set(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT')),
    otlpMetrics: otlp || set(env, 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT'),
    consoleSummary: tracesExporters.includes('console'),
  };
  return wanted.azureMonitor || wanted.otlpTraces || wanted.otlpMetrics || wanted.consoleSummary ? wanted : undefined;
}

/**
 * The managed identity's client id when the Application Insights authentication string asks for
 * Entra authentication (`ClientId=<guid>;Authorization=AAD`); '' for the system-assigned identity.
 */
export function azureMonitorIdentity(env: Env): string | undefined {
  const text = env['APPLICATIONINSIGHTS_AUTHENTICATION_STRING']?.trim();
  if (!text) return undefined;
  const parts = new Map(
    text
      .split(';')
      .map((p) => p.split('=').map((s) => s.trim()))
      .filter((kv): kv is [string, string] => kv.length === 2)
      .map(([k, v]) => [k.toLowerCase(), v]),
  );
  if (parts.get('authorization')?.toLowerCase() !== 'aad') return undefined;
  return parts.get('clientid') ?? '';
}
