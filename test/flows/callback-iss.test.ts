/**
 * Issue 16, finding 3: RFC 9207. When the callback carries `iss`, it must be the authority's issuer
 * (from its discovery document); a mismatch is refused before the code reaches any token endpoint.
 * Its absence is accepted: Entra does not send it.
 */
import { issuerMatches } from '../../src/auth/issuer';
import type { TestApp } from '../support/app';
import { useOwnClientApp } from '../support/own-client-app';
import { emulators, type EntraTestClient } from '../support/emulators';
import { Browser } from '../support/http-client';
import { signIn, startLogin } from '../support/sign-in';

describe('the callback checks iss (RFC 9207)', () => {
  const own = useOwnClientApp();
  let client: EntraTestClient;
  let app: TestApp;
  const issuer = (): string => `${emulators().entra.url.replace(/\/$/, '')}/${emulators().entra.tenantId}/v2.0`;

  beforeAll(() => {
    client = own.client();
    app = own.app();
  });

  async function callbackWith(extra: Record<string, string>): Promise<{ status: number; body: string }> {
    const browser = new Browser();
    const started = await startLogin(browser, app.url);
    const state = new URL(started.location!).searchParams.get('state')!;
    const hop = await browser.request(`${app.url}/api/callback?${new URLSearchParams({ state, code: 'junk', ...extra })}`);
    return { status: hop.status, body: hop.body };
  }

  it.each([
    ['another provider', 'https://evil.example/tenant/v2.0'],
    ['the issuer with a trailing slash', () => `${issuer()}/`],
    ['the issuer in other letters', () => issuer().toUpperCase()],
    ['an empty iss', ''],
  ])('refuses %s with issuer_mismatch and never calls the token endpoint', async (_label, iss) => {
    await client.admin.resetStats();
    const answer = await callbackWith({ iss: typeof iss === 'function' ? iss() : iss });
    expect(answer.status).toBe(400);
    expect(answer.body).toContain('issuer_mismatch');
    expect(answer.body).toContain('identity provider this app does not use');
    expect((await client.admin.stats()).tokenRequests).toBe(0);
  });

  it('refuses a mismatched iss on an error answer too', async () => {
    const answer = await callbackWith({ iss: 'https://evil.example/', error: 'access_denied' });
    expect(answer.status).toBe(400);
    expect(answer.body).toContain('issuer_mismatch');
  });

  it.each([
    ['the authority\'s issuer', () => ({ iss: issuer() })],
    ['no iss at all', () => ({})],
  ])('accepts %s: the code goes on to the token endpoint', async (_label, extra) => {
    await client.admin.resetStats();
    const answer = await callbackWith(extra());
    expect(answer.status).toBe(400);
    expect(answer.body).toContain('login_failed'); // the junk code, refused by Entra
    expect((await client.admin.stats()).tokenRequests).toBe(1);
  });

  it('a real sign-in still completes', async () => {
    const { last } = await signIn(new Browser(), app.url, emulators().entra.users[0]!.username);
    expect(last.status).toBe(200);
  });

  it('issuerMatches: exact for one tenant, any tenant GUID for the multi-tenant template', () => {
    const single = 'https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0';
    expect(issuerMatches(single, single)).toBe(true);
    expect(issuerMatches(single, `${single}/`)).toBe(false);
    const template = 'https://login.microsoftonline.com/{tenantid}/v2.0';
    expect(issuerMatches(template, single)).toBe(true);
    expect(issuerMatches(template, 'https://login.microsoftonline.com/not-a-guid/v2.0')).toBe(false);
    expect(issuerMatches(template, 'https://loginXmicrosoftonline.com/11111111-2222-3333-4444-555555555555/v2.0')).toBe(false);
    expect(issuerMatches(template, 'https://evil.example/11111111-2222-3333-4444-555555555555/v2.0')).toBe(false);
  });
});
