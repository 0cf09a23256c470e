// The function app on the Flex Consumption plan (Linux, Node.js 22), running as the user-assigned
// managed identity. Every connection is identity-based: no storage key, no instrumentation key
// ingestion, no secret in an app setting. Secrets stay in Key Vault; the app reads them itself.

param name string

param planName string

param location string

param tags object = {}

@description('azd finds the resource to deploy a service to by this tag; only the site may carry it.')
param azdServiceName string = 'api'

@description('Resource id of the user-assigned managed identity the app runs as.')
param identityId string

@description('Client id of that identity: selects it for DefaultAzureCredential and the host.')
param identityClientId string

param storageAccountName string

param deploymentContainerName string

param applicationInsightsName string

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

// --- The app's settings (src/config.ts SETTINGS), passed in from main.bicep ---

param tenantId string

param clientId string

param cloudInstance string

param keyVaultUrl string

param clientCredential string

param clientSecretName string

param clientCertificateName string

param keyRingSecretName string

param graphApiEndpoint string

param graphScopes string

param tablesEndpoint string

param sessionIdleTimeoutHours int

param sessionAbsoluteTimeoutHours int

param sessionMemoryTtlSeconds int

param tokenCacheMemoryMb int

param tokenCacheMemoryTtlSeconds int

param hstsIncludeSubDomains string
@description('ALLOWED_TENANTS (src/config.ts); empty for a single tenant.')
param allowedTenants string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': azdServiceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      // No ftpsState: Flex Consumption does not support it. FTP is off through the ftp policy below.
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }

  // No FTP and no basic-auth (user name and password) publishing: deployments authenticate with
  // Entra ID (azd and Core Tools both do). Each policy needs the site's location: ARM refuses it
  // without one ("The parameter location has an invalid value").
  resource ftpPublishing 'basicPublishingCredentialsPolicies' = {
    name: 'ftp'
    location: location
    properties: {
      allow: false
    }
  }

  resource scmPublishing 'basicPublishingCredentialsPolicies' = {
    name: 'scm'
    location: location
    properties: {
      allow: false
    }
  }

  // The app settings, as one child resource rather than siteConfig.appSettings: PUBLIC_BASE_URL
  // needs the site's own default host name, which the site cannot reference in its own body.
  // This resource replaces the whole set on every deployment: settings added by hand in the portal
  // do not survive a redeployment; add them here.
  //
  // Flex Consumption rejects the settings it took over (FUNCTIONS_WORKER_RUNTIME,
  // FUNCTIONS_EXTENSION_VERSION, WEBSITE_RUN_FROM_PACKAGE, WEBSITE_NODE_DEFAULT_VERSION, ...):
  // the runtime is functionAppConfig.runtime above.
  resource appSettings 'config' = {
    name: 'appsettings'
    properties: {
      // Host: storage and telemetry by managed identity.
      AzureWebJobsStorage__accountName: storage.name
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identityClientId
      // Not a secret: with local authentication disabled on the component, the instrumentation key
      // in it cannot ingest anything without an Entra token.
      APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
      // No Functions landing page: HEAD / and POST / would get it instead of the app's answer (GET /
      // is the app's page). As in local.settings.sample.json.
      AzureWebJobsDisableHomepage: 'true'

      // The app (src/config.ts).
      TENANT_ID: tenantId
      CLIENT_ID: clientId
      CLOUD_INSTANCE: cloudInstance
      PUBLIC_BASE_URL: 'https://${functionApp.properties.defaultHostName}'
      KEY_VAULT_URL: keyVaultUrl
      CLIENT_CREDENTIAL: clientCredential
      CLIENT_SECRET_NAME: clientSecretName
      CLIENT_CERTIFICATE_NAME: clientCertificateName
      KEY_RING_SECRET_NAME: keyRingSecretName
      AZURE_CLIENT_ID: identityClientId
      GRAPH_API_ENDPOINT: graphApiEndpoint
      GRAPH_SCOPES: graphScopes
      TABLES_ENDPOINT: tablesEndpoint
      SESSION_IDLE_TIMEOUT_HOURS: string(sessionIdleTimeoutHours)
      SESSION_ABSOLUTE_TIMEOUT_HOURS: string(sessionAbsoluteTimeoutHours)
      SESSION_MEMORY_TTL_SECONDS: string(sessionMemoryTtlSeconds)
      TOKEN_CACHE_MEMORY_MB: string(tokenCacheMemoryMb)
      TOKEN_CACHE_MEMORY_TTL_SECONDS: string(tokenCacheMemoryTtlSeconds)
      HSTS_INCLUDE_SUBDOMAINS: hstsIncludeSubDomains
      ALLOWED_TENANTS: allowedTenants
    }
  }
}

output name string = functionApp.name
output id string = functionApp.id
@description('Default host name, such as func-abc.azurewebsites.net.')
output defaultHostName string = functionApp.properties.defaultHostName
