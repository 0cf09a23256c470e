import type { AppError } from '../errors';
import type { MailMessage } from '../graph/mail-client';
import { htmlTemplate, type SafeHtml } from '../http/html-escape';

/** The shared page frame: one stylesheet, no script, works on a phone and a desktop. */
export const APP_NAME = 'Inbox Glance';

export interface SignedInHeader {
  readonly name: string;
  readonly username: string;
  /** Whose account: "personal account", or the organization's tenant id. */
  readonly organization?: string;
}

export function layout(title: string, content: SafeHtml, user?: SignedInHeader): string {
  return htmlTemplate`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · ${APP_NAME}</title>
<link rel="stylesheet" href="/api/assets/app.css">
</head>
<body>
<header class="topbar"><div class="topbar-inner">
<a class="brand" href="/"><span class="brand-mark" aria-hidden="true"></span>${APP_NAME}</a>
<span class="spacer"></span>
${
  user
    ? htmlTemplate`<span class="who" data-testid="who">Signed in as <strong>${user.name}</strong> (${user.username})${user.organization ? htmlTemplate`<span class="muted" data-testid="organization"> · ${user.organization}</span>` : ''}</span>
<form class="inline-form" method="post" action="/api/logout"><button type="submit" class="button secondary" data-testid="sign-out">Sign out</button></form>`
    : ''
}
</div></header>
<main class="page">
${content}
</main>
<footer class="footer">
<span>Your mail is read live from Microsoft 365; tokens stay on the server, never in your browser.</span>
${user ? htmlTemplate`<a href="/api/devices" data-testid="devices">Your devices</a> <a href="/api/forget" data-testid="delete-data">Delete my data</a>` : ''}
</footer>
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

export interface SignedOutView {
  /** Why the user sees the sign-in button again, when they were signed in before. */
  readonly notice?: string;
  readonly loginUrl: string;
}

export function signedOutPage(view: SignedOutView): string {
  return layout(
    'Sign in',
    htmlTemplate`<section class="card hero">
<h1>Your unread mail, at a glance</h1>
<p>${APP_NAME} shows your newest unread Outlook messages. Sign in once with your work or school account and stay signed in for weeks.</p>
${view.notice ? htmlTemplate`<p class="notice" data-testid="notice">${view.notice}</p>` : ''}
<a class="button" href="${view.loginUrl}" data-testid="sign-in"><span class="ms-logo" aria-hidden="true"><span></span><span></span><span></span><span></span></span>Sign in with Microsoft</a>
</section>`,
  );
}

export interface InboxView {
  readonly user: SignedInHeader;
  readonly messages: readonly MailMessage[];
  readonly nextUrl: string | undefined;
  readonly isFirstPage: boolean;
  /** A transient problem (Graph busy): the user stays signed in and can retry. */
  readonly problem?: string;
  /** When the session nears its absolute limit: the sentence saying when a sign-in will be needed. */
  readonly signInDue?: string | undefined;
}

/** Built on first use: an Intl.DateTimeFormat loads ICU data, 10-20 ms a cold start need not pay. */
let timeFormat: Intl.DateTimeFormat | undefined;

export function formatTime(iso: string): string {
  const time = Date.parse(iso);
  return Number.isNaN(time) ? '' : `${(timeFormat ??= new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' })).format(time)} UTC`;
}

/** Outlook links only: a message's webLink is data from the mailbox, so its scheme is checked. */
function safeWebLink(link: string): string | undefined {
  try {
    const url = new URL(link);
    return url.protocol === 'https:' ? url.href : undefined;
  } catch {
    return undefined;
  }
}

export function inboxPage(view: InboxView): string {
  const items = view.messages.map((m) => {
    const link = safeWebLink(m.webLink);
    return htmlTemplate`<li class="${m.isRead ? 'mail' : 'mail unread'}" data-testid="message">
<span class="from" title="${m.from.address}">${m.from.name || m.from.address || 'Unknown sender'}</span>
<time datetime="${m.receivedDateTime}">${formatTime(m.receivedDateTime)}</time>
${link ? htmlTemplate`<a class="subject" href="${link}" target="_blank" rel="noopener noreferrer" data-testid="subject">${m.subject || '(no subject)'}</a>` : htmlTemplate`<span class="subject" data-testid="subject">${m.subject || '(no subject)'}</span>`}
<span class="preview">${m.bodyPreview}</span>
</li>`;
  });
  return layout(
    'Unread mail',
    htmlTemplate`<section class="card">
<div class="mail-header"><h1>Unread mail</h1><span class="muted">${view.messages.length === 0 ? '' : `${view.messages.length} shown`}</span></div>
${view.signInDue ? htmlTemplate`<p class="notice" data-testid="sign-in-due">${view.signInDue}</p>` : ''}
${view.problem ? htmlTemplate`<p class="notice error" data-testid="problem">${view.problem}</p>` : ''}
${items.length > 0 ? htmlTemplate`<ul class="mail-list">${items}</ul>` : view.problem ? '' : htmlTemplate`<p class="empty" data-testid="empty">You are all caught up: no unread mail.</p>`}
<nav class="pager">
${view.isFirstPage ? htmlTemplate`<span></span>` : htmlTemplate`<a class="button secondary" href="/">Newest</a>`}
${view.nextUrl ? htmlTemplate`<a class="button secondary" href="${view.nextUrl}" data-testid="older">Older messages</a>` : ''}
</nav>
</section>`,
    view.user,
  );
}
