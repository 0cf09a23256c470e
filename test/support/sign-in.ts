import { Browser, parseForm, type Hop } from './http-client';
import { emulators } from './emulators';

export interface SignInResult {
  readonly hops: Hop[];
  /** The final answer of the app after the callback (normally the returnTo page). */
  readonly last: Hop;
}

/**
 * Drives a browser through the whole sign-in: the app's /api/login, the emulated Entra's sign-in
 * form, and back through /api/callback, following every redirect.
 */
export async function signIn(
  browser: Browser,
  appUrl: string,
  who: string | { readonly username: string; readonly password: string },
  loginPath = '/api/login?returnTo=%2F',
): Promise<SignInResult> {
  // A seeded user by name, or any user with its password (created at runtime by entraAdmin.createUser).
  const user = typeof who === 'string' ? (emulators().entra.users.find((u) => u.username === who) ?? { username: who, password: 'Passw0rd!' }) : who;
  const hops = await browser.follow(`${appUrl}${loginPath}`);
  let page = hops.at(-1)!;
  // The sign-in page (and any interstitial form) is posted until we are back at the app.
  for (let step = 0; step < 5 && !page.url.startsWith(appUrl); step++) {
    const form = parseForm(page.body, page.url);
    const fields = { ...form.fields };
    if ('username' in fields || /name="username"/.test(page.body)) fields['username'] = user.username;
    if ('password' in fields || /name="password"/.test(page.body)) fields['password'] = user.password;
    const next = await browser.submit(form.action, fields);
    hops.push(...next);
    page = next.at(-1)!;
  }
  return { hops, last: page };
}

/**
 * The same browser at another instance of the app (same storage and keys), as behind a load
 * balancer: the session cookie is host-only (`__Host-`), so it is copied to the other origin.
 */
export function carrySession(browser: Browser, from: { readonly url: string }, to: { readonly url: string }): void {
  browser.jar.set(to.url, '__Host-session', browser.jar.get(from.url, '__Host-session')!.value);
}

/** The app's authorize redirect and the transaction cookie, without completing the sign-in. */
export async function startLogin(browser: Browser, appUrl: string, query = 'returnTo=%2F'): Promise<Hop> {
  return browser.request(`${appUrl}/api/login?${query}`);
}

export { Browser };
