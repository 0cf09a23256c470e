/**
 * infra/entra-app.json is the one list of what the app's Entra registration holds (issue 13,
 * findings 8 and 9): every URL the app sends to Entra and the optional claims it reads. Here the
 * Bicep registration, the portal steps in docs/deploy.md and the app's code are held to it; the
 * emulated Entra is built from it (emulators/cli.ts), and test/flows/entra-urls.test.ts signs in and
 * out through that emulator and checks every URL the app sends against the list.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENTRA_APP, entraLogoutUrl, entraRedirectUris, portalSteps } from '../../emulators/entra-app';
import { callOf, get, infraFile, named, params, REPO_ROOT, resourcesOfType, stringValue, vars } from './bicep';

/** Claims in every v2.0 ID token Entra issues (Microsoft identity platform, ID token claims reference); any other claim the app reads must be an optional claim. */
const DEFAULT_ID_TOKEN_CLAIMS = ['aud', 'iss', 'iat', 'idp', 'nbf', 'exp', 'aio', 'c_hash', 'at_hash', 'name', 'nonce', 'oid', 'preferred_username', 'rh', 'sid', 'sub', 'tid', 'uti', 'ver'];

describe('infra/entra-app.json', () => {
  it('lists the sign-in callback, the page sign-out returns to and the admin-consent callback, as redirect URIs, and the front-channel logout URL', () => {
    expect(ENTRA_APP.urls.map(({ path, register, sentAs }) => ({ path, register, sentAs }))).toEqual([
      { path: '/api/callback', register: 'redirectUri', sentAs: 'redirect_uri' },
      { path: '/', register: 'redirectUri', sentAs: 'post_logout_redirect_uri' },
      { path: '/api/admin-consent/callback', register: 'redirectUri', sentAs: 'redirect_uri' },
      { path: '/api/logout/frontchannel', register: 'logoutUrl', sentAs: 'the front-channel logout URL' },
    ]);
    expect(entraLogoutUrl('https://func-x.azurewebsites.net')).toBe('https://func-x.azurewebsites.net/api/logout/frontchannel');
    expect(entraRedirectUris('https://func-x.azurewebsites.net')).toEqual([
      'https://func-x.azurewebsites.net/api/callback',
      'https://func-x.azurewebsites.net/',
      'https://func-x.azurewebsites.net/api/admin-consent/callback',
    ]);
  });

  it('lists every ID token claim the app reads that Entra only sends as an optional claim (login_hint, for logout_hint)', () => {
    const read = new Set<string>();
    const visit = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) visit(path);
        else if (entry.name.endsWith('.ts')) for (const m of readFileSync(path, 'utf8').matchAll(/stringClaim\(\s*claims\s*,\s*'([^']+)'\s*\)/g)) read.add(m[1]!);
      }
    };
    visit(join(REPO_ROOT, 'src'));
    expect([...read]).toContain('login_hint');
    const optional = [...read].filter((claim) => !DEFAULT_ID_TOKEN_CLAIMS.includes(claim)).sort();
    expect(ENTRA_APP.idTokenOptionalClaims.map((c) => c.name).sort()).toEqual(optional);
  });
});

describe('infra/app-registration.bicep registers what infra/entra-app.json lists', () => {
  it('loads the list next to it', async () => {
    const file = await infraFile('infra/app-registration.bicep');
    const load = callOf(vars(file).get('entraApp'), 'loadJsonContent');
    expect(load?.map((arg) => stringValue(arg))).toEqual(['entra-app.json']);
    expect(existsSync(join(REPO_ROOT, 'infra', 'entra-app.json'))).toBe(true);
  });

  it('web.redirectUris: PUBLIC_BASE_URL + path of every URL registered as a redirect URI, and nothing else', async () => {
    const file = await infraFile('infra/app-registration.bicep');
    const [app] = resourcesOfType(file, 'Microsoft.Graph/applications');
    const loop = get(app!.body, 'web.redirectUris')!;
    expect(loop.type).toBe('for_statement');
    // [for url in filter(entraApp.urls, u => u.register == 'redirectUri'): '${publicBaseUrl}${url.path}']
    const source = callOf(named(loop).find((n) => n.type === 'call_expression'), 'filter');
    expect(source?.map((n) => n.text.replace(/\s+/g, ''))).toEqual(['entraApp.urls', "u=>u.register=='redirectUri'"]);
    const variable = named(loop).find((n) => n.type === 'identifier' || n.type === 'loop_variable')?.text;
    expect(loop.childForFieldName('body')?.text).toBe(`'\${publicBaseUrl}\${${variable}.path}'`);
    expect(params(file).get('publicBaseUrl')?.defaultValue).toBeUndefined();
    expect(params(file).get('redirectUri')).toBeUndefined();
  });

  it('web.logoutUrl: PUBLIC_BASE_URL + the path of the one URL registered as the logout URL', async () => {
    const file = await infraFile('infra/app-registration.bicep');
    const [app] = resourcesOfType(file, 'Microsoft.Graph/applications');
    expect(ENTRA_APP.urls.filter((url) => url.register === 'logoutUrl')).toHaveLength(1);
    expect(get(app!.body, 'web.logoutUrl')?.text.replace(/\s+/g, '')).toBe("'${publicBaseUrl}${first(filter(entraApp.urls,u=>u.register=='logoutUrl')).path}'");
    expect(params(file).get('frontchannelLogoutUrl')).toBeUndefined();
  });

  it('optionalClaims.idToken: every optional claim of the list', async () => {
    const file = await infraFile('infra/app-registration.bicep');
    const [app] = resourcesOfType(file, 'Microsoft.Graph/applications');
    const loop = get(app!.body, 'optionalClaims.idToken')!;
    expect(loop.type).toBe('for_statement');
    expect(named(loop).some((n) => n.text === 'entraApp.idTokenOptionalClaims')).toBe(true);
    const body = loop.childForFieldName('body')!;
    expect(get(body, 'name')?.text).toMatch(/^[a-z]+\.name$/);
    expect(get(app!.body, 'optionalClaims.accessToken')).toBeUndefined();
    expect(get(app!.body, 'optionalClaims.saml2Token')).toBeUndefined();
  });
});

describe('the portal steps in docs/deploy.md show what infra/entra-app.json lists', () => {
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'deploy.md'), 'utf8');

  it.each(['redirect-uris', 'logout-url', 'optional-claims'] as const)('%s', (part) => {
    const block = new RegExp(`<!-- entra-app:${part} [^\\n]*-->\\n([\\s\\S]*?)\\n\\s*<!-- /entra-app:${part} -->`).exec(doc);
    expect(block).not.toBeNull();
    const shown = block![1]!.split('\n').map((line) => line.trim());
    expect(shown).toEqual(portalSteps(part));
  });
});
