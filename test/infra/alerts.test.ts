/**
 * infra/modules/alerts.bicep, read structurally (tree-sitter): an action group e-mailing the address
 * main.bicep passes, one log alert per runbook entry of docs/operations.md wired to it, queries over
 * the metric names the code records, and a workbook charting every metric.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { METRIC } from '../../src/telemetry/instruments';
import { get, infraFile, literal, modules, named, params, properties, REPO_ROOT, resourcesOfType, stringValue, vars } from './bicep';
import { mainParameters } from './deployment';

const ALERTS = 'infra/modules/alerts.bicep';

/** The alert rules (the `alertRules` variable), key -> properties as text. */
async function alertRules(): Promise<Map<string, Map<string, string>>> {
  const file = await infraFile(ALERTS);
  const rules = vars(file).get('alertRules');
  expect(rules?.type).toBe('array');
  const found = new Map<string, Map<string, string>>();
  for (const item of named(rules!)) {
    if (item.type !== 'object') continue;
    const props = new Map(properties(item).map((p) => [p.key, p.value.text] as const));
    found.set(stringValue(get(item, 'key'))!, props);
  }
  return found;
}

describe('alerts.bicep', () => {
  it('is wired from main.bicep with the e-mail parameter, which main.parameters.json takes from ALERT_EMAIL_ADDRESS', async () => {
    const main = await infraFile('infra/main.bicep');
    const call = modules(main).find((m) => m.path === 'modules/alerts.bicep');
    expect(call).toBeDefined();
    expect(call!.args.get('alertEmailAddress')?.text).toBe('alertEmailAddress');
    expect(call!.args.get('applicationInsightsName')?.text).toBe('monitoring.outputs.applicationInsightsName');
    expect(literal(params(main).get('alertEmailAddress')?.defaultValue)).toBe('');
    expect(mainParameters()['alertEmailAddress']).toEqual({ value: '${ALERT_EMAIL_ADDRESS}' });
  });

  it('has an action group that e-mails the address, made only when one is given', async () => {
    const file = await infraFile(ALERTS);
    const [group, ...more] = resourcesOfType(file, 'Microsoft.Insights/actionGroups');
    expect(more).toEqual([]);
    expect(group!.condition?.text).toBe('(!empty(alertEmailAddress))');
    const receivers = get(group!.body, 'properties.emailReceivers');
    const receiver = named(receivers!).find((n) => n.type === 'object');
    expect(get(receiver, 'emailAddress')?.text).toBe('alertEmailAddress');
    expect(literal(get(receiver, 'useCommonAlertSchema'))).toBe(true);
  });

  it('has the five alerts of the runbook, each a log alert on the component that notifies the action group', async () => {
    const rules = await alertRules();
    expect([...rules.keys()]).toEqual(['refresh-failures', 'forced-sign-ins', 'server-errors', 'key-vault-failures', 'readiness']);
    const runbook = readFileSync(join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
    for (const [key, rule] of rules) {
      // Each rule's description points at its runbook section, and that section exists.
      const anchor = /docs\/operations\.md#([a-z0-9-]+)/.exec(rule.get('description') ?? '')?.[1];
      expect({ key, anchor }).toEqual({ key, anchor: expect.any(String) });
      const headings = [...runbook.matchAll(/^### (.+)$/gm)].map((m) => m[1]!.toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-'));
      expect(headings).toContain(anchor);
    }
    const file = await infraFile(ALERTS);
    const [alerts] = resourcesOfType(file, 'Microsoft.Insights/scheduledQueryRules');
    expect(alerts!.loop).toBe(true);
    expect(get(alerts!.body, 'properties.scopes')?.text.replace(/\s+/g, ' ')).toBe('[ appInsights.id ]');
    expect(get(alerts!.body, 'properties.actions.actionGroups')?.text.replace(/\s+/g, ' ')).toBe('empty(alertEmailAddress) ? [] : [ actionGroup.id ]');
    expect(get(alerts!.body, 'properties.criteria.allOf')?.text).toContain('query: rule.query');
  });

  it('queries the metric names the code records', async () => {
    const rules = await alertRules();
    const query = (key: string): string => rules.get(key)!.get('query')!;
    expect(query('refresh-failures')).toContain(`'${METRIC.refreshRedemptions}'`);
    expect(query('forced-sign-ins')).toContain(`'${METRIC.forcedSignIns}'`);
    expect(query('key-vault-failures')).toContain(`'${METRIC.keyVaultReads}'`);
    expect(query('readiness')).toContain(`'${METRIC.readinessChecks}'`);
    expect(query('server-errors')).toMatch(/^'requests \|.*resultCode\) >= 500/);
  });

  it('has a workbook over the component with a chart for every metric', async () => {
    const file = await infraFile(ALERTS);
    const [workbook] = resourcesOfType(file, 'Microsoft.Insights/workbooks');
    expect(literal(get(workbook!.body, 'kind'))).toBe('shared');
    expect(get(workbook!.body, 'properties.sourceId')?.text).toBe('appInsights.id');
    expect(get(workbook!.body, 'properties.serializedData')?.text).toBe('string(workbookContent)');
    const charts = vars(file).get('workbookCharts')!.text;
    for (const name of Object.values(METRIC)) expect({ name, charted: charts.includes(`'${name}'`) }).toEqual({ name, charted: true });
  });
});
