/**
 * Which organizations may sign in, and Entra's multi-tenant issuer rule. Pure: no I/O, so the
 * config check, the callback and the per-request tenant gate share one definition.
 *
 * TENANT_ID decides the authority (`CLOUD_INSTANCE + TENANT_ID`):
 *  - a tenant GUID or verified domain: one tenant; the authority only signs that tenant's users in;
 *  - `organizations`: any work or school account, `common`: those and personal accounts,
 *    `consumers`: personal accounts only.
 * Through `organizations` or `common` Entra signs in a user of *any* tenant, so the app decides,
 * after the code redemption and before anything is stored, whether the ID token's `tid` is one it
 * serves (ALLOWED_TENANTS), as Microsoft.Identity.Web's AadIssuerValidator plus an allow-list does.
 */

/** The tenant of personal Microsoft accounts (Outlook.com, Hotmail, Xbox): `tid` of their tokens. */
export const PERSONAL_ACCOUNTS_TENANT_ID = '9188040d-6c67-4c5b-b112-36a304b66dad';

export type TenantMode = 'single' | 'organizations' | 'common' | 'consumers';

/** Who may sign in: any tenant (`*`), or exactly these tenant ids (lower case). */
export type TenantAllowList = { readonly any: true } | { readonly any: false; readonly tenants: ReadonlySet<string> };

const GUID_PATTERN = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const GUID = new RegExp(`^${GUID_PATTERN}$`, 'i');

/** Whether `text` is a GUID (tenant, client and object ids), in either case. */
export function isGuid(text: string): boolean {
  return GUID.test(text);
}

export function tenantMode(tenantId: string): TenantMode {
  const lower = tenantId.toLowerCase();
  return lower === 'organizations' || lower === 'common' || lower === 'consumers' ? lower : 'single';
}

/**
 * ALLOWED_TENANTS for a TENANT_ID, or the problems with it (messages name the setting and say what
 * to set). Entries are separated by commas: tenant GUIDs, `consumers` for personal accounts, or `*`
 * alone for any tenant.
 */
export function parseAllowedTenants(raw: string | undefined, tenantId: string): { allowList: TenantAllowList; problems: string[] } {
  const mode = tenantMode(tenantId);
  const text = raw?.trim() ?? '';
  const entries = text === '' ? [] : text.split(',').map((e) => e.trim().toLowerCase());
  const problems: string[] = [];
  const none: TenantAllowList = { any: false, tenants: new Set() };

  if (mode === 'single') {
    // The authority itself admits only its tenant: the list adds nothing, so it may only repeat it.
    const own = tenantId.toLowerCase();
    if (entries.length > 0 && !(entries.length === 1 && entries[0] === own)) {
      problems.push(`ALLOWED_TENANTS must be unset, or "${tenantId}", when TENANT_ID is a single tenant ("${text}"); use TENANT_ID=organizations or common to serve several.`);
    }
    return { allowList: GUID.test(own) ? { any: false, tenants: new Set([own]) } : { any: true }, problems };
  }
  if (mode === 'consumers') {
    if (entries.length > 0 && !entries.every((e) => e === 'consumers' || e === PERSONAL_ACCOUNTS_TENANT_ID)) {
      problems.push(`ALLOWED_TENANTS must be unset, or "consumers", when TENANT_ID is consumers ("${text}"): only personal accounts sign in there.`);
    }
    return { allowList: { any: false, tenants: new Set([PERSONAL_ACCOUNTS_TENANT_ID]) }, problems };
  }
  if (entries.length === 0) {
    problems.push(
      `ALLOWED_TENANTS is missing: with TENANT_ID=${mode} any ${mode === 'common' ? 'Microsoft account' : 'organization'} can sign in, so list the tenant ids that may (comma-separated${mode === 'common' ? '; "consumers" for personal accounts' : ''}), or set "*" to allow any.`,
    );
    return { allowList: none, problems };
  }
  if (entries.includes('*')) {
    if (entries.length > 1) problems.push(`ALLOWED_TENANTS: "*" allows any tenant and must stand alone ("${text}").`);
    return { allowList: { any: true }, problems };
  }
  const tenants = new Set<string>();
  for (const entry of entries) {
    if (entry === 'consumers' || entry === PERSONAL_ACCOUNTS_TENANT_ID) {
      if (mode === 'organizations') {
        problems.push('ALLOWED_TENANTS lists "consumers", but TENANT_ID=organizations signs in work and school accounts only: use TENANT_ID=common for personal accounts.');
      }
      tenants.add(PERSONAL_ACCOUNTS_TENANT_ID);
    } else if (GUID.test(entry)) {
      tenants.add(entry);
    } else {
      problems.push(`ALLOWED_TENANTS entries must be tenant ids (GUIDs)${mode === 'common' ? ', "consumers"' : ''} or "*" ("${entry === '' ? '(empty)' : entry}"); a domain name is not a tenant id.`);
    }
  }
  return { allowList: { any: false, tenants }, problems };
}

export function tenantAllowed(allowList: TenantAllowList, tid: string): boolean {
  return allowList.any || allowList.tenants.has(tid.toLowerCase());
}

/** Where the multi-tenant authorities' published issuer has the tenant id (see expectedIssuer). */
const TENANT_ID_TEMPLATE = '{tenantid}';

/**
 * Entra's issuer for a tenant: `{authority host}/{tid}/v2.0`. The multi-tenant authorities'
 * discovery documents publish it as the template `https://login.microsoftonline.com/{tenantid}/v2.0`;
 * a v2 ID token carries it with its own `tid` in place (personal accounts too, with their tenant).
 * `cloudInstance` is CLOUD_INSTANCE, ending with a slash; an alias host stands for its cloud's.
 */
export function expectedIssuer(cloudInstance: string, tid: string): string {
  const url = new URL(cloudInstance);
  return `${url.protocol}//${ISSUER_HOST_OF_ALIAS[url.host.toLowerCase()] ?? url.host}${url.pathname}${tid}/v2.0`;
}

/**
 * Authority hosts that are aliases of a cloud's own: Entra answers through them, but its v2 tokens
 * name the cloud's issuer host (Microsoft.Identity.Web accepts the aliases the same way, from
 * instance discovery's `aliases`).
 */
const ISSUER_HOST_OF_ALIAS: Readonly<Record<string, string>> = {
  'login.windows.net': 'login.microsoftonline.com',
  'login.microsoft.com': 'login.microsoftonline.com',
  'sts.windows.net': 'login.microsoftonline.com',
  'login.chinacloudapi.cn': 'login.partner.microsoftonline.cn',
};

/**
 * RFC 9207, before the code is redeemed: whether an authorization response's `iss` is the
 * authority's issuer as its discovery document publishes it. Exact, except that a multi-tenant
 * authority (`organizations`) publishes the template `https://login.microsoftonline.com/{tenantid}/v2.0`,
 * where any tenant GUID stands (checkSignInTenant then wants the signed-in tenant's own).
 */
export function issuerMatches(expected: string, iss: string): boolean {
  if (!expected.includes(TENANT_ID_TEMPLATE)) return iss === expected;
  const pattern = expected
    .split(TENANT_ID_TEMPLATE)
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join(GUID_PATTERN);
  return new RegExp(`^${pattern}$`, 'i').test(iss);
}

export type SignInTenantCheck =
  | { readonly ok: true; readonly tid: string }
  | { readonly ok: false; readonly code: 'tenant_not_allowed' | 'issuer_mismatch'; readonly tid: string | undefined };

/**
 * The callback's checks on a redeemed sign-in, before anything is stored: the ID token's `tid` is a
 * GUID on the allow-list, its `iss` is that tenant's issuer, and so is the authorization response's
 * `iss` (RFC 9207) when it was sent. A `tid` that is not a GUID is an issuer mismatch (no issuer
 * of Entra's has one).
 */
export function checkSignInTenant(input: {
  readonly cloudInstance: string;
  readonly allowList: TenantAllowList;
  readonly idTokenClaims: Readonly<Record<string, unknown>>;
  /** The authorization response's `iss` parameter, when it had one. */
  readonly responseIss?: string | null | undefined;
}): SignInTenantCheck {
  const tid = typeof input.idTokenClaims['tid'] === 'string' ? input.idTokenClaims['tid'] : undefined;
  if (tid === undefined || !GUID.test(tid)) return { ok: false, code: 'issuer_mismatch', tid: undefined };
  // Exact, as OpenID Connect compares issuers (and as the RFC 9207 check before redemption does):
  // Entra writes the tid in lower case in both.
  const expected = expectedIssuer(input.cloudInstance, tid);
  if (input.idTokenClaims['iss'] !== expected) return { ok: false, code: 'issuer_mismatch', tid };
  if (input.responseIss !== undefined && input.responseIss !== null && input.responseIss !== expected) {
    return { ok: false, code: 'issuer_mismatch', tid };
  }
  if (!tenantAllowed(input.allowList, tid)) return { ok: false, code: 'tenant_not_allowed', tid };
  return { ok: true, tid };
}

/** How the page names an account's organization: "personal account", or "organization <tid>". */
export function accountOrganization(tid: string): string {
  return tid.toLowerCase() === PERSONAL_ACCOUNTS_TENANT_ID ? 'personal account' : `organization ${tid}`;
}
