import type { AppError } from '../errors';
import { htmlTemplate, type SafeHtml } from '../http/html-escape';

/** The shared page frame: one stylesheet, no script, works on a phone and a desktop. */
export function layout(title: string, content: SafeHtml): string {
  return htmlTemplate`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="stylesheet" href="/api/assets/app.css">
</head>
<body>
<main class="page">
${content}
</main>
</body>
</html>
`.value;
}

export function errorPage(error: AppError): string {
  const loginUrl = typeof error.details?.['loginUrl'] === 'string' ? (error.details['loginUrl'] as string) : undefined;
  return layout(
    'Something went wrong',
    htmlTemplate`<section class="card">
<h1>${error.status >= 500 ? 'We could not finish that' : 'That did not work'}</h1>
<p>${error.message}</p>
<p class="muted">Error code: <code>${error.code}</code></p>
<p><a class="button" href="${loginUrl ?? '/'}">${loginUrl ? 'Sign in again' : 'Back to the start'}</a></p>
</section>`,
  );
}

export interface SignInErrorView {
  readonly code: string;
  readonly message: string;
  readonly retryUrl: string;
  /** Shown only when it is one of the codes the app recognises. */
  readonly providerError?: string | undefined;
  /** The provider's text: attacker-controllable, so escaped and shortened. */
  readonly description?: string | undefined;
}

export function signInErrorPage(view: SignInErrorView): string {
  const description = view.description ? view.description.slice(0, 300) : undefined;
  return layout(
    'Sign-in did not complete',
    htmlTemplate`<section class="card">
<h1>Sign-in did not complete</h1>
<p>${view.message}</p>
${description ? htmlTemplate`<details><summary>Details from Microsoft</summary><p class="muted">${view.providerError ?? ''} ${description}</p></details>` : ''}
<p class="muted">Error code: <code>${view.code}</code></p>
<p><a class="button" href="${view.retryUrl}">Try again</a> <a class="link" href="/">Back to the start</a></p>
</section>`,
  );
}

/** A same-origin form: signing out or forgetting changes state, so it takes a POST, never a GET. */
function confirmPage(title: string, lead: string, action: string, button: string, danger: boolean): string {
  return layout(
    title,
    htmlTemplate`<section class="card">
<h1>${title}</h1>
<p>${lead}</p>
<form method="post" action="${action}">
<button type="submit" class="${danger ? 'button danger' : 'button'}">${button}</button>
<a class="link" href="/">Cancel</a>
</form>
</section>`,
  );
}

export function logoutConfirmPage(): string {
  return confirmPage('Sign out?', 'You will be signed out of this app on this device.', '/api/logout', 'Sign out', false);
}

export function forgetConfirmPage(): string {
  return confirmPage(
    'Delete my data?',
    'This signs you out on every device and deletes everything this app holds about you: your sessions and the tokens it keeps to read your mail.',
    '/api/forget',
    'Delete my data',
    true,
  );
}

export function forgottenPage(): string {
  return layout(
    'Your data is deleted',
    htmlTemplate`<section class="card">
<h1>Your data is deleted</h1>
<p>You are signed out everywhere, and this app no longer holds any session or token for you.</p>
<h2>Also withdraw the app's permission</h2>
<p>Microsoft still records that you allowed this app to read your mail. To withdraw that:</p>
<ul>
<li><strong>You</strong>: open <a href="https://myapps.microsoft.com" rel="noreferrer">My Apps</a>, find this app, choose <em>Manage your application</em>, then <em>Revoke permissions</em>.</li>
<li><strong>Your administrator</strong>, for everyone in your organization: in the Microsoft Entra admin center, under <em>Enterprise applications</em>, delete this app's service principal (or run <code>az ad sp delete --id &lt;client id&gt;</code>).</li>
</ul>
<p><a class="button" href="/">Back to the start</a></p>
</section>`,
  );
}
