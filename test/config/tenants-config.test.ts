/** TENANT_ID's modes and ALLOWED_TENANTS as loadConfig reads them (the rules are in test/auth/issuer.test.ts). */
import { loadConfig } from '../../src/config';
import { problemsOf, TENANT, validSettings } from '../support/config-env';
import { PERSONAL_ACCOUNTS_TENANT_ID } from '../../src/auth/issuer';

const valid = validSettings;

describe('TENANT_ID modes and ALLOWED_TENANTS', () => {
  it('a single tenant needs no allow-list', () => {
    const config = loadConfig(valid);
    expect(config.tenantMode).toBe('single');
    expect(config.allowedTenants).toEqual({ any: false, tenants: new Set([TENANT]) });
  });

  it('organizations and common without ALLOWED_TENANTS fail, naming it, among the other problems', () => {
    for (const mode of ['organizations', 'common']) {
      const problems = problemsOf({ ...valid, TENANT_ID: mode, CLIENT_ID: 'x' });
      expect(problems).toContain('CLIENT_ID must be a GUID ("x").');
      expect(problems.filter((p) => p.startsWith('ALLOWED_TENANTS is missing: with TENANT_ID=' + mode))).toHaveLength(1);
    }
  });

  it('reads the modes with their lists', () => {
    expect(loadConfig({ ...valid, TENANT_ID: 'organizations', ALLOWED_TENANTS: '*' })).toMatchObject({ tenantMode: 'organizations', allowedTenants: { any: true } });
    expect(loadConfig({ ...valid, TENANT_ID: 'common', ALLOWED_TENANTS: `${TENANT},consumers` })).toMatchObject({
      tenantMode: 'common',
      authority: 'https://login.microsoftonline.com/common',
      allowedTenants: { any: false, tenants: new Set([TENANT, PERSONAL_ACCOUNTS_TENANT_ID]) },
    });
    expect(loadConfig({ ...valid, TENANT_ID: 'consumers' })).toMatchObject({ tenantMode: 'consumers', allowedTenants: { any: false, tenants: new Set([PERSONAL_ACCOUNTS_TENANT_ID]) } });
  });

  it('refuses an allow-list that contradicts a single tenant', () => {
    expect(problemsOf({ ...valid, ALLOWED_TENANTS: '*' })).toEqual([
      `ALLOWED_TENANTS must be unset, or "${TENANT}", when TENANT_ID is a single tenant ("*"); use TENANT_ID=organizations or common to serve several.`,
    ]);
  });

  it('names every TENANT_ID mode when the value is none of them', () => {
    expect(problemsOf({ ...valid, TENANT_ID: 'any one' })).toEqual(['TENANT_ID must be a tenant GUID, a verified domain, "organizations", "common" or "consumers" ("any one").']);
  });
});
