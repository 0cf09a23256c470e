import { ConfigError, loadConfig, SETTINGS } from '../../src/config';
import { problemsOf, TENANT, validSettings } from '../support/config-env';

const valid = validSettings;

describe('loadConfig', () => {
  it('applies secure defaults and derives the authority and redirect URI', () => {
    const config = loadConfig(valid);
    expect(config.authority).toBe(`https://login.microsoftonline.com/${TENANT}`);
    expect(config.knownAuthorities).toEqual([]);
    expect(config.redirectUri).toBe('https://app.example.com/api/callback');
    expect(config.graphEndpoint).toBe('https://graph.microsoft.com/');
    expect(config.graphScopes).toEqual(['Mail.Read']);
    expect(config.clientCredential).toBe('secret');
    expect(config.session).toEqual({ idleTimeoutSeconds: 14 * 24 * 3600, absoluteTimeoutSeconds: 90 * 24 * 3600, memoryTtlSeconds: 30 });
  });

  it('trusts a non-Microsoft authority host explicitly (local emulator)', () => {
    const config = loadConfig({ ...valid, CLOUD_INSTANCE: 'https://127.0.0.1:7443' });
    expect(config.cloudInstance).toBe('https://127.0.0.1:7443/');
    expect(config.authority).toBe(`https://127.0.0.1:7443/${TENANT}`);
    expect(config.knownAuthorities).toEqual(['127.0.0.1:7443']);
  });

  it('reports every missing setting in one message', () => {
    let thrown: unknown;
    try {
      loadConfig({});
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    const error = thrown as ConfigError;
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.problems).toEqual([
      'TENANT_ID is missing: set it to your Entra tenant id (a GUID) or "organizations".',
      'CLIENT_ID is missing: set it to the application (client) id of your app registration.',
      "PUBLIC_BASE_URL is missing: set it to the app's public origin, such as https://<app>.azurewebsites.net.",
      'CLIENT_SECRET is missing: without KEY_VAULT_URL the app needs the client secret locally (or set KEY_VAULT_URL).',
      'KEY_RING is missing: without KEY_VAULT_URL set it to `kid:base64key` (32 random bytes, base64), or set KEY_VAULT_URL.',
      'TABLES_ENDPOINT or TABLES_CONNECTION_STRING is missing: set TABLES_ENDPOINT to https://<account>.table.core.windows.net (managed identity), or TABLES_CONNECTION_STRING for Azurite.',
    ]);
    expect(error.message).toContain('6 settings are missing or invalid');
    for (const problem of error.problems) expect(error.message).toContain(problem);
  });

  it('reports invalid values by name, with what to set', () => {
    expect(
      problemsOf({
        ...valid,
        CLIENT_ID: 'my-app',
        CLOUD_INSTANCE: 'http://login.example.com/',
        PUBLIC_BASE_URL: 'http://app.example.com/path',
        CLIENT_CREDENTIAL: 'password',
        SESSION_IDLE_TIMEOUT_HOURS: 'soon',
        GRAPH_API_ENDPOINT: 'not a url',
        KEY_RING: 'missing-colon',
      }),
    ).toEqual([
      'CLIENT_ID must be a GUID ("my-app").',
      'CLOUD_INSTANCE must use https:// ("http://login.example.com/").',
      'PUBLIC_BASE_URL must use https:// ("http://app.example.com/path"); http:// is accepted only for localhost.',
      'CLIENT_CREDENTIAL must be secret, certificate or managedIdentity ("password").',
      'KEY_RING must be `kid:base64key` entries separated by commas, newest first (the values are not shown).',
      'GRAPH_API_ENDPOINT is not a URL ("not a url"): set it to an absolute https:// URL.',
      'SESSION_IDLE_TIMEOUT_HOURS must be a positive number ("soon").',
    ]);
  });

  it('never echoes the key ring or the client secret in its problems', () => {
    const message = problemsOf({ ...valid, KEY_RING: 'k1:c2VjcmV0,also bad', CLIENT_SECRET: 'hunter2', CLIENT_ID: 'x' }).join('\n');
    expect(message).not.toContain('c2VjcmV0');
    expect(message).not.toContain('hunter2');
  });

  it('accepts http only for a localhost public origin', () => {
    expect(loadConfig({ ...valid, PUBLIC_BASE_URL: 'http://localhost:7071' }).redirectUri).toBe('http://localhost:7071/api/callback');
  });

  it('checks cross-field rules for the credential modes', () => {
    const { CLIENT_SECRET: _s, KEY_RING: _k, ...noLocalSecrets } = valid;
    expect(problemsOf({ ...noLocalSecrets, KEY_VAULT_URL: 'https://myvault.vault.azure.net/', CLIENT_CREDENTIAL: 'managedIdentity' })).toEqual([
      'CLIENT_CREDENTIAL=managedIdentity needs AZURE_CLIENT_ID: the user-assigned identity the app registration trusts.',
    ]);
    expect(problemsOf({ ...valid, CLIENT_CREDENTIAL: 'certificate' })).toEqual([
      'CLIENT_CREDENTIAL=certificate needs KEY_VAULT_URL: the certificate is read from the vault.',
    ]);
    expect(problemsOf({ ...valid, SESSION_IDLE_TIMEOUT_HOURS: '3000' })).toEqual([
      'SESSION_IDLE_TIMEOUT_HOURS must not exceed SESSION_ABSOLUTE_TIMEOUT_HOURS.',
    ]);
  });

  it('documents every setting it declares', () => {
    for (const spec of SETTINGS) expect(spec.description.length).toBeGreaterThan(10);
    expect(new Set(SETTINGS.map((s) => s.name)).size).toBe(SETTINGS.length);
  });
});
