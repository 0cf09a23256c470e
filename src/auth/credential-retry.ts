import type { ClientCredentialProvider } from '../secrets/types';
import { classifyTokenError } from './msal-errors';

/**
 * Runs a token call; when Entra rejects the app's credential (`invalid_client`: a rotated or
 * expired secret), renews it from the vault and runs the call once more. With the new secret
 * version in the vault before the old one is removed from Entra, rotation costs no failed request.
 */
export async function withCredentialRetry<T>(credentials: ClientCredentialProvider, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (classifyTokenError(error).kind !== 'invalid_client') throw error;
    if (!(await credentials.renew())) throw error;
    return call();
  }
}
