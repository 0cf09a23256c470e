// The vault the app reads its secrets from: the client secret (or certificate) it presents to Entra
// and the key ring that seals cookies and the token cache. Access is by Azure RBAC only (no access
// policies); the app's identity gets Key Vault Secrets User in rbac.bicep.
//
// Purge protection is on: a deleted vault or secret stays recoverable for the retention period and
// nobody, not even an owner, can purge it earlier. The vault name stays reserved meanwhile.

@description('Vault name: 3-24 letters, digits and hyphens, globally unique.')
@minLength(3)
@maxLength(24)
param name string

param location string

param tags object = {}

@description('Days a deleted vault or secret stays recoverable. Cannot be changed after the vault is created.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

@description('Name of the client secret in the vault (the app setting CLIENT_SECRET_NAME).')
param clientSecretName string

@description('''The Entra client secret. Optional: when empty, the secret is left as it is in the vault
(set it with `az keyvault secret set`). Pass it only when setting or rotating it, never from a
parameters file: a later deployment with an old value would write that old value back.''')
@secure()
param clientSecret string = ''

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

// Written only when a value is passed, so that deploying again without it leaves the vault's
// current version (perhaps rotated since) untouched.
resource clientSecretValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(clientSecret)) {
  parent: vault
  name: clientSecretName
  properties: {
    value: clientSecret
    contentType: 'text/plain'
  }
}

// The key ring secret is deliberately NOT declared here: a template cannot generate key material
// securely, and a key ring passed as a parameter would be written again on every deployment,
// silently undoing a rotation. infra/hooks/ensure-key-ring.js creates it once, on the deployer's
// machine, straight into the vault (see docs/deploy.md).

output name string = vault.name
output id string = vault.id
@description('Vault URL, with a trailing slash: the app\'s KEY_VAULT_URL.')
output uri string = vault.properties.vaultUri
