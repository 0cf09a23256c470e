// Alerts and a workbook over the app's OpenTelemetry metrics and requests in Application Insights
// (names and units: docs/operations.md, which also holds the runbook for each alert). The app
// exports its metrics to the component's customMetrics table (each export carries the sum over the
// interval in valueSum, the attributes in customDimensions) and one request per HTTP call.
//
// Each alert is a log search alert evaluated every 5 minutes over the last 15 (readiness: 10), and
// notifies the action group, which e-mails alertEmailAddress. With no address the alerts still fire
// (visible in the portal's Alerts view) but notify nobody.

param applicationInsightsName string

param location string

param tags object = {}

@description('Names the action group, the alert rules and the workbook.')
param namePrefix string

@description('Where alerts are e-mailed; empty: no action group, the alerts only show in the portal.')
param alertEmailAddress string = ''

@description('Refresh failure ratio that fires the alert (failed / all refresh-token redemptions).')
param refreshFailureRatio string = '0.2'

@description('Forced sign-ins (login_required answered to a signed-in user) in 15 minutes that fire the alert.')
param forcedSignInThreshold int = 50

@description('Share of requests answered 5xx that fires the alert.')
param serverErrorRatio string = '0.05'

@description('Failed Key Vault reads in 15 minutes that fire the alert.')
param keyVaultFailureThreshold int = 3

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmailAddress)) {
  name: 'ag-${namePrefix}'
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: take('bff-${namePrefix}', 12)
    enabled: true
    emailReceivers: [
      {
        name: 'operators'
        emailAddress: alertEmailAddress
        useCommonAlertSchema: true
      }
    ]
  }
}

// A metric's sum over the window, by one of its attributes: the building block of the queries below.
var metricSum = 'customMetrics | where name == "{0}" | extend v = todouble(valueSum)'

var alertRules = [
  {
    key: 'refresh-failures'
    displayName: 'Refresh token redemptions failing'
    description: 'More than ${refreshFailureRatio} of refresh-token redemptions failed in 15 minutes (at least 20 redemptions). Runbook: docs/operations.md#refresh-failure-ratio'
    severity: 1
    window: 'PT15M'
    query: '${format(metricSum, 'bff.refresh.redemptions')} | summarize failed = sumif(v, tostring(customDimensions["outcome"]) == "failed"), total = sum(v) | where total >= 20 and failed / total > ${refreshFailureRatio}'
  }
  {
    key: 'forced-sign-ins'
    displayName: 'Forced sign-in spike'
    description: 'More than ${forcedSignInThreshold} signed-in users were sent to sign in again in 15 minutes. Runbook: docs/operations.md#forced-sign-in-spike'
    severity: 2
    window: 'PT15M'
    query: '${format(metricSum, 'bff.forced_sign_ins')} | summarize forced = sum(v) | where forced > ${forcedSignInThreshold}'
  }
  {
    key: 'server-errors'
    displayName: '5xx rate'
    description: 'More than ${serverErrorRatio} of requests answered 5xx in 15 minutes (at least 20 requests). Runbook: docs/operations.md#5xx-rate'
    severity: 1
    window: 'PT15M'
    query: 'requests | summarize total = sum(itemCount), errors = sumif(itemCount, toint(resultCode) >= 500) | where total >= 20 and todouble(errors) / total > ${serverErrorRatio}'
  }
  {
    key: 'key-vault-failures'
    displayName: 'Key Vault reads failing'
    description: 'At least ${keyVaultFailureThreshold} Key Vault reads failed in 15 minutes. Runbook: docs/operations.md#key-vault-failures'
    severity: 1
    window: 'PT15M'
    query: '${format(metricSum, 'bff.key_vault.reads')} | where tostring(customDimensions["outcome"]) == "failed" | summarize failed = sum(v) | where failed >= ${keyVaultFailureThreshold}'
  }
  {
    key: 'readiness'
    displayName: 'Readiness failing'
    description: 'A dependency (storage, Key Vault or the authority) failed its readiness check in the last 10 minutes. Runbook: docs/operations.md#readiness-failing'
    severity: 1
    window: 'PT10M'
    query: '${format(metricSum, 'bff.readiness.checks')} | where tostring(customDimensions["outcome"]) == "failed" | summarize failed = sum(v) by dependency = tostring(customDimensions["dependency"]) | where failed > 0'
  }
]

resource alerts 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = [
  for rule in alertRules: {
    name: 'alert-${namePrefix}-${rule.key}'
    location: location
    tags: tags
    properties: {
      displayName: rule.displayName
      description: rule.description
      severity: rule.severity
      enabled: true
      scopes: [
        appInsights.id
      ]
      evaluationFrequency: 'PT5M'
      windowSize: rule.window
      criteria: {
        allOf: [
          {
            query: rule.query
            timeAggregation: 'Count'
            operator: 'GreaterThan'
            threshold: 0
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      autoMitigate: true
      actions: {
        actionGroups: empty(alertEmailAddress) ? [] : [
          actionGroup.id
        ]
      }
    }
  }
]

// The workbook: one chart per metric of docs/operations.md, over the component's data.
var chart = 'customMetrics | where name == "{0}" | summarize value = sum(valueSum) by bin(timestamp, 5m), series = tostring(customDimensions["{1}"]) | render timechart'
var latency = 'customMetrics | where name == "{0}" | summarize mean_ms = 1000 * sum(valueSum) / sum(valueCount) by bin(timestamp, 5m), series = tostring(customDimensions["{1}"]) | render timechart'
var workbookCharts = [
  { title: 'Sign-ins by outcome and reason', query: format(chart, 'bff.sign_ins', 'reason') }
  { title: 'Silent token acquisitions by source (memory, storage, refreshed)', query: format(chart, 'bff.token.acquisitions', 'source') }
  { title: 'Refresh redemptions by OAuth error (empty: ok)', query: format(chart, 'bff.refresh.redemptions', 'oauth.error') }
  { title: 'Lease waits', query: format(chart, 'bff.lease.waits', 'none') }
  { title: 'Lease timeouts', query: format(chart, 'bff.lease.timeouts', 'none') }
  { title: 'Forced sign-ins by cause', query: format(chart, 'bff.forced_sign_ins', 'cause') }
  { title: 'Graph throttles', query: format(chart, 'bff.graph.throttles', 'none') }
  { title: 'Graph retries by reason', query: format(chart, 'bff.graph.retries', 'reason') }
  { title: 'Key Vault reads by outcome', query: format(chart, 'bff.key_vault.reads', 'outcome') }
  { title: 'Sweep runs by outcome', query: format(chart, 'bff.sweep.runs', 'outcome') }
  { title: 'Sweep: deleted by kind', query: format(chart, 'bff.sweep.deleted', 'kind') }
  { title: 'Readiness checks failed by dependency', query: format(chart, 'bff.readiness.checks', 'dependency') }
  { title: 'Request latency by route (mean ms)', query: format(latency, 'http.server.request.duration', 'http.route') }
  { title: 'Storage latency by operation (mean ms)', query: format(latency, 'bff.storage.duration', 'db.operation.name') }
  { title: 'Entra latency by operation (mean ms)', query: format(latency, 'bff.entra.duration', 'bff.entra.operation') }
  { title: 'Graph latency (mean ms)', query: format(latency, 'bff.graph.duration', 'outcome') }
  { title: 'Key Vault latency (mean ms)', query: format(latency, 'bff.key_vault.duration', 'outcome') }
]

var workbookContent = {
  version: 'Notebook/1.0'
  items: [
    for (c, i) in workbookCharts: {
      type: 3
      name: 'chart-${i}'
      content: {
        version: 'KqlItem/1.0'
        title: c.title
        query: c.query
        size: 1
        timeContext: {
          durationMs: 86400000
        }
        queryType: 0
        resourceType: 'microsoft.insights/components'
        visualization: 'timechart'
      }
    }
  ]
  isLocked: false
  fallbackResourceIds: [
    appInsights.id
  ]
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, appInsights.id, 'inbox-glance-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'Inbox Glance: sign-ins, tokens and dependencies'
    category: 'workbook'
    sourceId: appInsights.id
    serializedData: string(workbookContent)
  }
}

output actionGroupId string = empty(alertEmailAddress) ? '' : actionGroup.id
output alertRuleNames array = [for (rule, i) in alertRules: alerts[i].name]
output workbookId string = workbook.id
