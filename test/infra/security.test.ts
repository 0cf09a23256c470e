/**
 * Security and platform properties of the templates, checked on the syntax tree: TLS and HTTPS,
 * no shared keys or local auth, vault protections, least-privilege role assignments, Flex
 * Consumption on Node.js 22, and no secret in an app setting or an output.
 */
import { posix } from 'node:path';
import type { Node } from 'web-tree-sitter';
import {
  callOf,
  calls,
  get,
  infraFile,
  infraFiles,
  literal,
  modules,
  named,
  outputs,
  params,
  properties,
  referencedIdentifiers,
  resources,
  resourcesOfType,
  stringValue,
  vars,
  where,
  type BicepFile,
  type Resource,
} from './bicep';
import { appSettings } from './deployment';

async function only(type: string): Promise<{ file: BicepFile; resource: Resource }> {
  const found = [...(await infraFiles()).values()].flatMap((file) => resourcesOfType(file, type).filter((r) => !r.existing).map((resource) => ({ file, resource })));
  expect(found.map((f) => `${f.file.path}:${f.resource.symbol}`)).toHaveLength(1);
  return found[0]!;
}

function value(resource: Resource, path: string): ReturnType<typeof literal> {
  return literal(get(resource.body, path));
}

describe('function app', () => {
  it('runs on a Linux Flex Consumption plan (FC1)', async () => {
    const { resource: plan } = await only('Microsoft.Web/serverfarms');
    expect(value(plan, 'sku.name')).toBe('FC1');
    expect(value(plan, 'sku.tier')).toBe('FlexConsumption');
    expect(value(plan, 'properties.reserved')).toBe(true);
    const { resource: site } = await only('Microsoft.Web/sites');
    expect(value(site, 'kind')).toBe('functionapp,linux');
    expect(get(site.body, 'properties.serverFarmId')?.text).toBe(`${plan.symbol}.id`);
  });

  it('runs Node.js 22 and deploys from a blob container with the managed identity', async () => {
    const { resource: site } = await only('Microsoft.Web/sites');
    expect(value(site, 'properties.functionAppConfig.runtime.name')).toBe('node');
    expect(value(site, 'properties.functionAppConfig.runtime.version')).toBe('22');
    const storage = get(site.body, 'properties.functionAppConfig.deployment.storage');
    expect(literal(get(storage, 'type'))).toBe('blobContainer');
    expect(literal(get(storage, 'authentication.type'))).toBe('UserAssignedIdentity');
    expect(get(storage, 'authentication.userAssignedIdentityResourceId')).toBeDefined();
    expect(value(site, 'identity.type')).toBe('UserAssigned');
  });

  it('serves HTTPS only, TLS 1.2+', async () => {
    const { resource: site } = await only('Microsoft.Web/sites');
    expect(value(site, 'properties.httpsOnly')).toBe(true);
    expect(value(site, 'properties.siteConfig.minTlsVersion')).toBe('1.2');
    expect(value(site, 'properties.siteConfig.scmMinTlsVersion')).toBe('1.2');
  });

  it('turns off basic-auth publishing for both FTP and SCM', async () => {
    const files = [...(await infraFiles()).values()];
    const policies = files.flatMap((file) => resourcesOfType(file, 'Microsoft.Web/sites/basicPublishingCredentialsPolicies'));
    expect(policies.map((p) => literal(get(p.body, 'name'))).sort()).toEqual(['ftp', 'scm']);
    for (const policy of policies) {
      expect(value(policy, 'properties.allow')).toBe(false);
      expect(policy.condition).toBeUndefined();
    }
  });

  it('is tagged for azd, and nothing else is', async () => {
    const files = [...(await infraFiles()).values()];
    const tagged = files.flatMap((file) =>
      resources(file).filter((r) => (get(r.body, 'tags')?.text ?? '').includes("'azd-service-name'")).map((r) => r.type),
    );
    expect(tagged).toEqual(['Microsoft.Web/sites']);
  });
});

describe('storage account', () => {
  it('accepts Entra ID only, over HTTPS with TLS 1.2, with no public blobs', async () => {
    const { resource: storage } = await only('Microsoft.Storage/storageAccounts');
    expect(value(storage, 'properties.allowSharedKeyAccess')).toBe(false);
    expect(value(storage, 'properties.allowBlobPublicAccess')).toBe(false);
    expect(value(storage, 'properties.minimumTlsVersion')).toBe('TLS1_2');
    expect(value(storage, 'properties.supportsHttpsTrafficOnly')).toBe(true);
    const { resource: container } = await only('Microsoft.Storage/storageAccounts/blobServices/containers');
    expect(value(container, 'properties.publicAccess')).toBe('None');
    await only('Microsoft.Storage/storageAccounts/tableServices/tables');
  });
});

describe('key vault', () => {
  it('uses RBAC, soft delete and purge protection', async () => {
    const { file, resource: vault } = await only('Microsoft.KeyVault/vaults');
    expect(value(vault, 'properties.enableRbacAuthorization')).toBe(true);
    expect(value(vault, 'properties.enableSoftDelete')).toBe(true);
    expect(value(vault, 'properties.enablePurgeProtection')).toBe(true);
    expect(get(vault.body, 'properties.accessPolicies')).toBeUndefined();
    const retention = get(vault.body, 'properties.softDeleteRetentionInDays');
    expect(retention).toBeDefined();
    const days = retention!.type === 'identifier' ? params(file).get(retention!.text)?.defaultValue : retention;
    expect(Number(literal(days))).toBeGreaterThanOrEqual(7);
  });

  it('writes a secret only from a non-empty secure parameter, and never the key ring', async () => {
    const files = [...(await infraFiles()).values()];
    for (const file of files) {
      for (const secret of resourcesOfType(file, 'Microsoft.KeyVault/vaults/secrets')) {
        const source = get(secret.body, 'properties.value');
        const param = source?.type === 'identifier' ? params(file).get(source.text) : undefined;
        expect({ at: where(file, secret.node), secure: param?.secure }).toEqual({ at: where(file, secret.node), secure: true });
        // `if (!empty(<that param>))`: deploying again without it leaves the vault's version alone.
        expect(secret.condition?.text.replace(/\s/g, '')).toBe(`(!empty(${param!.name}))`);
        expect(get(secret.body, 'name')?.text).not.toMatch(/key-?ring/i);
      }
    }
  });
});

describe('monitoring', () => {
  it('Application Insights accepts Entra-authenticated telemetry only', async () => {
    const { resource: appInsights } = await only('Microsoft.Insights/components');
    expect(value(appInsights, 'properties.DisableLocalAuth')).toBe(true);
    expect(get(appInsights.body, 'properties.WorkspaceResourceId')).toBeDefined();
  });
});

/** Built-in role ids, by name. */
const ROLE = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6',
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
  keyVaultCertificatesOfficer: 'a4417e6f-fecd-4de8-b567-7b0420556985',
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb',
} as const;

/** The role GUID of a roleDefinitionId expression: subscriptionResourceId(..., '<guid>'), possibly through a var. */
function roleGuid(file: BicepFile, expression: Node | undefined): string | undefined {
  let node = expression;
  if (node?.type === 'member_expression') {
    const object = node.childForFieldName('object');
    const property = node.childForFieldName('property');
    const variable = object?.type === 'identifier' ? vars(file).get(object.text) : undefined;
    node = property ? get(variable, property.text) : undefined;
  }
  const args = callOf(node, 'subscriptionResourceId');
  return args?.length === 2 && stringValue(args[0]) === 'Microsoft.Authorization/roleDefinitions' ? stringValue(args[1]) : undefined;
}

describe('role assignments', () => {
  async function assignments(): Promise<{ file: BicepFile; resource: Resource }[]> {
    return [...(await infraFiles()).values()].flatMap((file) =>
      resourcesOfType(file, 'Microsoft.Authorization/roleAssignments').map((resource) => ({ file, resource })),
    );
  }

  it('all live in infra/modules/rbac.bicep', async () => {
    const found = await assignments();
    expect(found.length).toBeGreaterThan(0);
    expect([...new Set(found.map((a) => a.file.path))]).toEqual(['infra/modules/rbac.bicep']);
  });

  it('are each scoped to one resource and named guid(scope.id, principalId, roleDefinitionId)', async () => {
    for (const { file, resource } of await assignments()) {
      const at = `${where(file, resource.node)} (${resource.symbol})`;
      const scope = get(resource.body, 'scope');
      // A resource symbol: not subscription(), resourceGroup(), tenant() or an id string.
      expect({ at, scope: scope?.type }).toEqual({ at, scope: 'identifier' });
      const target = resources(file).find((r) => r.symbol === scope!.text);
      expect({ at, target: target?.type }).toEqual({ at, target: expect.stringMatching(/^Microsoft\.(Storage|KeyVault|Insights)\//) });
      const nameArgs = callOf(get(resource.body, 'name'), 'guid');
      expect({ at, args: nameArgs?.map((a) => a.text) }).toEqual({
        at,
        args: [`${scope!.text}.id`, get(resource.body, 'properties.principalId')!.text, get(resource.body, 'properties.roleDefinitionId')!.text],
      });
      expect({ at, principalType: get(resource.body, 'properties.principalType') !== undefined }).toEqual({ at, principalType: true });
    }
  });

  it('give the app identity exactly the data roles it needs, on the resources it uses', async () => {
    const granted = (await assignments())
      .filter(({ resource }) => get(resource.body, 'properties.principalId')?.text === 'appPrincipalId')
      .map(({ file, resource }) => {
        const target = resources(file).find((r) => r.symbol === get(resource.body, 'scope')?.text);
        expect(literal(get(resource.body, 'properties.principalType'))).toBe('ServicePrincipal');
        expect(resource.condition).toBeUndefined();
        return `${target?.type} ${roleGuid(file, get(resource.body, 'properties.roleDefinitionId'))}`;
      });
    expect(granted.sort()).toEqual(
      [
        `Microsoft.Storage/storageAccounts ${ROLE.storageBlobDataOwner}`,
        `Microsoft.Storage/storageAccounts ${ROLE.storageTableDataContributor}`,
        `Microsoft.KeyVault/vaults ${ROLE.keyVaultSecretsUser}`,
        `Microsoft.Insights/components ${ROLE.monitoringMetricsPublisher}`,
      ].sort(),
    );
  });

  it('give the deployer only secret (and certificate) management on the vault, when a principal is given', async () => {
    const granted = (await assignments())
      .filter(({ resource }) => get(resource.body, 'properties.principalId')?.text === 'deployerPrincipalId')
      .map(({ file, resource }) => {
        expect(resource.condition?.text).toContain('!empty(deployerPrincipalId)');
        const target = resources(file).find((r) => r.symbol === get(resource.body, 'scope')?.text);
        return `${target?.type} ${roleGuid(file, get(resource.body, 'properties.roleDefinitionId'))}`;
      });
    expect(granted.sort()).toEqual(
      [`Microsoft.KeyVault/vaults ${ROLE.keyVaultSecretsOfficer}`, `Microsoft.KeyVault/vaults ${ROLE.keyVaultCertificatesOfficer}`].sort(),
    );
  });
});

describe('secrets', () => {
  it('no app setting carries a secret: no secure parameter, no list*() keys, no key in a connection string', async () => {
    const files = await infraFiles();
    const problems: string[] = [];
    for (const { name, value, file } of appSettings(files.values())) {
      const secure = [...params(file).values()].filter((p) => p.secure).map((p) => p.name);
      const refs = referencedIdentifiers(value);
      if (refs.some((id) => secure.includes(id))) problems.push(`${name} uses a secure parameter`);
      if (calls(value).some((c) => /^list/i.test(c.name))) problems.push(`${name} calls ${calls(value).map((c) => c.name).join(', ')}`);
      // Connection-string parts that carry a credential, in any literal text of the value.
      const literalText = value.descendantsOfType('string_content').map((n) => n.text).join(' ');
      if (/AccountKey=|SharedAccessSignature=|[?&]sig=|InstrumentationKey=|Password=/i.test(literalText)) problems.push(`${name} looks like a credential: ${value.text}`);
    }
    expect(problems).toEqual([]);
  });

  it('no list*() call and no secure parameter reaches an output', async () => {
    const problems: string[] = [];
    for (const file of (await infraFiles()).values()) {
      const secure = [...params(file).values()].filter((p) => p.secure).map((p) => p.name);
      for (const [name, { value }] of outputs(file)) {
        if (referencedIdentifiers(value).some((id) => secure.includes(id))) problems.push(`${file.path} output ${name} uses a secure parameter`);
        if (calls(value).some((c) => /^list/i.test(c.name))) problems.push(`${file.path} output ${name} calls list*()`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('secure parameters stay secure across module boundaries and have no default but empty', async () => {
    const files = await infraFiles();
    const problems: string[] = [];
    for (const file of files.values()) {
      const secure = [...params(file).values()].filter((p) => p.secure);
      for (const p of secure) {
        if (p.defaultValue !== undefined && literal(p.defaultValue) !== '') problems.push(`${file.path}: ${p.name} has a non-empty default`);
      }
      for (const call of modules(file)) {
        const callee = files.get(posix.join(posix.dirname(file.path), call.path));
        for (const [arg, expression] of call.args) {
          if (!referencedIdentifiers(expression).some((id) => secure.some((p) => p.name === id))) continue;
          if (callee === undefined || params(callee).get(arg)?.secure !== true) problems.push(`${file.path}: ${call.symbol}.${arg} receives a secure value into a non-secure parameter`);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});

describe('app registration (Microsoft Graph extension)', () => {
  const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
  const DELEGATED = {
    openid: '37f7f235-527c-4136-accd-4a02d197296e',
    profile: '14dad69e-099b-42c9-810b-d002981feec1',
    offline_access: '7427e0e9-2fba-42fe-b0c0-848c9e6a8182',
    'Mail.Read': '570282fd-fa5c-430d-a7fd-fc8dc98a9dca',
  };

  it('requests the delegated Graph permissions the app uses, with their well-known ids', async () => {
    const file = await infraFile('infra/app-registration.bicep');
    const [app] = resourcesOfType(file, 'Microsoft.Graph/applications');
    expect(app?.apiVersion).toBe('v1.0');
    const access = named(get(app!.body, 'requiredResourceAccess')!);
    expect(access).toHaveLength(1);
    const graphAppId = get(access[0], 'resourceAppId')!;
    expect(literal(vars(file).get(graphAppId.text) ?? graphAppId)).toBe(GRAPH_APP_ID);
    // resourceAccess: [for permission in items(<var>): { id: permission.value, type: 'Scope' }]
    const loop = get(access[0], 'resourceAccess')!;
    expect(loop.type).toBe('for_statement');
    const body = loop.childForFieldName('body')!;
    expect(literal(get(body, 'type'))).toBe('Scope');
    const source = callOf(named(loop).find((n) => n.type === 'call_expression'), 'items')?.[0];
    const permissions = Object.fromEntries(properties(vars(file).get(source!.text)).map((p) => [p.key, literal(p.value)]));
    expect(permissions).toEqual(DELEGATED);
  });

  it('registers redirect URIs on a Web (confidential client) platform only, with no implicit grant', async () => {
    // Which URIs: test/infra/entra-app.test.ts (the list in infra/entra-app.json).
    const file = await infraFile('infra/app-registration.bicep');
    const [app] = resourcesOfType(file, 'Microsoft.Graph/applications');
    expect(get(app!.body, 'web.redirectUris')?.type).toBe('for_statement');
    expect(literal(get(app!.body, 'web.implicitGrantSettings.enableAccessTokenIssuance'))).toBe(false);
    expect(literal(get(app!.body, 'web.implicitGrantSettings.enableIdTokenIssuance'))).toBe(false);
    expect(get(app!.body, 'spa')).toBeUndefined();
    expect(resourcesOfType(file, 'Microsoft.Graph/servicePrincipals').filter((r) => !r.existing)).toHaveLength(1);
  });

  it('trusts the managed identity through a federated credential (secretless mode)', async () => {
    const file = await infraFile('infra/app-registration.bicep');
    const [credential] = resourcesOfType(file, 'Microsoft.Graph/applications/federatedIdentityCredentials');
    expect(credential).toBeDefined();
    expect(get(credential!.body, 'issuer')?.text).toBe("'${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'");
    expect(get(credential!.body, 'subject')?.text).toBe('managedIdentityPrincipalId');
    const audiences = named(get(credential!.body, 'audiences')!);
    expect(audiences.map((a) => a.text)).toEqual(['federatedCredentialAudience']);
    expect(literal(params(file).get('federatedCredentialAudience')?.defaultValue)).toBe('api://AzureADTokenExchange');
    // No password or key credential: the registration has no secret to leak.
    const [app] = resourcesOfType(file, 'Microsoft.Graph/applications');
    expect(get(app!.body, 'passwordCredentials')).toBeUndefined();
    expect(get(app!.body, 'keyCredentials')).toBeUndefined();
  });
});
