/** What a caller gets: the access token and when it expires (MSAL's result has these and more). */
export interface AccessToken {
  readonly accessToken: string;
  readonly expiresOn: Date | null;
}

export interface AcquireOptions {
  /** Claims from a CAE challenge: forces a refresh that carries them. */
  readonly claims?: string;
  /** Skip the cached access token (Graph rejected it). */
  readonly forceRefresh?: boolean;
  /** Where the loginUrl of a login_required error brings the user back to. */
  readonly returnTo?: string;
  /**
   * The session's confirmation in storage, when it may still be under way (Sessions
   * `currentUnconfirmed`): a token from memory needs no wait, but nothing goes to storage or Entra
   * (a refresh) for a session until storage has confirmed it; false answers login_required.
   */
  readonly sessionConfirmed?: Promise<boolean>;
}

/** Per-user token operations over the persisted MSAL cache. */
export interface TokenService {
  /** Stores the MSAL cache of a fresh sign-in into the user's partition (merged with what is there). */
  saveSignIn(homeAccountId: string, serializedCache: string): Promise<void>;
  /**
   * An access token for the account: from the cache when still valid (no storage write), else
   * refreshed once for all concurrent callers. Throws AppError login_required (401, with claims
   * carried into loginUrl) when the user must sign in again, 503 on transient failures.
   */
  acquire(homeAccountId: string, scopes: readonly string[], options?: AcquireOptions): Promise<AccessToken>;
  /**
   * Removes every token the app holds for the account (sign-out, forget me). With `onlyIf`, only
   * when it answers true, and only if no sign-in has stored tokens since it was asked (the tokens
   * are then that sign-in's). Resolves whether tokens were removed.
   */
  removeAccount(homeAccountId: string, options?: { onlyIf?: () => Promise<boolean> }): Promise<boolean>;
}
