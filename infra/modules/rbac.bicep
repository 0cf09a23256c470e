// Every role assignment of the deployment, in one place. Each one is scoped to the single resource it
// is about (never the subscription or the resource group), and named
// guid(scope id, principal id, role definition id), so a redeployment finds the same assignment
// instead of failing on a duplicate. principalType is always given: it lets ARM skip the directory
// lookup that fails while a just-created identity is still replicating.

@description('Storage account holding the host state, the deployment container and the app\'s tables.')
param storageAccountName string

param keyVaultName string

param applicationInsightsName string

@description('Object (principal) id of the app\'s user-assigned managed identity.')
param appPrincipalId string

@description('Object id of the person or pipeline deploying (azd passes AZURE_PRINCIPAL_ID). Empty: no role for them.')
param deployerPrincipalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param deployerPrincipalType string = 'User'

@description('Also let the deployer import certificates into the vault (CLIENT_CREDENTIAL=certificate).')
param deployerManagesCertificates bool = false

// Built-in role definitions (their ids are the same in every tenant).
var roles = {
  storageBlobDataOwner: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b')
  storageTableDataContributor: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3')
  keyVaultSecretsUser: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '4633458b-17de-408a-b874-0445c86b69e6')
  keyVaultSecretsOfficer: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7')
  keyVaultCertificatesOfficer: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'a4417e6f-fecd-4de8-b567-7b0420556985')
  monitoringMetricsPublisher: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '3913510d-42f4-4e42-8a64-420c390055eb')
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// --- The app's managed identity ---

// Blob: the host's own state (AzureWebJobsStorage: leases, timer schedules, keys) and the
// deployment container Flex Consumption reads the package from. No Storage Queue Data Contributor:
// the app has only HTTP and timer triggers, which need no queues. Add it with a queue or blob trigger.
resource appBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: roles.storageBlobDataOwner
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Tables: the app's sessions and token cache (it creates the tables if missing), and the host's
// diagnostic events tables.
resource appTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, roles.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: roles.storageTableDataContributor
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Read-only on secret values: the client secret or certificate, and the key ring.
resource appSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, appPrincipalId, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: roles.keyVaultSecretsUser
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Telemetry with Entra authentication (the component has local authentication disabled).
resource appMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, appPrincipalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: roles.monitoringMetricsPublisher
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// --- The deployer: may set secrets (client secret, key ring), never needs to read app data ---

resource deployerSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(vault.id, deployerPrincipalId, roles.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: roles.keyVaultSecretsOfficer
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}

resource deployerCertificatesOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId) && deployerManagesCertificates) {
  name: guid(vault.id, deployerPrincipalId, roles.keyVaultCertificatesOfficer)
  scope: vault
  properties: {
    roleDefinitionId: roles.keyVaultCertificatesOfficer
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}
