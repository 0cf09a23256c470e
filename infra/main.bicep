// The BFF's Azure resources, in one resource group: a function app on Flex Consumption running as a
// user-assigned managed identity, its storage account (host state, deployment package, the app's
// tables), a Key Vault for its secrets, and Log Analytics with Application Insights.
//
// Deploy with `azd up` (azure.yaml, main.parameters.json) or
// `az deployment group create -g <rg> -f infra/main.bicep -p environmentName=<name>`; see
// docs/deploy.md. The Entra app registration is separate: app-registration.bicep, or the portal.

targetScope = 'resourceGroup'

// --- Where and what ---

@description('Name of the environment (azd: AZURE_ENV_NAME); part of every resource name.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Region. Flex Consumption runs in a subset of regions: az functionapp list-flexconsumption-locations.')
param location string = resourceGroup().location

@description('Object id of the person or pipeline deploying (azd: AZURE_PRINCIPAL_ID); gets Key Vault Secrets Officer on the vault. Empty: none.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

// --- Entra ID ---

@description('TENANT_ID: the tenant users sign in from (a GUID, a verified domain or organizations). Empty: this subscription\'s tenant.')
param entraTenantId string = ''

@description('ALLOWED_TENANTS: tenants whose users may sign in, comma-separated tenant ids, consumers (personal accounts) or * for any. Required when entraTenantId is organizations or common; empty for a single tenant.')
param allowedTenants string = ''

@description('CLIENT_ID: the app registration\'s application (client) id. Empty until the app is registered; the app then refuses to start and says so.')
param entraClientId string = ''

@description('CLIENT_CREDENTIAL: how the app proves its identity to Entra. managedIdentity needs no secret at all (a federated credential trusting the managed identity, see app-registration.bicep).')
@allowed([
  'secret'
  'certificate'
  'managedIdentity'
])
param clientCredential string = 'secret'

@description('Optional: the client secret, written to the vault when given. Pass it only to set or rotate it; never keep it in a parameters file.')
@secure()
param clientSecret string = ''

param clientSecretName string = 'client-secret'

param clientCertificateName string = 'client-certificate'

@description('Name of the vault secret holding the key ring. The secret is created by infra/hooks/ensure-key-ring.js, not by this template.')
param keyRingSecretName string = 'key-ring'

// --- Graph and sessions ---

@description('GRAPH_API_ENDPOINT. Not environment().graph: that is the retired Azure AD Graph.')
param graphApiEndpoint string = 'https://graph.microsoft.com/'

@description('GRAPH_SCOPES: delegated Graph scopes requested at sign-in, separated by spaces.')
param graphScopes string = 'Mail.Read'

@minValue(1)
param sessionIdleTimeoutHours int = 336

@minValue(1)
param sessionAbsoluteTimeoutHours int = 2160

@description('How long an instance remembers a session it read; each use still confirms its row with one small read, so a sign-out anywhere takes effect at once. 0 reads it in full on every request.')
@minValue(0)
param sessionMemoryTtlSeconds int = 30

@minValue(0)
param tokenCacheMemoryMb int = 32

@minValue(0)
param tokenCacheMemoryTtlSeconds int = 30

@description('Whether Strict-Transport-Security (one year, on every response) also covers every subdomain of the app\'s host.')
@allowed([
  'true'
  'false'
])
param hstsIncludeSubDomains string = 'true'

// --- Capacity and retention ---

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Flex Consumption scales out to at most this many instances; 40 is the lowest maximum it accepts.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Days a deleted vault stays recoverable (and its name reserved). Fixed once the vault exists.')
@minValue(7)
@maxValue(90)
param keyVaultSoftDeleteRetentionDays int = 90

@description('Optional vault name, such as to pick a new one while a deleted vault still holds the default name.')
param keyVaultName string = ''

@description('E-mail address the alerts (infra/modules/alerts.bicep, runbook in docs/operations.md) notify; empty: none.')
param alertEmailAddress string = ''

// --- Names ---

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var names = {
  identity: 'id-${resourceToken}'
  storage: 'st${resourceToken}'
  keyVault: empty(keyVaultName) ? 'kv-${resourceToken}' : keyVaultName
  logAnalytics: 'log-${resourceToken}'
  applicationInsights: 'appi-${resourceToken}'
  plan: 'plan-${resourceToken}'
  functionApp: 'func-${resourceToken}'
}
var deploymentContainerName = 'app-package'

// The app's tables (src/storage/tables.ts TABLES); the contract test keeps the two in step.
// One table: a partition per account holds its sessions and its token cache.
var tableNames = [
  'accounts'
]

// --- Resources ---

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: names.identity
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: names.storage
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    tableNames: tableNames
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.applicationInsights
    location: location
    tags: tags
  }
}

// Alert rules, their action group and the workbook, over the app's telemetry (docs/operations.md).
module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    location: location
    tags: tags
    namePrefix: resourceToken
    alertEmailAddress: alertEmailAddress
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'key-vault'
  params: {
    name: names.keyVault
    location: location
    tags: tags
    softDeleteRetentionInDays: keyVaultSoftDeleteRetentionDays
    clientSecretName: clientSecretName
    clientSecret: clientSecret
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  params: {
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    appPrincipalId: identity.outputs.principalId
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
    deployerManagesCertificates: clientCredential == 'certificate'
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  // The roles first: the host reaches storage as soon as the site exists.
  dependsOn: [
    rbac
  ]
  params: {
    name: names.functionApp
    planName: names.plan
    location: location
    tags: tags
    azdServiceName: 'api'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    tenantId: empty(entraTenantId) ? tenant().tenantId : entraTenantId
    clientId: entraClientId
    cloudInstance: environment().authentication.loginEndpoint
    keyVaultUrl: keyVault.outputs.uri
    clientCredential: clientCredential
    clientSecretName: clientSecretName
    clientCertificateName: clientCertificateName
    keyRingSecretName: keyRingSecretName
    graphApiEndpoint: graphApiEndpoint
    graphScopes: graphScopes
    tablesEndpoint: storage.outputs.tableEndpoint
    sessionIdleTimeoutHours: sessionIdleTimeoutHours
    sessionAbsoluteTimeoutHours: sessionAbsoluteTimeoutHours
    sessionMemoryTtlSeconds: sessionMemoryTtlSeconds
    tokenCacheMemoryMb: tokenCacheMemoryMb
    tokenCacheMemoryTtlSeconds: tokenCacheMemoryTtlSeconds
    hstsIncludeSubDomains: hstsIncludeSubDomains
    allowedTenants: allowedTenants
  }
}

// --- Outputs (azd writes them to .azure/<env>/.env; hooks and docs use them) ---

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = resourceGroup().name

output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output SERVICE_API_NAME string = functionApp.outputs.name
@description('The app\'s public origin (PUBLIC_BASE_URL).')
output SERVICE_API_URI string = 'https://${functionApp.outputs.defaultHostName}'
@description('The redirect URI to register on the app registration, platform Web.')
output REDIRECT_URI string = 'https://${functionApp.outputs.defaultHostName}/api/callback'

output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_URL string = keyVault.outputs.uri
output KEY_RING_SECRET_NAME string = keyRingSecretName

// Not named AZURE_CLIENT_ID on purpose: azd exports outputs to hooks' environment, where
// AZURE_CLIENT_ID would steer the deployer's own Azure SDK credentials to this identity.
output MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
@description('Object id of the managed identity: the subject of the federated credential (app-registration.bicep).')
output MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
