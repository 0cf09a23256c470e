// Log Analytics workspace and a workspace-based Application Insights component. Local
// (instrumentation key) authentication is disabled: telemetry is accepted only with an Entra token,
// which the Functions host gets for the managed identity through
// APPLICATIONINSIGHTS_AUTHENTICATION_STRING (the identity holds Monitoring Metrics Publisher on the
// component, see rbac.bicep).

param logAnalyticsName string

param applicationInsightsName string

param location string

param tags object = {}

@minValue(30)
@maxValue(730)
param retentionInDays int = 30

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      disableLocalAuth: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
    DisableLocalAuth: true
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

output applicationInsightsName string = appInsights.name
output applicationInsightsId string = appInsights.id
output logAnalyticsWorkspaceId string = workspace.id
