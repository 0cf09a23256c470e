// One storage account for everything the app stores: the Functions host's own state
// (AzureWebJobsStorage: leases, timer schedules, diagnostic events), the deployment package
// container Flex Consumption deploys from, and the app's tables (sessions, MSAL token cache).
// Entra ID only: shared keys are disabled, so no connection string with a key exists to leak.

@description('Storage account name: 3-24 lowercase letters and digits, globally unique.')
@minLength(3)
@maxLength(24)
param name string

param location string

param tags object = {}

@description('Blob container Flex Consumption deploys the app package from.')
param deploymentContainerName string

@description('Tables the app uses (src/storage/tables.ts). The app also creates them if missing.')
param tableNames string[]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    // Portal and tools default to Entra ID instead of trying (disabled) keys.
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }

  resource blobService 'blobServices' = {
    name: 'default'

    resource deploymentContainer 'containers' = {
      name: deploymentContainerName
      properties: {
        publicAccess: 'None'
      }
    }
  }

  resource tableService 'tableServices' = {
    name: 'default'

    resource tables 'tables' = [
      for tableName in tableNames: {
        name: tableName
      }
    ]
  }
}

output name string = storage.name
output id string = storage.id
@description('Blob endpoint, with a trailing slash.')
output blobEndpoint string = storage.properties.primaryEndpoints.blob
@description('Table endpoint, with a trailing slash: the app\'s TABLES_ENDPOINT.')
output tableEndpoint string = storage.properties.primaryEndpoints.table
