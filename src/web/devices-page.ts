import type { DeviceView } from '../auth/sessions';
import { htmlTemplate } from '../http/html-escape';
import { formatTime, layout, type SignedInHeader } from './pages';

/** How long before the absolute limit the pages say that a sign-in will be needed. */
export const SIGN_IN_DUE_NOTICE_MS = 7 * 24 * 60 * 60 * 1000;

/** The sentence the pages show when the session ends for good within SIGN_IN_DUE_NOTICE_MS, else undefined. */
export function signInDueNotice(absoluteExpiresAt: number, now: number): string | undefined {
  if (absoluteExpiresAt - now > SIGN_IN_DUE_NOTICE_MS) return undefined;
  return `For your security, this sign-in ends on ${formatTime(new Date(absoluteExpiresAt).toISOString())}. You will need to sign in with Microsoft again after that.`;
}

export interface DevicesView {
  readonly user: SignedInHeader;
  readonly devices: readonly DeviceView[];
  readonly signInDue?: string | undefined;
}

/**
 * "Your devices": every device signed in to the app, with a sign-out for each and one for all the
 * others. Server-rendered; the buttons work through /api/assets/devices.js (same-origin file, the
 * CSP allows no inline script), which sends the API's `X-CSRF: 1`. This device signs out with the
 * usual form, which also ends the Microsoft session.
 */
export function devicesPage(view: DevicesView): string {
  const others = view.devices.filter((d) => !d.current);
  const rows = view.devices.map(
    (d) => htmlTemplate`<li class="device" data-testid="device">
<div class="device-text">
<span class="device-name">${d.device}${d.current ? htmlTemplate` <span class="tag" data-testid="this-device">This device</span>` : ''}</span>
<span class="muted">Signed in ${formatTime(new Date(d.createdAt).toISOString())} · last active ${formatTime(new Date(d.lastSeenAt).toISOString())}</span>
</div>
${
  d.current
    ? htmlTemplate`<form class="inline-form" method="post" action="/api/logout"><button type="submit" class="button secondary">Sign out</button></form>`
    : htmlTemplate`<form class="inline-form" data-endpoint="/api/sessions/${d.id}/end"><button type="submit" class="button secondary" data-testid="end-device">Sign out</button></form>`
}
</li>`,
  );
  return layout(
    'Your devices',
    htmlTemplate`<section class="card">
<h1>Your devices</h1>
<p class="muted">Where you are signed in to this app. Signing a device out here takes effect at once; to sign out of Microsoft everywhere, use your Microsoft account settings.</p>
${view.signInDue ? htmlTemplate`<p class="notice" data-testid="sign-in-due">${view.signInDue}</p>` : ''}
<p id="devices-status" class="status" role="status" aria-live="polite"></p>
<noscript><p class="notice">Signing other devices out needs JavaScript turned on for this site.</p></noscript>
<ul class="device-list">${rows}</ul>
${
  others.length > 0
    ? htmlTemplate`<form data-endpoint="/api/sessions/end-others"><button type="submit" class="button danger" data-testid="end-others">Sign out everywhere else</button></form>`
    : htmlTemplate`<p class="muted" data-testid="only-device">This is the only device signed in.</p>`
}
<p><a class="link" href="/">Back to your mail</a></p>
</section>
<script src="/api/assets/devices.js" defer></script>`,
    view.user,
  );
}
