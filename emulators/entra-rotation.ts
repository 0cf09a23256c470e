/**
 * Rotated refresh tokens, the Entra way.
 *
 * Every refresh returns a new refresh token, and Entra does not revoke the one that was redeemed:
 * it stays redeemable until its own expiry or a revocation (user revoked, password reset). Other
 * providers rotate with reuse detection: a rotated token presented again revokes the whole grant.
 * oidc-provider does the latter: it marks the redeemed token `consumed` and, when it sees a consumed
 * one again, destroys it and revokes the grant.
 *
 * So the store records a redemption as `consumed` only for clients with
 * `refreshTokenReuseDetection` on; for the others it records `rotated`, which oidc-provider does not
 * look at, and it redeems the old token again (rotating it again) however requests interleave.
 */
import type { StoredPayload } from './entra-store';

/** The refresh token's record after oidc-provider redeemed (rotated) it. */
export function markRedeemed(payload: StoredPayload, detectReuse: boolean, nowSeconds: number): void {
  if (detectReuse) payload.consumed = nowSeconds;
  else payload.rotated = nowSeconds;
}

/** Whether the refresh token was redeemed (and so rotated) before, under either setting. */
export function wasRedeemed(payload: StoredPayload): boolean {
  return payload.consumed !== undefined || payload.rotated !== undefined;
}

/** A token redeemed while reuse detection was on, presented after it was turned off: redeemable again. */
export function forgiveConsumption(payload: StoredPayload): void {
  if (payload.consumed === undefined) return;
  payload.rotated = payload.consumed;
  delete payload.consumed;
}
