/**
 * docs/deploy.md against the templates (issue 13, findings 10 and 12): the certificate is imported
 * only after the deployment that grants the role to import it, and the Azure CLI path has an
 * `az deployment group` equivalent for every `azd env get-value` / `azd env set` of the guide.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { get, infraFile, modules, outputs, REPO_ROOT, resourcesOfType } from './bicep';
import { mainParameters } from './deployment';

const guide = readFileSync(join(REPO_ROOT, 'docs', 'deploy.md'), 'utf8');

describe('the certificate credential in docs/deploy.md', () => {
  it('Certificates Officer is granted only by a deployment with clientCredential=certificate', async () => {
    const rbac = await infraFile('infra/modules/rbac.bicep');
    const [officer] = resourcesOfType(rbac, 'Microsoft.Authorization/roleAssignments').filter((r) => get(r.body, 'properties.roleDefinitionId')?.text === 'roles.keyVaultCertificatesOfficer');
    expect(officer?.condition?.text).toContain('deployerManagesCertificates');
    const main = await infraFile('infra/main.bicep');
    const call = modules(main).find((m) => m.path === 'modules/rbac.bicep');
    expect(call?.args.get('deployerManagesCertificates')?.text.replace(/\s+/g, '')).toBe("clientCredential=='certificate'");
  });

  it('so the import comes after that deployment', () => {
    const step = /- \*\*Certificate\*\*:[\s\S]*?(?=\n {3}- \*\*|\n\d+\. )/.exec(guide)?.[0] ?? '';
    const deploy = step.indexOf('clientCredential=certificate');
    const importing = step.indexOf('az keyvault certificate import');
    expect({ deploy: deploy >= 0, importing: importing >= 0, deployFirst: deploy < importing }).toEqual({ deploy: true, importing: true, deployFirst: true });
  });
});

describe('the Azure CLI path in docs/deploy.md', () => {
  it('gives az deployment group show for every output the guide reads with azd env get-value', async () => {
    const known = new Set([...outputs(await infraFile('infra/main.bicep')).keys(), ...outputs(await infraFile('infra/app-registration.bicep')).keys()]);
    const read = [...new Set([...guide.matchAll(/azd env get-value ([A-Z_]+)/g)].map((m) => m[1]!))].sort();
    expect(read.length).toBeGreaterThan(0);
    const problems = read.flatMap((name) => [
      ...(known.has(name) ? [] : [`${name} is no output of the templates`]),
      ...(guide.includes(`--query properties.outputs.${name}.value`) ? [] : [`no az deployment group show ... --query properties.outputs.${name}.value for ${name}`]),
    ]);
    expect(problems).toEqual([]);
  });

  it('gives the main.bicep parameter for every azd env set (azd maps them through infra/main.parameters.json)', () => {
    const mapping = mainParameters();
    const paramOf = new Map(Object.entries(mapping).map(([param, { value }]) => [/^\$\{([A-Z_]+)/.exec(value)?.[1], param]));
    const set = [...new Set([...guide.matchAll(/azd env set ([A-Z_]+)/g)].map((m) => m[1]!))].sort();
    expect(set).toEqual(expect.arrayContaining(['ENTRA_CLIENT_CREDENTIAL', 'ENTRA_CLIENT_ID']));
    const problems = set.flatMap((name) => {
      const param = paramOf.get(name);
      if (param === undefined) return [`${name} maps to no parameter in infra/main.parameters.json`];
      return new RegExp(`(?:-p |\\s)${param}=`).test(guide) ? [] : [`no ${param}= for azd env set ${name}`];
    });
    expect(problems).toEqual([]);
  });

  it('uses no azd command in its own commands', () => {
    const section = /## Deploy with the Azure CLI and Core Tools\n([\s\S]*?)\n## /.exec(guide)?.[1] ?? '';
    const blocks = [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThan(0);
    expect(blocks.flatMap((block) => block.split('\n').filter((line) => /\bazd\b/.test(line)))).toEqual([]);
  });
});
