/**
 * The registration and the app settings follow TENANT_ID's modes (issue 18): signInAudience is
 * computed from the tenant the app signs in with, personal accounts get a registration Entra
 * accepts (v2 access tokens), and ALLOWED_TENANTS is a parameter that reaches the app settings.
 */
import { tenantMode, type TenantMode } from '../../src/auth/issuer';
import { appSettings } from './deployment';
import { get, infraFile, infraFiles, literal, modules, params, properties, resourcesOfType, stringValue, vars } from './bicep';

/** Entra's signInAudience for each TENANT_ID mode (Microsoft Graph application resource). */
const AUDIENCE: Readonly<Record<TenantMode, string>> = {
  single: 'AzureADMyOrg',
  organizations: 'AzureADMultipleOrgs',
  common: 'AzureADandPersonalMicrosoftAccount',
  consumers: 'PersonalMicrosoftAccount',
};

describe('infra/app-registration.bicep follows TENANT_ID', () => {
  it('maps every multi-tenant mode to its signInAudience, and a single tenant to AzureADMyOrg', async () => {
    const file = await infraFile('infra/app-registration.bicep');
    const table = properties(vars(file).get('signInAudiences')).map((p) => [p.key, stringValue(p.value)] as const);
    expect(Object.fromEntries(table)).toEqual({ organizations: AUDIENCE.organizations, common: AUDIENCE.common, consumers: AUDIENCE.consumers });
    for (const [mode] of table) expect(tenantMode(mode)).toBe(mode);
    // contains(signInAudiences, toLower(tenantId)) ? signInAudiences[toLower(tenantId)] : 'AzureADMyOrg'
    expect(vars(file).get('signInAudience')?.text.replace(/\s+/g, '')).toBe(
      `contains(signInAudiences,toLower(tenantId))?signInAudiences[toLower(tenantId)]:'${AUDIENCE.single}'`,
    );
    expect(params(file).get('tenantId')?.type).toBe('string');
    expect(params(file).get('signInAudience')).toBeUndefined();
    const [app] = resourcesOfType(file, 'Microsoft.Graph/applications');
    expect(get(app!.body, 'signInAudience')?.text).toBe('signInAudience');
  });

  it('asks for v2 access tokens, which a registration for personal accounts needs', async () => {
    const file = await infraFile('infra/app-registration.bicep');
    const [app] = resourcesOfType(file, 'Microsoft.Graph/applications');
    expect(literal(get(app!.body, 'api.requestedAccessTokenVersion'))).toBe(2);
  });
});

describe('ALLOWED_TENANTS in main.bicep', () => {
  it('is a parameter, empty by default (a single tenant), passed to the app settings', async () => {
    const main = await infraFile('infra/main.bicep');
    const param = params(main).get('allowedTenants');
    expect({ type: param?.type, default: literal(param?.defaultValue) }).toEqual({ type: 'string', default: '' });
    const app = modules(main).find((m) => m.path === 'modules/function-app.bicep');
    expect(app?.args.get('allowedTenants')?.text).toBe('allowedTenants');
    const setting = appSettings((await infraFiles()).values()).find((s) => s.name === 'ALLOWED_TENANTS');
    expect(setting?.value.text).toBe('allowedTenants');
  });
});
