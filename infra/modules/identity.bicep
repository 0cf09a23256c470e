// The app's one identity: a user-assigned managed identity. It reaches storage (host and tables),
// Key Vault and Application Insights through role assignments (rbac.bicep), and, in the secretless
// mode, the app registration trusts it through a federated identity credential
// (app-registration.bicep). User-assigned rather than system-assigned so that it exists, with its
// role assignments, before the function app starts, and survives recreating the app.

@description('Name of the user-assigned managed identity.')
param name string

param location string

param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
@description('Object id of the identity: the principal for role assignments and the subject of a federated credential.')
output principalId string = identity.properties.principalId
