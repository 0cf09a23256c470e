/**
 * The contract between the code and the templates: the app settings the Bicep writes are exactly the
 * settings src/config.ts reads (minus the local-only ones, plus the platform's own), with the same
 * defaults, and the tables and outputs the code and the deploy tooling rely on exist.
 */
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { loadConfig, SETTINGS, type SettingSpec } from '../../src/config';
import { TABLES } from '../../src/storage/tables';
import type { Node } from 'web-tree-sitter';
import { infraFile, infraFiles, literal, modules, named, outputs, params, REPO_ROOT, resolveLiteral, stringValue, vars, type BicepFile } from './bicep';
import { appSettings, FORBIDDEN_SETTINGS, HOST_SETTINGS, isHostSetting, mainParameters } from './deployment';

const specs: readonly SettingSpec[] = SETTINGS;

/**
 * Settings with a default whose Bicep value is computed at deployment rather than a literal, and
 * why that is right. Every other defaulted setting must resolve to exactly the code's default.
 */
const COMPUTED_DEFAULTS: Readonly<Record<string, string>> = {
  CLOUD_INSTANCE: "environment().authentication.loginEndpoint: the deployment's own cloud (public, US Gov, China)",
};

describe('app settings written by infra/ vs SETTINGS in src/config.ts', () => {
  it('are exactly the non-local settings the code reads, plus documented host settings', async () => {
    const written = appSettings((await infraFiles()).values()).map((s) => s.name);
    const appOwned = written.filter((name) => !isHostSetting(name)).sort();
    const expected = specs.filter((s) => s.localOnly !== true).map((s) => s.name).sort();
    // Two-way: a setting added to SETTINGS needs a value in Bicep, and Bicep may not set names the
    // code never reads (a typo there would silently leave the app on its default).
    expect({ missingFromBicep: expected.filter((n) => !appOwned.includes(n)), unknownToConfig: appOwned.filter((n) => !expected.includes(n)) }).toEqual({
      missingFromBicep: [],
      unknownToConfig: [],
    });
  });

  it('are each written once, in one place', async () => {
    const written = appSettings((await infraFiles()).values()).map((s) => s.name);
    expect(written.filter((name, i) => written.indexOf(name) !== i)).toEqual([]);
  });

  it('include the identity-based host settings, and every host setting is expected', async () => {
    const written = appSettings((await infraFiles()).values());
    const names = written.map((s) => s.name).filter(isHostSetting).sort();
    expect(names).toEqual([
      'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
      'APPLICATIONINSIGHTS_CONNECTION_STRING',
      'AzureWebJobsDisableHomepage',
      'AzureWebJobsStorage__accountName',
      'AzureWebJobsStorage__clientId',
      'AzureWebJobsStorage__credential',
    ]);
    expect(HOST_SETTINGS.length).toBe(3);
    const byName = new Map(written.map((s) => [s.name, s.value]));
    expect(literal(byName.get('AzureWebJobsStorage__credential'))).toBe('managedidentity');
    // ClientId=<the managed identity's client id>;Authorization=AAD
    const auth = byName.get('APPLICATIONINSIGHTS_AUTHENTICATION_STRING')!;
    expect(auth.type).toBe('string');
    expect(auth.text).toMatch(/^'ClientId=\$\{[A-Za-z_][A-Za-z0-9_.]*\};Authorization=AAD'$/);
    // The host and the app's DefaultAzureCredential use the same identity.
    expect(byName.get('AzureWebJobsStorage__clientId')?.text).toBe(byName.get('AZURE_CLIENT_ID')?.text);
    expect(auth.text).toContain(`\${${byName.get('AZURE_CLIENT_ID')?.text}}`);
  });

  it('leave out local-only settings and the ones Flex Consumption refuses', async () => {
    const written = appSettings((await infraFiles()).values()).map((s) => s.name);
    const localOnly = specs.filter((s) => s.localOnly === true).map((s) => s.name);
    expect(localOnly).toEqual(expect.arrayContaining(['CLIENT_SECRET', 'KEY_RING', 'TABLES_CONNECTION_STRING']));
    expect(written.filter((n) => localOnly.includes(n) || FORBIDDEN_SETTINGS.includes(n))).toEqual([]);
  });

  it('default to what the code defaults to', async () => {
    const files = await infraFiles();
    const settings = appSettings(files.values());
    const mismatches: string[] = [];
    const unresolved: string[] = [];
    for (const spec of specs) {
      if (spec.default === undefined || spec.localOnly === true) continue;
      const setting = settings.find((s) => s.name === spec.name);
      if (setting === undefined) continue; // reported by the first test
      const value = resolveLiteral(setting.file, setting.value, callerOf(setting.file, files));
      if (value === undefined) unresolved.push(spec.name);
      else if (String(value) !== spec.default) mismatches.push(`${spec.name}: Bicep ${JSON.stringify(value)}, code ${JSON.stringify(spec.default)}`);
    }
    expect(mismatches).toEqual([]);
    expect(unresolved.sort()).toEqual(Object.keys(COMPUTED_DEFAULTS).sort());
  });
});

/** The module call that passes parameters to `file` (one level: main.bicep calling a module). */
function callerOf(file: BicepFile, files: Map<string, BicepFile>): { file: BicepFile; args: Map<string, Node> } | undefined {
  for (const caller of files.values()) {
    for (const call of modules(caller)) {
      if (posix.join(posix.dirname(caller.path), call.path) === file.path) return { file: caller, args: call.args };
    }
  }
  return undefined;
}

describe('what the code and the tooling rely on', () => {
  it('creates the tables src/storage/tables.ts uses', async () => {
    const main = await infraFile('infra/main.bicep');
    const tableNames = vars(main).get('tableNames');
    expect(tableNames?.type).toBe('array');
    expect(named(tableNames!).map((n) => stringValue(n)).sort()).toEqual(Object.values(TABLES).sort());
    const storageCall = modules(main).find((m) => m.path === 'modules/storage.bicep');
    expect(storageCall?.args.get('tableNames')?.text).toBe('tableNames');
  });

  it('outputs the redirect URI the app computes from PUBLIC_BASE_URL', async () => {
    const main = await infraFile('infra/main.bicep');
    const redirect = outputs(main).get('REDIRECT_URI')?.value;
    const origin = outputs(main).get('SERVICE_API_URI')?.value;
    expect(origin?.text).toMatch(/^'https:\/\/\$\{[^}]+\}'$/);
    const config = loadConfig({
      TENANT_ID: 'organizations',
      ALLOWED_TENANTS: '*',
      CLIENT_ID: '11111111-2222-3333-4444-555555555555',
      PUBLIC_BASE_URL: 'https://app.example.com',
      KEY_VAULT_URL: 'https://vault.example.com',
      TABLES_ENDPOINT: 'https://account.table.core.windows.net',
    });
    const path = new URL(config.redirectUri).pathname;
    // The same interpolation as SERVICE_API_URI, followed by the app's callback path.
    expect(redirect?.text).toBe(`${origin!.text.slice(0, -1)}${path}'`);
  });

  it('outputs what the key ring hook and the docs read', async () => {
    const main = await infraFile('infra/main.bicep');
    const names = [...outputs(main).keys()];
    expect(names).toEqual(
      expect.arrayContaining([
        'AZURE_FUNCTION_APP_NAME',
        'SERVICE_API_NAME',
        'SERVICE_API_URI',
        'REDIRECT_URI',
        'AZURE_KEY_VAULT_NAME',
        'AZURE_KEY_VAULT_URL',
        'KEY_RING_SECRET_NAME',
        'MANAGED_IDENTITY_CLIENT_ID',
        'MANAGED_IDENTITY_PRINCIPAL_ID',
      ]),
    );
    // azd exports outputs into hooks' environment, where these would hijack the deployer's own
    // Azure SDK credentials.
    expect(names.filter((n) => ['AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_FEDERATED_TOKEN_FILE'].includes(n))).toEqual([]);
    const hook = readFileSync(join(REPO_ROOT, 'infra', 'hooks', 'ensure-key-ring.js'), 'utf8');
    expect(hook).toContain('process.env.AZURE_KEY_VAULT_URL');
    expect(hook).toContain('process.env.KEY_RING_SECRET_NAME');
  });

  it('main.parameters.json passes only parameters main.bicep declares, and every required one', async () => {
    const main = await infraFile('infra/main.bicep');
    const declared = params(main);
    const passed = Object.keys(mainParameters());
    expect(passed.filter((name) => !declared.has(name))).toEqual([]);
    const required = [...declared.values()].filter((p) => p.defaultValue === undefined).map((p) => p.name);
    expect(required.filter((name) => !passed.includes(name))).toEqual([]);
    // No secret travels through azd's .env file.
    const secure = [...declared.values()].filter((p) => p.secure).map((p) => p.name);
    expect(passed.filter((name) => secure.includes(name))).toEqual([]);
  });
});
