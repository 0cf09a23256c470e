/**
 * Signing users in through the real flow, outside jest: the tests' cookie-jar browser and sign-in
 * driver (test/support), with a check that the sign-in really ended signed in.
 */
import { Browser, type Hop } from '../test/support/http-client';
import { signIn as driveSignIn } from '../test/support/sign-in';

export { Browser, type Hop };

/**
 * Signs `user` in at `appUrl` (its /api/login) and returns the app's final answer. `returnTo` is a
 * page that does no token work, so sign-in costs nothing that is measured later.
 */
export async function signIn(browser: Browser, appUrl: string, user: { username: string; password: string }, returnTo = '/api/health'): Promise<Hop> {
  const { last: page } = await driveSignIn(browser, appUrl, user, `/api/login?returnTo=${encodeURIComponent(returnTo)}`);
  if (!page.url.startsWith(appUrl) || page.status !== 200) {
    throw new Error(`sign-in of ${user.username} at ${appUrl} ended at ${page.url} with ${page.status}: ${page.body.slice(0, 300)}`);
  }
  return page;
}
