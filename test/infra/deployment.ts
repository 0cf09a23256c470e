/**
 * What the infra tests know about this deployment's shape: where the app settings are written, and
 * which settings belong to the platform rather than to src/config.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Node } from 'web-tree-sitter';
import { get, literal, named, properties, REPO_ROOT, resourcesOfType, where, type BicepFile } from './bicep';

/** infra/main.parameters.json's parameters: the azd environment values each main.bicep parameter gets. */
export function mainParameters(): Record<string, { value: string }> {
  return (JSON.parse(readFileSync(join(REPO_ROOT, 'infra', 'main.parameters.json'), 'utf8')) as { parameters: Record<string, { value: string }> }).parameters;
}

/**
 * Settings the Functions host and its extensions read, not the app: identity-based host storage,
 * Application Insights with Entra authentication, and the host's landing page turned off. Anything
 * else in the app settings must be in SETTINGS (src/config.ts).
 */
export const HOST_SETTINGS: readonly RegExp[] = [
  /^AzureWebJobsStorage__(accountName|credential|clientId)$/,
  /^APPLICATIONINSIGHTS_(CONNECTION_STRING|AUTHENTICATION_STRING)$/,
  /^AzureWebJobsDisableHomepage$/,
];

/**
 * Settings Flex Consumption took over (functionAppConfig) and refuses, and the host-storage
 * settings that would carry an account key.
 */
export const FORBIDDEN_SETTINGS: readonly string[] = [
  'FUNCTIONS_WORKER_RUNTIME',
  'FUNCTIONS_EXTENSION_VERSION',
  'WEBSITE_NODE_DEFAULT_VERSION',
  'WEBSITE_RUN_FROM_PACKAGE',
  'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
  'WEBSITE_CONTENTSHARE',
  'SCM_DO_BUILD_DURING_DEPLOYMENT',
  'ENABLE_ORYX_BUILD',
  'AzureWebJobsStorage',
  'APPINSIGHTS_INSTRUMENTATIONKEY',
];

export interface AppSetting {
  readonly name: string;
  readonly value: Node;
  readonly file: BicepFile;
}

/**
 * Every app setting the templates write: `Microsoft.Web/sites/config` named 'appsettings' (an object
 * literal), and `siteConfig.appSettings` of a site (an array of { name, value }). Anything the tests
 * cannot read statically is an error, so no setting can slip past the contract test.
 */
export function appSettings(files: Iterable<BicepFile>): AppSetting[] {
  const found: AppSetting[] = [];
  for (const file of files) {
    for (const config of resourcesOfType(file, 'Microsoft.Web/sites/config')) {
      const name = literal(get(config.body, 'name'));
      if (name !== 'appsettings') continue;
      const values = get(config.body, 'properties');
      if (values?.type !== 'object') throw new Error(`${where(file, config.node)}: app settings must be an object literal, for the contract test to read them`);
      for (const { key, value } of properties(values)) found.push({ name: key, value, file });
    }
    for (const site of resourcesOfType(file, 'Microsoft.Web/sites')) {
      const list = get(site.body, 'properties.siteConfig.appSettings');
      if (list === undefined) continue;
      if (list.type !== 'array') throw new Error(`${where(file, site.node)}: siteConfig.appSettings must be an array literal`);
      for (const item of named(list)) {
        const name = literal(get(item, 'name'));
        const value = get(item, 'value');
        if (typeof name !== 'string' || value === undefined) throw new Error(`${where(file, item)}: each app setting needs a literal name and a value`);
        found.push({ name, value, file });
      }
    }
  }
  return found;
}

export function isHostSetting(name: string): boolean {
  return HOST_SETTINGS.some((pattern) => pattern.test(name));
}
