import type { AuthenticationResult } from '@azure/msal-node';

/** Per-user token operations over the persisted MSAL cache. */
export interface TokenService {
  /** Stores the MSAL cache of a fresh sign-in into the user's partition (merged with what is there). */
  saveSignIn(homeAccountId: string, serializedCache: string): Promise<void>;
  /**
   * An access token for the account: from the cache when still valid (no storage write), else
   * refreshed once for all concurrent callers. Throws AppError login_required (401, with claims
   * carried into loginUrl) when the user must sign in again, 503 on transient failures.
   */
  acquire(homeAccountId: string, scopes: readonly string[], options?: { readonly claims?: string; readonly returnTo?: string }): Promise<AuthenticationResult>;
  /** Removes every token the app holds for the account (sign-out, forget me). */
  removeAccount(homeAccountId: string): Promise<void>;
}
