/**
 * Front-channel sign-out in the emulated Entra (OpenID Connect Front-Channel Logout 1.0, as Entra
 * does it): every ID token carries `sid`, the sign-in session's id for that app, and the sign-out
 * page loads each signed-in app's front-channel logout URL with `?sid=` in a hidden iframe before
 * it finishes, so apps end their own sessions even though the iframe carries none of their cookies.
 *
 * Where it differs from Entra: Entra calls the one URL registered on the app registration. Here the
 * URL is `frontchannelLogoutPath` on the origin of the redirect URI the sign-in came back to, so
 * every app a test starts on its own loopback port gets its own call (as redirect URIs already
 * match loopback hosts on any port). `sid` is oidc-provider's per-client session id.
 */
import { entraLogoutPath } from './entra-app';
import { escapeHtml } from './entra-pages';

/** The path apps serve front-channel sign-out at, by default: this app's registered one (infra/entra-app.json). */
export const DEFAULT_FRONTCHANNEL_LOGOUT_PATH = entraLogoutPath() ?? null;
/** How long the sign-out page waits for the iframes before it carries on anyway. */
const FRAME_WAIT_MS = 3000;
const MAX_REMEMBERED = 10_000;

/** For each sid handed out: the origin the sign-in's redirect URI named. */
export class FrontchannelTargets {
  readonly #originBySid = new Map<string, string>();

  constructor(private readonly path: string | null) {}

  /** Called when a code is redeemed: `sid` is the one written into the ID token. */
  record(sid: string, redirectUri: string | undefined): void {
    if (this.path === null || !redirectUri) return;
    let origin: string;
    try {
      origin = new URL(redirectUri).origin;
    } catch {
      return;
    }
    this.#originBySid.delete(sid);
    this.#originBySid.set(sid, origin);
    for (const oldest of this.#originBySid.keys()) {
      if (this.#originBySid.size <= MAX_REMEMBERED) break;
      this.#originBySid.delete(oldest);
    }
  }

  /** The front-channel URLs to load for a browser session's apps (oidc-provider's session.authorizations). */
  urlsFor(authorizations: Readonly<Record<string, { readonly sid?: string }>> | undefined): string[] {
    if (this.path === null || !authorizations) return [];
    const urls: string[] = [];
    for (const { sid } of Object.values(authorizations)) {
      const origin = sid === undefined ? undefined : this.#originBySid.get(sid);
      if (origin === undefined || sid === undefined) continue;
      const url = new URL(this.path, origin);
      url.searchParams.set('sid', sid);
      urls.push(url.href);
    }
    return urls;
  }
}

/** The iframes, and the CSP sources the sign-out page needs to load them. */
export function frontchannelFrames(urls: readonly string[]): { html: string; frameSrc: string } {
  return {
    html: urls.map((u) => `<iframe class="fc" hidden title="Signing out of an app" src="${escapeHtml(u)}"></iframe>`).join('\n'),
    frameSrc: [...new Set(urls.map((u) => new URL(u).origin))].join(' '),
  };
}

/** The sign-out form is submitted once every iframe has loaded, or after FRAME_WAIT_MS. */
export function submitAfterFrames(formId: string): string {
  return `(function () {
  var frames = Array.prototype.slice.call(document.querySelectorAll('iframe.fc'));
  var pending = frames.length, done = false;
  function go() { if (done) return; done = true; document.getElementById(${JSON.stringify(formId)}).submit(); }
  if (pending === 0) return go();
  frames.forEach(function (f) { f.addEventListener('load', function () { if (--pending === 0) go(); }); f.addEventListener('error', function () { if (--pending === 0) go(); }); });
  setTimeout(go, ${FRAME_WAIT_MS});
})();`;
}
