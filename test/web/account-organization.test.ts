import { accountOrganization, PERSONAL_ACCOUNTS_TENANT_ID } from '../../src/auth/issuer';
import { adminConsentPage } from '../../src/web/admin-consent-page';
import { inboxPage } from '../../src/web/pages';

const TENANT = 'c9a8b7d6-5e4f-4a3b-9c2d-1e0f9a8b7c6d';

describe('which account is signed in', () => {
  it('names the organization by its tenant id, or "personal account"', () => {
    expect(accountOrganization(TENANT)).toBe(`organization ${TENANT}`);
    expect(accountOrganization(PERSONAL_ACCOUNTS_TENANT_ID.toUpperCase())).toBe('personal account');
  });

  it('shows it in the header next to the account', () => {
    const page = inboxPage({
      user: { name: 'Sam', username: 'sam@outlook.test', organization: accountOrganization(PERSONAL_ACCOUNTS_TENANT_ID) },
      messages: [],
      nextUrl: undefined,
      isFirstPage: true,
    });
    expect(page).toContain('(sam@outlook.test)<span class="muted" data-testid="organization"> · personal account</span>');
  });
});

describe('admin consent outcome page', () => {
  it('escapes and shortens what came in the query', () => {
    const page = adminConsentPage({ outcome: 'error', error: '<b>x</b>', description: `<script>${'a'.repeat(400)}` });
    expect(page).toContain('<code>&lt;b&gt;x&lt;/b&gt;</code>');
    expect(page).not.toContain('<script>');
    expect(page).not.toContain('a'.repeat(300));
    expect(adminConsentPage({ outcome: 'granted', tenant: '"><img src=x>' })).toContain('&quot;&gt;&lt;img src=x&gt;');
  });
});
