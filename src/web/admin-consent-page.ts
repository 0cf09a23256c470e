import { htmlTemplate } from '../http/html-escape';
import { layout } from './pages';

export type AdminConsentView =
  | { readonly outcome: 'granted'; readonly tenant: string }
  | { readonly outcome: 'error'; readonly error: string; readonly description?: string | undefined }
  | { readonly outcome: 'unknown' };

/** The outcome of an admin consent; every value from the query is escaped and shortened. */
export function adminConsentPage(view: AdminConsentView): string {
  if (view.outcome === 'granted') {
    return layout(
      'Admin consent granted',
      htmlTemplate`<section class="card">
<h1>Admin consent granted</h1>
<p data-testid="consent-outcome">Your organization (tenant <code>${view.tenant.slice(0, 100)}</code>) has approved this app: its people can now sign in without a consent prompt.</p>
<p><a class="button" href="/">Go to the app</a></p>
</section>`,
    );
  }
  if (view.outcome === 'error') {
    return layout(
      'Admin consent not granted',
      htmlTemplate`<section class="card">
<h1>Admin consent was not granted</h1>
<p data-testid="consent-outcome">Microsoft reported <code>${view.error.slice(0, 100)}</code>. Try again, or ask a Global or Privileged Role Administrator of your organization to approve the app.</p>
${view.description ? htmlTemplate`<details><summary>Details from Microsoft</summary><p class="muted">${view.description.slice(0, 300)}</p></details>` : ''}
<p><a class="button" href="/api/admin-consent">Try again</a></p>
</section>`,
    );
  }
  return layout(
    'Admin consent',
    htmlTemplate`<section class="card">
<h1>This consent answer was not expected</h1>
<p data-testid="consent-outcome">It does not belong to an admin consent started from this browser in the last ten minutes. Start again from <a href="/api/admin-consent">/api/admin-consent</a>.</p>
<p class="muted">Error code: <code>bad_request</code></p>
</section>`,
  );
}
