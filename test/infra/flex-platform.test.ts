/**
 * What Azure Resource Manager and Flex Consumption accept, found by reading the platform's rules
 * rather than by deploying (issue 13): each rule here failed before the templates were fixed.
 */
import { decoratorArgs, get, infraFile, infraFiles, literal, params, resolveLiteral, resourcesOfType, where } from './bicep';
import { appSettings } from './deployment';

/** Flex Consumption's lowest allowed maximum instance count (Microsoft.Web/sites functionAppConfig). */
const FLEX_MIN_MAXIMUM_INSTANCE_COUNT = 40;

describe('Flex Consumption function app (infra/modules/function-app.bicep)', () => {
  it('gives both basicPublishingCredentialsPolicies the site\'s location (ARM: "The parameter location has an invalid value")', async () => {
    const file = await infraFile('infra/modules/function-app.bicep');
    const policies = resourcesOfType(file, 'Microsoft.Web/sites/basicPublishingCredentialsPolicies');
    expect(policies.map((p) => literal(get(p.body, 'name'))).sort()).toEqual(['ftp', 'scm']);
    const [site] = resourcesOfType(file, 'Microsoft.Web/sites');
    const siteLocation = get(site!.body, 'location')?.text;
    expect(siteLocation).toBe('location');
    for (const policy of policies) {
      expect({ at: where(file, policy.node), location: get(policy.body, 'location')?.text }).toEqual({ at: where(file, policy.node), location: siteLocation });
    }
  });

  it('sets no siteConfig.ftpsState, which Flex Consumption does not support (FTP is off through the ftp policy)', async () => {
    for (const file of (await infraFiles()).values()) {
      for (const site of resourcesOfType(file, 'Microsoft.Web/sites')) {
        expect({ at: where(file, site.node), ftpsState: get(site.body, 'properties.siteConfig.ftpsState')?.text }).toEqual({ at: where(file, site.node), ftpsState: undefined });
      }
    }
  });

  it.each(['infra/main.bicep', 'infra/modules/function-app.bicep'])('%s: maximumInstanceCount is at least 40, Flex Consumption\'s lowest maximum', async (path) => {
    const file = await infraFile(path);
    const param = params(file).get('maximumInstanceCount');
    expect(param).toBeDefined();
    const min = decoratorArgs(param!.node, 'minValue');
    expect(min?.map((n) => literal(n))).toEqual([FLEX_MIN_MAXIMUM_INSTANCE_COUNT]);
    const max = decoratorArgs(param!.node, 'maxValue');
    expect(Number(literal(max?.[0]))).toBeGreaterThanOrEqual(FLEX_MIN_MAXIMUM_INSTANCE_COUNT);
    const fallback = param!.defaultValue === undefined ? undefined : resolveLiteral(file, param!.defaultValue);
    expect(Number(fallback)).toBeGreaterThanOrEqual(FLEX_MIN_MAXIMUM_INSTANCE_COUNT);
  });

  it('turns off the Functions landing page (AzureWebJobsDisableHomepage), as local.settings.sample.json does', async () => {
    const settings = appSettings((await infraFiles()).values());
    const homepage = settings.filter((s) => s.name === 'AzureWebJobsDisableHomepage');
    expect(homepage.map((s) => resolveLiteral(s.file, s.value))).toEqual(['true']);
  });
});
