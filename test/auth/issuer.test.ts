import {
  checkSignInTenant,
  expectedIssuer,
  parseAllowedTenants,
  PERSONAL_ACCOUNTS_TENANT_ID,
  tenantAllowed,
  tenantMode,
  type TenantAllowList,
} from '../../src/auth/issuer';

const CONTOSO = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const FABRIKAM = '4a1b2c3d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const HOST = 'https://login.microsoftonline.com/';

describe('tenantMode', () => {
  it.each([
    ['organizations', 'organizations'],
    ['common', 'common'],
    ['consumers', 'consumers'],
    ['Organizations', 'organizations'],
    [CONTOSO, 'single'],
    ['contoso.onmicrosoft.com', 'single'],
  ])('%s is %s', (tenantId, mode) => {
    expect(tenantMode(tenantId)).toBe(mode);
  });
});

describe('parseAllowedTenants', () => {
  const tenantsOf = (list: TenantAllowList): string[] | '*' => (list.any ? '*' : [...list.tenants].sort());

  it('is required under organizations and common, naming the setting', () => {
    expect(parseAllowedTenants(undefined, 'organizations').problems).toEqual([
      'ALLOWED_TENANTS is missing: with TENANT_ID=organizations any organization can sign in, so list the tenant ids that may (comma-separated), or set "*" to allow any.',
    ]);
    expect(parseAllowedTenants('  ', 'common').problems).toEqual([
      'ALLOWED_TENANTS is missing: with TENANT_ID=common any Microsoft account can sign in, so list the tenant ids that may (comma-separated; "consumers" for personal accounts), or set "*" to allow any.',
    ]);
  });

  it('reads tenant GUIDs, case-insensitively, with spaces around the commas', () => {
    const parsed = parseAllowedTenants(` ${CONTOSO.toUpperCase()} , ${FABRIKAM}`, 'organizations');
    expect(parsed.problems).toEqual([]);
    expect(tenantsOf(parsed.allowList)).toEqual([FABRIKAM, CONTOSO].sort());
  });

  it('takes "*" alone as any tenant', () => {
    expect(tenantsOf(parseAllowedTenants('*', 'organizations').allowList)).toBe('*');
    expect(parseAllowedTenants(`*,${CONTOSO}`, 'common').problems).toEqual([`ALLOWED_TENANTS: "*" allows any tenant and must stand alone ("*,${CONTOSO}").`]);
  });

  it('maps "consumers" to the personal-account tenant under common, and refuses it under organizations', () => {
    const common = parseAllowedTenants(`consumers,${CONTOSO}`, 'common');
    expect(common.problems).toEqual([]);
    expect(tenantsOf(common.allowList)).toEqual([CONTOSO, PERSONAL_ACCOUNTS_TENANT_ID].sort());
    expect(parseAllowedTenants('consumers', 'organizations').problems).toEqual([
      'ALLOWED_TENANTS lists "consumers", but TENANT_ID=organizations signs in work and school accounts only: use TENANT_ID=common for personal accounts.',
    ]);
  });

  it('refuses domain names and empty entries: tid is always a GUID', () => {
    expect(parseAllowedTenants(`contoso.com,${CONTOSO}`, 'organizations').problems).toEqual([
      'ALLOWED_TENANTS entries must be tenant ids (GUIDs) or "*" ("contoso.com"); a domain name is not a tenant id.',
    ]);
    expect(parseAllowedTenants(`${CONTOSO},,`, 'common').problems).toHaveLength(2);
  });

  it('under a single tenant: unset, or the same tenant, nothing else', () => {
    expect(parseAllowedTenants(undefined, CONTOSO)).toEqual({ allowList: { any: false, tenants: new Set([CONTOSO]) }, problems: [] });
    expect(parseAllowedTenants(CONTOSO.toUpperCase(), CONTOSO).problems).toEqual([]);
    expect(parseAllowedTenants(FABRIKAM, CONTOSO).problems).toEqual([
      `ALLOWED_TENANTS must be unset, or "${CONTOSO}", when TENANT_ID is a single tenant ("${FABRIKAM}"); use TENANT_ID=organizations or common to serve several.`,
    ]);
    expect(parseAllowedTenants('*', CONTOSO).problems).toHaveLength(1);
    // A verified domain: the authority admits only its tenant, whose GUID the app does not know.
    expect(parseAllowedTenants(undefined, 'contoso.onmicrosoft.com').allowList).toEqual({ any: true });
  });

  it('under consumers: personal accounts only', () => {
    expect(tenantsOf(parseAllowedTenants(undefined, 'consumers').allowList)).toEqual([PERSONAL_ACCOUNTS_TENANT_ID]);
    expect(parseAllowedTenants('consumers', 'consumers').problems).toEqual([]);
    expect(parseAllowedTenants(CONTOSO, 'consumers').problems).toEqual([
      `ALLOWED_TENANTS must be unset, or "consumers", when TENANT_ID is consumers ("${CONTOSO}"): only personal accounts sign in there.`,
    ]);
  });

  it('tenantAllowed compares tenant ids case-insensitively', () => {
    const list = parseAllowedTenants(CONTOSO, 'organizations').allowList;
    expect(tenantAllowed(list, CONTOSO.toUpperCase())).toBe(true);
    expect(tenantAllowed(list, FABRIKAM)).toBe(false);
    expect(tenantAllowed({ any: true }, FABRIKAM)).toBe(true);
  });
});

describe('Entra issuer rule', () => {
  const allowList = parseAllowedTenants(`${CONTOSO},consumers`, 'common').allowList;
  const check = (claims: Record<string, unknown>, responseIss?: string | null) =>
    checkSignInTenant({ cloudInstance: HOST, allowList, idTokenClaims: claims, responseIss });

  it('is {authority host}/{tid}/v2.0, the discovery template with the tid in place', () => {
    expect(expectedIssuer(HOST, CONTOSO)).toBe(`https://login.microsoftonline.com/${CONTOSO}/v2.0`);
    expect(expectedIssuer('https://127.0.0.1:7443/', PERSONAL_ACCOUNTS_TENANT_ID)).toBe(`https://127.0.0.1:7443/${PERSONAL_ACCOUNTS_TENANT_ID}/v2.0`);
  });

  it("names the cloud's issuer host when CLOUD_INSTANCE is one of its aliases", () => {
    expect(expectedIssuer('https://login.microsoft.com/', CONTOSO)).toBe(`https://login.microsoftonline.com/${CONTOSO}/v2.0`);
    expect(expectedIssuer('https://login.windows.net/', CONTOSO)).toBe(`https://login.microsoftonline.com/${CONTOSO}/v2.0`);
    expect(expectedIssuer('https://login.microsoftonline.us/', CONTOSO)).toBe(`https://login.microsoftonline.us/${CONTOSO}/v2.0`);
    expect(expectedIssuer('https://login.chinacloudapi.cn/', CONTOSO)).toBe(`https://login.partner.microsoftonline.cn/${CONTOSO}/v2.0`);
  });

  it('accepts an allowed tenant whose iss follows the rule, and a personal account', () => {
    expect(check({ tid: CONTOSO, iss: `${HOST}${CONTOSO}/v2.0` })).toEqual({ ok: true, tid: CONTOSO });
    expect(check({ tid: PERSONAL_ACCOUNTS_TENANT_ID, iss: `${HOST}${PERSONAL_ACCOUNTS_TENANT_ID}/v2.0` }, `${HOST}${PERSONAL_ACCOUNTS_TENANT_ID}/v2.0`)).toEqual({
      ok: true,
      tid: PERSONAL_ACCOUNTS_TENANT_ID,
    });
  });

  it('refuses a tenant off the list with tenant_not_allowed, naming it', () => {
    expect(check({ tid: FABRIKAM, iss: `${HOST}${FABRIKAM}/v2.0` })).toEqual({ ok: false, code: 'tenant_not_allowed', tid: FABRIKAM });
  });

  it('refuses an iss of another tenant, host, version or the raw template with issuer_mismatch', () => {
    for (const iss of [
      `${HOST}${FABRIKAM}/v2.0`,
      `https://sts.windows.net/${CONTOSO}/`,
      `${HOST}${CONTOSO}/v2.0/`,
      `${HOST}{tenantid}/v2.0`,
      `https://login.microsoftonline.us/${CONTOSO}/v2.0`,
      `${HOST}${CONTOSO}/v2.0`.toUpperCase(),
    ]) {
      expect(check({ tid: CONTOSO, iss })).toEqual({ ok: false, code: 'issuer_mismatch', tid: CONTOSO });
    }
    expect(check({ tid: CONTOSO })).toEqual({ ok: false, code: 'issuer_mismatch', tid: CONTOSO });
  });

  it('refuses a missing or non-GUID tid with issuer_mismatch', () => {
    expect(check({ iss: `${HOST}${CONTOSO}/v2.0` })).toEqual({ ok: false, code: 'issuer_mismatch', tid: undefined });
    expect(check({ tid: 'common', iss: `${HOST}common/v2.0` })).toEqual({ ok: false, code: 'issuer_mismatch', tid: undefined });
  });

  it('checks the authorization response iss (RFC 9207) against the same issuer when it is present', () => {
    const claims = { tid: CONTOSO, iss: `${HOST}${CONTOSO}/v2.0` };
    expect(check(claims, null)).toEqual({ ok: true, tid: CONTOSO });
    expect(check(claims, `${HOST}${CONTOSO}/v2.0`)).toEqual({ ok: true, tid: CONTOSO });
    expect(check(claims, `${HOST}${PERSONAL_ACCOUNTS_TENANT_ID}/v2.0`)).toEqual({ ok: false, code: 'issuer_mismatch', tid: CONTOSO });
    expect(check(claims, `${HOST}{tenantid}/v2.0`)).toEqual({ ok: false, code: 'issuer_mismatch', tid: CONTOSO });
    expect(check(claims, `${HOST}${CONTOSO}/v2.0`.toUpperCase())).toEqual({ ok: false, code: 'issuer_mismatch', tid: CONTOSO });
  });
});
