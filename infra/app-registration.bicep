// Optional: the Entra app registration the BFF signs users in with, as code (Microsoft Graph Bicep
// extension, alias microsoftGraphV1 in bicepconfig.json). Deploy it after main.bicep, with two of its
// outputs, then give main.bicep the new client id:
//
//   az deployment group create -g <rg> -f infra/app-registration.bicep \
//     -p publicBaseUrl=<SERVICE_API_URI> managedIdentityPrincipalId=<MANAGED_IDENTITY_PRINCIPAL_ID>
//
// The URLs it registers and the optional claims come from entra-app.json, the one list the portal
// steps in docs/deploy.md and the emulated Entra use too.
//
// The deploying user needs permission to create applications in the tenant (for instance the
// Application Developer role), and Privileged Role Administrator or equivalent for grantAdminConsent.
// See docs/deploy.md.

extension microsoftGraphV1

@description('Display name shown on the consent screen and in My Apps.')
param displayName string = 'Entra BFF mail'

@description('Client-provided key of the application: the same value updates the same registration on every deployment.')
param uniqueName string = 'entra-bff-${uniqueString(resourceGroup().id)}'

@description('The app\'s public origin, PUBLIC_BASE_URL: main.bicep output SERVICE_API_URI (https://<host>, no trailing slash). Every URL in entra-app.json is registered under it.')
param publicBaseUrl string

@description('TENANT_ID of the app (main.bicep parameter entraTenantId): a tenant id or domain, organizations, common or consumers. It decides who the registration signs in (signInAudience). Empty: this tenant.')
param tenantId string = ''

@description('Object (principal) id of the app\'s managed identity: main.bicep output MANAGED_IDENTITY_PRINCIPAL_ID. When given, the registration trusts it (CLIENT_CREDENTIAL=managedIdentity, no secret). Empty: no federated credential.')
param managedIdentityPrincipalId string = ''

@description('Audience of the federated credential: api://AzureADTokenExchange in the public cloud.')
param federatedCredentialAudience string = 'api://AzureADTokenExchange'

@description('Grant tenant-wide (admin) consent to the delegated permissions, so users see no consent prompt.')
param grantAdminConsent bool = false

// What the app sends to Entra and reads from its tokens (see entra-app.json).
var entraApp = loadJsonContent('entra-app.json')

// Who may sign in, following TENANT_ID (src/auth/issuer.ts): one tenant, any organization, any
// organization and personal accounts, or personal accounts only. Under organizations and common the
// app itself narrows it to ALLOWED_TENANTS (main.bicep parameter allowedTenants).
var signInAudiences = {
  organizations: 'AzureADMultipleOrgs'
  common: 'AzureADandPersonalMicrosoftAccount'
  consumers: 'PersonalMicrosoftAccount'
}
var signInAudience = contains(signInAudiences, toLower(tenantId)) ? signInAudiences[toLower(tenantId)] : 'AzureADMyOrg'

// Microsoft Graph and the ids of its delegated permissions (the same in every tenant).
var graphAppId = '00000003-0000-0000-c000-000000000000'
var graphDelegatedPermissions = {
  openid: '37f7f235-527c-4136-accd-4a02d197296e'
  profile: '14dad69e-099b-42c9-810b-d002981feec1'
  offline_access: '7427e0e9-2fba-42fe-b0c0-848c9e6a8182' // refresh tokens are only issued with it
  'Mail.Read': '570282fd-fa5c-430d-a7fd-fc8dc98a9dca'
}

resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  signInAudience: signInAudience
  // Personal accounts need v2 access tokens: Entra refuses a registration whose audience includes
  // them with requestedAccessTokenVersion null (v1). The app exposes no API, so v2 is right for
  // every audience.
  api: {
    requestedAccessTokenVersion: 2
  }
  web: {
    // Platform Web (a confidential client): exactly the URLs the app sends (the sign-in callback,
    // and the page sign-out returns to: Entra matches post_logout_redirect_uri against these).
    // Never a SPA redirect URI: refresh tokens issued to those last 24 hours.
    redirectUris: [for url in filter(entraApp.urls, u => u.register == 'redirectUri'): '${publicBaseUrl}${url.path}']
    // Front-channel sign-out (GET /api/logout/frontchannel?sid=): signing out of Microsoft 365
    // elsewhere ends this app's sessions of that sign-in too. Entra holds one such URL.
    logoutUrl: '${publicBaseUrl}${first(filter(entraApp.urls, u => u.register == 'logoutUrl')).path}'
    implicitGrantSettings: {
      enableAccessTokenIssuance: false
      enableIdTokenIssuance: false
    }
  }
  // login_hint in the ID token: the app sends it back as logout_hint at sign-out.
  optionalClaims: {
    idToken: [for claim in entraApp.idTokenOptionalClaims: {
      name: claim.name
      essential: false
    }]
  }
  requiredResourceAccess: [
    {
      resourceAppId: graphAppId
      resourceAccess: [
        for permission in items(graphDelegatedPermissions): {
          id: permission.value
          type: 'Scope' // delegated
        }
      ]
    }
  ]

  // Secretless mode: Entra accepts a token of the managed identity as the app's client assertion.
  resource managedIdentityCredential 'federatedIdentityCredentials@v1.0' = if (!empty(managedIdentityPrincipalId)) {
    name: '${app.uniqueName}/managed-identity'
    description: 'The function app\'s user-assigned managed identity (CLIENT_CREDENTIAL=managedIdentity).'
    issuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
    subject: managedIdentityPrincipalId
    audiences: [
      federatedCredentialAudience
    ]
  }
}

resource servicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: app.appId
}

resource graph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: graphAppId
}

resource adminConsent 'Microsoft.Graph/oauth2PermissionGrants@v1.0' = if (grantAdminConsent) {
  clientId: servicePrincipal.id
  consentType: 'AllPrincipals'
  resourceId: graph.id
  scope: join(map(items(graphDelegatedPermissions), entry => entry.key), ' ')
}

@description('The application (client) id: main.bicep parameter entraClientId (azd: azd env set ENTRA_CLIENT_ID <id>).')
output ENTRA_CLIENT_ID string = app.appId
output ENTRA_APPLICATION_OBJECT_ID string = app.id
output ENTRA_SERVICE_PRINCIPAL_ID string = servicePrincipal.id
