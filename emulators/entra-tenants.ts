/**
 * The emulated Entra's tenants: two organizations (Contoso, the home tenant of the app
 * registration, and Fabrikam), each with its own users, and the personal-account tenant
 * (Outlook.com) `9188040d-6c67-4c5b-b112-36a304b66dad`. One oidc-provider serves them all (one
 * signing key, as Entra's is shared by every tenant); what differs per tenant is decided here:
 *
 *  - authorities: `/{tenant id or domain}` admits that tenant's users; `/organizations` any
 *    organization's, `/common` anyone's, `/consumers` personal accounts only;
 *  - issuers: `{origin}/{tid}/v2.0` of the user's tenant in ID and access tokens; the alias
 *    authorities' discovery documents publish the template `{origin}/{tenantid}/v2.0`, as Entra's do;
 *  - home-realm discovery: the user's tenant comes from the username's domain; `login_hint` fills
 *    the username, `domain_hint` narrows the listed accounts to one tenant, and without either the
 *    sign-in page asks for the username;
 *  - `login_hint` claim (an optional claim the app registers, infra/entra-app.json): opaque to the
 *    app, it names the user and tenant, so a `logout_hint` sent to an alias authority finds them;
 *  - admin consent (`/{tenant}/v2.0/adminconsent`).
 */
import type { EntraUser } from './entra';

export const PERSONAL_TENANT_ID = '9188040d-6c67-4c5b-b112-36a304b66dad';
export const SECOND_TENANT_ID = 'c9a8b7d6-5e4f-4a3b-9c2d-1e0f9a8b7c6d';

export type TenantAlias = 'organizations' | 'common' | 'consumers';
const ALIASES: readonly TenantAlias[] = ['organizations', 'common', 'consumers'];

export interface EmulatedTenant {
  readonly id: string;
  readonly name: string;
  /** Verified domains: usernames under them belong to the tenant, and they work as authorities. */
  readonly domains: readonly string[];
  readonly personal: boolean;
}

export function emulatedTenants(homeTenantId: string): EmulatedTenant[] {
  return [
    { id: homeTenantId, name: 'Contoso', domains: ['contoso.test', 'contoso.onmicrosoft.com'], personal: false },
    { id: SECOND_TENANT_ID, name: 'Fabrikam', domains: ['fabrikam.test', 'fabrikam.onmicrosoft.com'], personal: false },
    { id: PERSONAL_TENANT_ID, name: 'Microsoft accounts', domains: ['outlook.test', 'hotmail.test'], personal: true },
  ];
}

/** Users of the other tenants, seeded after the home tenant's (SEED_USERS keeps its order). */
export const OTHER_TENANT_USERS: readonly EntraUser[] = [
  { username: 'alex@fabrikam.test', password: 'Passw0rd!', name: 'Alex Wilber', oid: '2b7e4c1a-9d3f-4e6b-8a15-3c9d7e1f5b34', tenantId: SECOND_TENANT_ID },
  { username: 'diego@fabrikam.test', password: 'Passw0rd!', name: 'Diego Siciliani', oid: '5d8a1f3c-6b2e-4c9d-9e27-4a1b8c3d6e45', tenantId: SECOND_TENANT_ID },
  { username: 'sam@outlook.test', password: 'Passw0rd!', name: 'Sam Taylor', oid: '00000000-0000-0000-7b3c-9e1d5a2f8c56', tenantId: PERSONAL_TENANT_ID },
];

export type Authority = { readonly kind: 'tenant'; readonly tenant: EmulatedTenant } | { readonly kind: 'alias'; readonly alias: TenantAlias };

export class TenantDirectory {
  constructor(
    readonly tenants: readonly EmulatedTenant[],
    readonly home: EmulatedTenant,
  ) {}

  /** The first path segment as an authority: a tenant id, one of its domains, or an alias. */
  authority(segment: string): Authority | undefined {
    const lower = segment.toLowerCase();
    if ((ALIASES as readonly string[]).includes(lower)) return { kind: 'alias', alias: lower as TenantAlias };
    const tenant = this.tenants.find((t) => t.id === lower || t.domains.includes(lower));
    return tenant ? { kind: 'tenant', tenant } : undefined;
  }

  byId(tid: string): EmulatedTenant | undefined {
    return this.tenants.find((t) => t.id === tid.toLowerCase());
  }

  /** A user's tenant: the one it was created in, else the home tenant. */
  tenantOf(user: EntraUser): EmulatedTenant {
    return (user.tenantId !== undefined ? this.byId(user.tenantId) : undefined) ?? this.home;
  }

  /** Home-realm discovery by the domain of a username or a domain_hint. */
  byDomain(domain: string): EmulatedTenant | undefined {
    const lower = domain.toLowerCase();
    return this.tenants.find((t) => t.domains.includes(lower));
  }
}

/** Whether an authority signs in users of this tenant (Entra: AADSTS50020 / 50194 otherwise). */
export function admits(authority: Authority, tenant: EmulatedTenant): boolean {
  if (authority.kind === 'tenant') return authority.tenant.id === tenant.id;
  if (authority.alias === 'common') return true;
  return authority.alias === 'consumers' ? tenant.personal : !tenant.personal;
}

export function authoritySegment(authority: Authority): string {
  return authority.kind === 'alias' ? authority.alias : authority.tenant.id;
}

/** Entra's refusal when a user's tenant is not the authority's. */
export function notAdmittedMessage(authority: Authority, username: string, tenant: EmulatedTenant): string {
  if (authority.kind === 'alias' && authority.alias === 'consumers') {
    return `AADSTS9002331: Application is configured for use by Microsoft Account users only. Please use the /consumers endpoint to serve this request. (${tenant.name} accounts cannot sign in here.)`;
  }
  if (authority.kind === 'alias') {
    return `AADSTS50020: User account '${username}' from identity provider 'live.com' does not exist in tenant 'organizations' and cannot access the application. Use a work or school account.`;
  }
  return `AADSTS50020: User account '${username}' from identity provider '${tenant.name}' does not exist in tenant '${authority.tenant.name}' and cannot access the application.`;
}

/** Entra's v2 issuer of a tenant; with `{tenantid}` for `tid`, the multi-tenant authorities' template. */
export function issuerOf(origin: string, tid: string): string {
  return `${origin}/${tid}/v2.0`;
}

/**
 * The discovery document for an authority other than the provider's own: endpoints under that
 * authority's path, and for an alias Entra's issuer template.
 */
export function discoveryFor(body: Record<string, unknown>, origin: string, homeTenantId: string, authority: Authority): void {
  const segment = authoritySegment(authority);
  const from = `${origin}/${homeTenantId}/`;
  const to = `${origin}/${segment}/`;
  for (const [key, value] of Object.entries(body)) {
    if (typeof value === 'string' && value.startsWith(from)) body[key] = `${to}${value.slice(from.length)}`;
  }
  body['issuer'] = issuerOf(origin, authority.kind === 'alias' ? '{tenantid}' : authority.tenant.id);
  body['tenant_region_scope'] = authority.kind === 'alias' ? null : authority.tenant.personal ? null : 'EU';
}

/** The opaque `login_hint` claim: Entra's is an encoded pointer to the account; here oid and tid. */
export function loginHintOf(oid: string, tid: string): string {
  return Buffer.from(JSON.stringify({ v: 1, oid, tid })).toString('base64url');
}

export function parseLoginHint(hint: string): { readonly oid: string; readonly tid: string } | undefined {
  try {
    const value = JSON.parse(Buffer.from(hint, 'base64url').toString('utf8')) as { oid?: unknown; tid?: unknown };
    return typeof value.oid === 'string' && typeof value.tid === 'string' ? { oid: value.oid, tid: value.tid } : undefined;
  } catch {
    return undefined;
  }
}

/** The accounts the sign-in page lists: those the authority admits, narrowed by a domain_hint. */
export function listedAccounts(users: readonly EntraUser[], directory: TenantDirectory, authority: Authority, domainHint: string | undefined): EntraUser[] {
  const hinted = domainHint ? directory.byDomain(domainHint) : undefined;
  return users.filter((u) => {
    const tenant = directory.tenantOf(u);
    return admits(authority, tenant) && (hinted === undefined || hinted.id === tenant.id);
  });
}

export interface AdminConsentRequest {
  readonly clientId: string | null;
  readonly redirectUri: string | null;
  readonly state: string | null;
  readonly scope: string | null;
}

/**
 * Where Entra's v2 admin consent sends the administrator back: `admin_consent=True&tenant=...` when
 * granted, or `error=...`. `tenant` is the administrator's (found from the authority, or by their
 * username under `organizations`).
 */
export function adminConsentRedirect(request: AdminConsentRequest, outcome: { tenant: EmulatedTenant } | { error: string; description: string }): string {
  const target = new URL(request.redirectUri!);
  if ('tenant' in outcome) {
    target.searchParams.set('admin_consent', 'True');
    target.searchParams.set('tenant', outcome.tenant.id);
    if (request.scope) target.searchParams.set('scope', request.scope);
  } else {
    target.searchParams.set('error', outcome.error);
    target.searchParams.set('error_description', outcome.description);
  }
  if (request.state !== null) target.searchParams.set('state', request.state);
  return target.href;
}
