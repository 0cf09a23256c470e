/**
 * ALLOWED_TENANTS applied where it matters: the callback refuses a sign-in from a tenant the app
 * does not serve before anything is stored, and a session whose tenant has since left the list is
 * refused at its next request, its sessions and tokens removed.
 */
import type { InvocationContext } from '@azure/functions';
import type { Config } from '../config';
import { AppError, ErrorCode } from '../errors';
import type { Services } from '../services';
import type { ActiveSession } from './sessions';
import { checkSignInTenant, PERSONAL_ACCOUNTS_TENANT_ID, tenantAllowed } from './issuer';
import { loginUrl } from './claims';

export const TENANT_NOT_ALLOWED_MESSAGE =
  'Your organization is not (or no longer) allowed to use this app. Ask the app\'s administrator to allow it, or sign in with another account.';

export interface SignInRefusal {
  readonly code: 'tenant_not_allowed' | 'issuer_mismatch';
  readonly message: string;
  readonly retryUrl: string;
}

/**
 * The callback's tenant checks on the redeemed ID token (src/auth/issuer.ts), after the code
 * redemption and before any row is written; one log line names the tenant id (an organization's
 * id, not a person's). Undefined when the sign-in may go on.
 */
export function signInTenantRefusal(
  config: Pick<Config, 'cloudInstance' | 'allowedTenants'>,
  idTokenClaims: Readonly<Record<string, unknown>>,
  responseIss: string | null,
  context: Pick<InvocationContext, 'warn'>,
): SignInRefusal | undefined {
  const check = checkSignInTenant({ cloudInstance: config.cloudInstance, allowList: config.allowedTenants, idTokenClaims, responseIss });
  if (check.ok) return undefined;
  context.warn(`sign-in refused: ${check.code}, tenant ${check.tid ?? '(no valid tid)'}; nothing stored`);
  if (check.code === 'tenant_not_allowed') {
    const personal = check.tid === PERSONAL_ACCOUNTS_TENANT_ID;
    return {
      code: check.code,
      message: personal
        ? 'Personal Microsoft accounts are not allowed to use this app. Sign in with a work or school account.'
        : TENANT_NOT_ALLOWED_MESSAGE,
      retryUrl: '/api/login?prompt=select_account',
    };
  }
  return {
    code: check.code,
    message: 'This sign-in answer did not come from the Microsoft sign-in of the account\'s own organization. Start again from the app.',
    retryUrl: '/api/login',
  };
}

/**
 * A signed-in session whose tenant has left ALLOWED_TENANTS since it signed in: its sessions on
 * every device and its tokens are removed, and the request answers login_required saying why.
 * Pure when the tenant is allowed (the session's tenant id is in memory): a warm request stays free
 * of storage.
 */
export async function enforceSessionTenant(
  services: Pick<Services, 'config' | 'tokens' | 'sessions'>,
  session: Pick<ActiveSession, 'homeAccountId' | 'tenantId'>,
  returnTo: string,
  log: (message: string) => void,
): Promise<void> {
  if (tenantAllowed(services.config.allowedTenants, session.tenantId)) return;
  // Tokens first, as at "forget me": a failure here leaves a session that is refused again next time.
  await services.tokens.removeAccount(session.homeAccountId);
  const ended = await services.sessions.endAll(session.homeAccountId);
  log(`session refused: tenant_not_allowed, tenant ${session.tenantId}; removed ${ended} session(s) and the token cache`);
  throw new AppError(ErrorCode.LOGIN_REQUIRED, TENANT_NOT_ALLOWED_MESSAGE, {
    status: 401,
    details: { loginUrl: loginUrl(returnTo, undefined, 'login'), reason: ErrorCode.TENANT_NOT_ALLOWED },
  });
}
