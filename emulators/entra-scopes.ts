/**
 * Entra's resources and scope syntax for the emulated Entra (split out of entra.ts): which resources
 * it issues tokens for, how `Mail.Read`, `<resource>/.default` and OIDC scopes are parsed and echoed,
 * and the AADSTS-shaped request error.
 */

export const GRAPH_RESOURCE = 'https://graph.microsoft.com';
export const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
export const KEY_VAULT_RESOURCE = 'https://vault.azure.net';
export const STORAGE_RESOURCE = 'https://storage.azure.com';


export interface ResourceDef {
  readonly id: string;
  readonly aliases: readonly string[];
  readonly audience: string;
  readonly scopes: readonly string[];
  /** What `<resource>/.default` (or no resource scope at all, for Graph) stands for in delegated requests. */
  readonly defaultScopes: readonly string[];
}

export const RESOURCES: readonly ResourceDef[] = [
  {
    id: GRAPH_RESOURCE,
    aliases: [GRAPH_APP_ID, 'https://graph.microsoft.com/'],
    audience: GRAPH_RESOURCE,
    scopes: [
      'User.Read', 'User.ReadBasic.All', 'Mail.Read', 'Mail.ReadBasic', 'Mail.ReadWrite', 'Mail.Send',
      'Calendars.Read', 'Calendars.ReadWrite', 'Contacts.Read', 'Files.Read', 'People.Read',
    ],
    defaultScopes: ['User.Read', 'Mail.Read'],
  },
  {
    id: KEY_VAULT_RESOURCE,
    aliases: ['cfa8b339-82a2-471a-a3c9-0fc0be7a4093', 'https://vault.azure.net/'],
    audience: KEY_VAULT_RESOURCE,
    scopes: ['user_impersonation'],
    defaultScopes: ['user_impersonation'],
  },
  {
    id: STORAGE_RESOURCE,
    aliases: ['e406a681-f3d4-42a8-90b6-c2b029497af1', 'https://storage.azure.com/'],
    audience: STORAGE_RESOURCE,
    scopes: ['user_impersonation'],
    defaultScopes: ['user_impersonation'],
  },
];
export const GRAPH = RESOURCES[0]!;
export const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);
/**
 * oidc-provider drops `offline_access` unless the request also says prompt=consent (the OpenID
 * Connect rule); Entra does not have that rule. So towards oidc-provider, Entra's offline_access is
 * carried by this scope name instead, which decides whether a refresh token is issued.
 */
export const OFFLINE = 'entra.offline_access';
export const PROVIDER_OIDC_SCOPES = new Set(['openid', 'profile', 'email', OFFLINE]);
export const toProviderScope = (scope: string): string => (scope === 'offline_access' ? OFFLINE : scope);

export function resourceById(id: string): ResourceDef | undefined {
  const wanted = id.replace(/\/+$/, '').toLowerCase();
  return RESOURCES.find((r) => r.id.toLowerCase() === wanted || r.aliases.some((a) => a.replace(/\/+$/, '').toLowerCase() === wanted));
}

export interface ParsedScopes {
  readonly oidc: string[];
  readonly resource: ResourceDef | undefined;
  readonly names: string[];
  readonly isDefault: boolean;
}

export class EntraRequestError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly code: number,
    readonly text: string,
  ) {
    super(`${error}: AADSTS${code}: ${text}`);
  }
}

export function parseScopes(raw: string | null, tenantId: string): ParsedScopes {
  const oidc: string[] = [];
  const names: string[] = [];
  let resource: ResourceDef | undefined;
  let isDefault = false;
  for (const scope of (raw ?? '').split(/\s+/).filter(Boolean)) {
    const lower = scope.toLowerCase();
    if (OIDC_SCOPES.has(lower)) {
      if (!oidc.includes(lower)) oidc.push(lower);
      continue;
    }
    let owner: ResourceDef | undefined;
    let name = scope;
    const slash = scope.lastIndexOf('/');
    if (slash >= 0) {
      const prefix = scope.slice(0, slash);
      owner = resourceById(prefix);
      name = scope.slice(slash + 1);
      if (!owner) {
        throw new EntraRequestError(
          400,
          'invalid_resource',
          500011,
          `The resource principal named ${prefix} was not found in the tenant named ${tenantId}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
        );
      }
    } else if (scope.includes(':')) {
      throw new EntraRequestError(400, 'invalid_scope', 70011, `The provided value for the input parameter 'scope' is not valid. The scope '${scope}' is not valid.`);
    } else {
      owner = GRAPH;
    }
    if (resource && resource !== owner) {
      throw new EntraRequestError(
        400,
        'invalid_scope',
        28000,
        `Provided value for the input parameter scope is not valid because it contains more than one resource. Scope ${raw ?? ''} is not valid.`,
      );
    }
    resource = owner;
    if (name === '.default') {
      isDefault = true;
      for (const s of owner.defaultScopes) if (!names.includes(s)) names.push(s);
      continue;
    }
    const canonical = owner.scopes.find((s) => s.toLowerCase() === name.toLowerCase());
    if (!canonical) {
      throw new EntraRequestError(
        400,
        'invalid_scope',
        70011,
        `The provided value for the input parameter 'scope' is not valid. The scope '${scope}' does not exist on the resource '${owner.id}'.`,
      );
    }
    if (!names.includes(canonical)) names.push(canonical);
  }
  return { oidc, resource, names, isDefault };
}

/** How Entra echoes a resource scope: Graph's short, others prefixed with the resource URI. */
export function formatScope(resource: ResourceDef | undefined, name: string): string {
  return !resource || resource === GRAPH ? name : `${resource.id}/${name}`;
}

