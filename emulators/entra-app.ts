/**
 * The app's Entra registration as data (infra/entra-app.json): the URLs the app sends to Entra and
 * the optional claims it reads. One list for every place that registers the app: the emulated
 * Entra (emulators/cli.ts), infra/app-registration.bicep (which loads the same JSON) and the portal
 * steps in docs/deploy.md (portalSteps(), checked by test/infra/entra-app.test.ts).
 */
import registration from '../infra/entra-app.json';

/** Where a URL goes in the registration (Microsoft Graph application resource). */
export type RegisterAs = 'redirectUri' | 'logoutUrl';

export interface EntraAppUrl {
  /** Appended to PUBLIC_BASE_URL. */
  readonly path: string;
  readonly register: RegisterAs;
  /** The protocol parameter the app sends it in (for the logout URL: what Entra calls it). */
  readonly sentAs: string;
  /** Which of the app's requests send it. */
  readonly by: string;
}

export interface EntraOptionalClaim {
  readonly name: string;
  readonly why: string;
}

export interface EntraAppRegistration {
  readonly urls: readonly EntraAppUrl[];
  readonly idTokenOptionalClaims: readonly EntraOptionalClaim[];
}

export const ENTRA_APP: EntraAppRegistration = registration as EntraAppRegistration;

/** PUBLIC_BASE_URL (an origin, no trailing slash) + path, for each URL registered as a redirect URI. */
export function entraRedirectUris(publicBaseUrl: string, app: EntraAppRegistration = ENTRA_APP): string[] {
  return app.urls.filter((url) => url.register === 'redirectUri').map((url) => `${publicBaseUrl}${url.path}`);
}

/** The path of the front-channel logout URL (web.logoutUrl); Entra holds one. */
export function entraLogoutPath(app: EntraAppRegistration = ENTRA_APP): string | undefined {
  return app.urls.find((u) => u.register === 'logoutUrl')?.path;
}

/** PUBLIC_BASE_URL + path of the front-channel logout URL. */
export function entraLogoutUrl(publicBaseUrl: string, app: EntraAppRegistration = ENTRA_APP): string | undefined {
  const path = entraLogoutPath(app);
  return path === undefined ? undefined : `${publicBaseUrl}${path}`;
}

/** The Markdown lines docs/deploy.md shows between its `<!-- entra-app:<part> -->` markers. */
export function portalSteps(part: 'redirect-uris' | 'logout-url' | 'optional-claims', app: EntraAppRegistration = ENTRA_APP): string[] {
  if (part === 'logout-url') {
    return app.urls.filter((url) => url.register === 'logoutUrl').map((url) => `- \`https://<host>${url.path}\`: ${url.by}`);
  }
  if (part === 'redirect-uris') {
    return app.urls.filter((url) => url.register === 'redirectUri').map((url) => `- \`https://<host>${url.path}\`: the app sends it as \`${url.sentAs}\` (${url.by})`);
  }
  return app.idTokenOptionalClaims.map((claim) => `- \`${claim.name}\`: ${claim.why}`);
}
