/**
 * Seed data for the Graph stand-in: messages shaped like Microsoft Graph `message` resources, and a
 * deterministic generator of a realistic mailbox (~25 messages, read and unread) per user oid.
 *
 * Every seeded mailbox holds hostile content on purpose, so the app's escaping is exercised:
 * an unread message whose subject is markup (`XSS_SUBJECT`), an unread message from a sender whose
 * display name contains a `<script>` element (`XSS_SENDER_NAME`), quotes and ampersands, an empty
 * subject, a very long subject, and non-ASCII text.
 */
import { createHash } from 'node:crypto';

export interface EmailAddress {
  readonly name: string;
  readonly address: string;
}

export interface Recipient {
  readonly emailAddress: EmailAddress;
}

/** The subset of Graph's `message` resource the stand-in stores and serves. */
export interface GraphMessage {
  readonly id: string;
  readonly subject: string;
  readonly bodyPreview: string;
  /** ISO 8601 UTC, seconds precision, `Z` suffix, like Graph. */
  readonly receivedDateTime: string;
  readonly sentDateTime: string;
  readonly isRead: boolean;
  readonly webLink: string;
  readonly from: Recipient;
  readonly toRecipients: readonly Recipient[];
  readonly importance: 'low' | 'normal' | 'high';
  readonly hasAttachments: boolean;
  readonly conversationId: string;
  readonly body: { readonly contentType: 'text' | 'html'; readonly content: string };
}

/** A user of the emulated tenant; `oid` is the token's object id claim. */
export interface SeedUser {
  readonly oid: string;
  readonly name: string;
  readonly email: string;
}

export const XSS_SUBJECT = '<img src=x onerror=alert(1)>';
export const XSS_SENDER_NAME = '<script>alert("sender")</script> Mallory';
export const XSS_SENDER_ADDRESS = 'mallory@fabrikam.example';

/**
 * Two demo users, for a CLI that has no users of its own. The Entra stand-in decides who exists;
 * these oids only matter if it uses them too.
 */
export const DEMO_USERS: readonly SeedUser[] = [
  { oid: '6f1c8f5e-2f0b-4c1e-9a43-6a8d2b1f0a01', name: 'Adele Vance', email: 'adele.vance@contoso.example' },
  { oid: '0b7e4d92-8c5a-4f3e-b1d6-3e9a7c2f5b02', name: 'Alex Wilber', email: 'alex.wilber@contoso.example' },
];

interface Template {
  readonly from: EmailAddress;
  readonly subject: string;
  readonly preview: string;
  readonly unread: boolean;
  readonly importance?: 'low' | 'high';
  readonly attachments?: boolean;
}

const TEMPLATES: readonly Template[] = [
  { from: { name: 'Megan Bowen', address: 'megan.bowen@contoso.example' }, subject: 'Q3 planning offsite: agenda draft', preview: 'Hi all, attached is the first draft of the agenda for the offsite. Please add your topics by Thursday.', unread: true, attachments: true },
  { from: { name: 'Microsoft 365 Message center', address: 'o365mc@microsoft.example' }, subject: 'Weekly digest: Microsoft service updates', preview: 'Message center: 4 new updates for your organization this week, including retirement notices.', unread: true },
  { from: { name: 'Isaiah Langer', address: 'isaiah.langer@contoso.example' }, subject: 'Re: Build pipeline flaky on main', preview: 'I bisected it to the cache restore step; the retry logic masks a 409 from storage. PR incoming.', unread: true },
  { from: { name: 'Security Alerts', address: 'alerts@contoso.example' }, subject: XSS_SUBJECT, preview: 'If you can read this subject as text, the page escapes it correctly.', unread: true, importance: 'high' },
  { from: { name: 'Lee Gu', address: 'lee.gu@contoso.example' }, subject: 'Lunch on Friday?', preview: 'The new ramen place on 5th opened. 12:30 works for me, shall I book for four?', unread: false },
  { from: { name: XSS_SENDER_NAME, address: XSS_SENDER_ADDRESS }, subject: 'Invoice #4471 overdue', preview: 'Please review the attached invoice & confirm "payment" <today>. Regards, Accounts', unread: true, attachments: true },
  { from: { name: 'Nestor Wilke', address: 'nestor.wilke@contoso.example' }, subject: 'Travel request approved', preview: 'Your travel request TR-2291 to Seattle (Oct 14-17) has been approved. Book through the portal.', unread: false },
  { from: { name: 'Patti Fernandez', address: 'patti.fernandez@contoso.example' }, subject: 'Customer escalation: Fabrikam outage follow-up', preview: 'Fabrikam wants a written RCA by Monday. Can you own the timeline section?', unread: true, importance: 'high' },
  { from: { name: 'GitHub', address: 'noreply@github.example' }, subject: '[contoso/bff] Dependabot: bump @azure/identity', preview: 'Bumps @azure/identity from 4.13.0 to 4.14.1. Release notes, changelog and commits are included.', unread: false },
  { from: { name: 'Johanna Lorenz', address: 'johanna.lorenz@contoso.example' }, subject: 'Grüße aus München: Workshop-Unterlagen', preview: 'Hallo! Anbei die Folien vom Workshop. Schöne Grüße, Johanna', unread: false, attachments: true },
  { from: { name: 'Diego Siciliani', address: 'diego.siciliani@contoso.example' }, subject: '', preview: 'Quick one: are we still on for the 3pm sync? (sent without a subject)', unread: true },
  { from: { name: 'HR Team', address: 'hr@contoso.example' }, subject: 'Open enrollment closes in 5 days', preview: 'Reminder: benefits open enrollment closes on the 30th. Review your selections in the HR portal.', unread: false },
  { from: { name: 'Grady Archie', address: 'grady.archie@contoso.example' }, subject: 'Design review notes: token cache partitioning', preview: 'Summary: one row per user, ETag on every write, eviction after 90 days idle. Open question: encryption key rotation.', unread: false },
  { from: { name: 'Lidia Holloway', address: 'lidia.holloway@contoso.example' }, subject: 'Re: Re: Re: Budget FY26 — final numbers', preview: 'Numbers look good. One correction in row 14: the licence line should be 12,400 not 14,200.', unread: true },
  { from: { name: 'Azure DevOps', address: 'azuredevops@microsoft.example' }, subject: 'Build succeeded: bff-ci #1842', preview: 'Build bff-ci #1842 succeeded in 6m 12s. Triggered by a push to main.', unread: false, importance: 'low' },
  { from: { name: 'Joni Sherman', address: 'joni.sherman@contoso.example' }, subject: 'Team photo 📸', preview: 'Here is the photo from Tuesday. Everyone looks great (mostly) 😄', unread: false, attachments: true },
  { from: { name: 'Miriam Graham', address: 'miriam.graham@contoso.example' }, subject: 'Can you review my PR before EOD?', preview: 'It is the one adding retry budgets to the Graph client. Small diff, big comments.', unread: false },
  { from: { name: 'IT Service Desk', address: 'servicedesk@contoso.example' }, subject: 'Scheduled maintenance: VPN gateway Saturday 02:00-04:00 UTC', preview: 'The VPN gateway will be unavailable during the window. No action is required.', unread: false },
  {
    from: { name: 'Pradeep Gupta', address: 'pradeep.gupta@contoso.example' },
    subject:
      'A very long subject line that keeps going to check that the page truncates or wraps it without breaking the layout, because some mail clients allow subjects of almost any length and people do use them',
    preview: 'Long subject, short body.',
    unread: false,
  },
  { from: { name: 'Alex Wilber', address: 'alex.wilber@contoso.example' }, subject: 'Notes from the customer call', preview: "They asked about SSO with their own IdP and whether sessions survive a password reset. Answer: they don't.", unread: false },
  { from: { name: 'Contoso News', address: 'news@contoso.example' }, subject: 'This week at Contoso: all-hands recap', preview: 'Highlights from the all-hands, new hires, and the volunteering day sign-up link.', unread: false, importance: 'low' },
  { from: { name: 'Adele Vance', address: 'adele.vance@contoso.example' }, subject: 'Quarterly access review', preview: 'Please confirm the people on your team still need access to the finance share by Friday.', unread: false },
  { from: { name: 'نور الهدى', address: 'nour@fabrikam.example' }, subject: 'مرحبا — meeting confirmation', preview: 'Confirming Tuesday 10:00. شكرا!', unread: false },
  { from: { name: 'Henrietta Mueller', address: 'henrietta.mueller@contoso.example' }, subject: 'Re: Key Vault secret rotation runbook', preview: 'Step 4 should say: add the new version first, wait for the app to pick it up, then disable the old one.', unread: false },
  { from: { name: 'Welcome', address: 'welcome@contoso.example' }, subject: 'Welcome to Contoso!', preview: 'Your account is ready. Here are a few links to get you started.', unread: false },
];

/** A deterministic Graph-looking message id (base64url of a hash, with Graph's `AAMk` prefix). */
export function messageId(oid: string, index: number): string {
  const digest = createHash('sha256').update(`${oid}:${index}`).digest('base64url');
  return `AAMkAG${digest}${digest.slice(0, 40)}AAA=`;
}

/** Outlook on the web link of a message, in the shape Graph returns. */
export function webLinkFor(id: string): string {
  return `https://outlook.office365.com/owa/?ItemID=${encodeURIComponent(id)}&exvsurl=1&viewmodel=ReadMessageItem`;
}

/** ISO 8601 UTC with seconds precision and a `Z`, as Graph formats DateTimeOffset values. */
export function graphDateTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

export interface SeedOptions {
  /** The newest message is received shortly before this time (ms). Default Date.now(). */
  readonly now?: number;
  /** How many messages; the templates repeat (with distinct ids) past 25. Default 25. */
  readonly count?: number;
}

/**
 * A realistic mailbox for one user: newest first, a mix of read and unread, including the hostile
 * messages described at the top of this file. Same oid + same `now` -> same mailbox.
 */
export function seedMailbox(oid: string, owner: EmailAddress, options: SeedOptions = {}): GraphMessage[] {
  const now = options.now ?? Date.now();
  const count = options.count ?? TEMPLATES.length;
  const messages: GraphMessage[] = [];
  let received = now - 7 * 60_000;
  for (let i = 0; i < count; i++) {
    const template = TEMPLATES[i % TEMPLATES.length] as Template;
    // 2 to 30 hours between messages, stable per (oid, i)
    const gapHours = 2 + (hashInt(`${oid}/gap/${i}`) % 29);
    if (i > 0) received -= gapHours * 3_600_000 + (hashInt(`${oid}/min/${i}`) % 3_600) * 1000;
    const id = messageId(oid, i);
    messages.push({
      id,
      subject: template.subject,
      bodyPreview: template.preview,
      receivedDateTime: graphDateTime(received),
      sentDateTime: graphDateTime(received - 5_000 - (hashInt(`${oid}/sent/${i}`) % 55_000)),
      isRead: i >= TEMPLATES.length ? true : !template.unread,
      webLink: webLinkFor(id),
      from: { emailAddress: { ...template.from } },
      toRecipients: [{ emailAddress: { name: owner.name, address: owner.address } }],
      importance: template.importance ?? 'normal',
      hasAttachments: template.attachments ?? false,
      conversationId: `AAQkAG${createHash('sha256').update(`${oid}/conv/${i}`).digest('base64url').slice(0, 40)}=`,
      body: { contentType: 'text', content: template.preview },
    });
  }
  return messages;
}

/** Mailboxes for several users, keyed by oid, ready for `startGraph({ mailboxes })`. */
export function seedMailboxes(users: readonly SeedUser[], options: SeedOptions = {}): Record<string, GraphMessage[]> {
  const result: Record<string, GraphMessage[]> = {};
  for (const user of users) result[user.oid] = seedMailbox(user.oid, { name: user.name, address: user.email }, options);
  return result;
}

/**
 * Completes a message given by a test (`PUT /_emulator/mailboxes/<oid>`): missing fields get
 * Graph-like defaults. Throws a TypeError naming the field when a present field has the wrong type.
 */
export function normalizeMessage(input: unknown, oid: string, index: number, now: number = Date.now()): GraphMessage {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new TypeError(`message ${index} is not an object`);
  const m = input as Record<string, unknown>;
  const str = (name: string, fallback: string): string => {
    const value = m[name];
    if (value === undefined) return fallback;
    if (typeof value !== 'string') throw new TypeError(`message ${index}: ${name} must be a string`);
    return value;
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const value = m[name];
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') throw new TypeError(`message ${index}: ${name} must be a boolean`);
    return value;
  };
  const dateTime = (name: string, fallback: string): string => {
    const value = str(name, fallback);
    const ms = Date.parse(value);
    if (Number.isNaN(ms)) throw new TypeError(`message ${index}: ${name} must be an ISO 8601 date-time`);
    return graphDateTime(ms);
  };
  const address = (value: unknown, field: string): EmailAddress => {
    const email = (value as { emailAddress?: unknown } | null | undefined)?.emailAddress as Record<string, unknown> | undefined;
    if (!email || typeof email !== 'object' || typeof email['address'] !== 'string') throw new TypeError(`message ${index}: ${field} must be { emailAddress: { name, address } }`);
    return { name: typeof email['name'] === 'string' ? email['name'] : email['address'], address: email['address'] };
  };

  const id = str('id', messageId(oid, 1_000_000 + index));
  const receivedDateTime = dateTime('receivedDateTime', graphDateTime(now - index * 3_600_000));
  const bodyPreview = str('bodyPreview', '');
  const importance = str('importance', 'normal');
  if (importance !== 'low' && importance !== 'normal' && importance !== 'high') throw new TypeError(`message ${index}: importance must be low, normal or high`);
  const toRaw = m['toRecipients'];
  if (toRaw !== undefined && !Array.isArray(toRaw)) throw new TypeError(`message ${index}: toRecipients must be an array`);
  const toList: unknown[] = Array.isArray(toRaw) ? toRaw : [];
  return {
    id,
    subject: str('subject', ''),
    bodyPreview,
    receivedDateTime,
    sentDateTime: dateTime('sentDateTime', receivedDateTime),
    isRead: bool('isRead', false),
    webLink: str('webLink', webLinkFor(id)),
    from: { emailAddress: m['from'] === undefined ? { name: 'Sender', address: 'sender@example.com' } : address(m['from'], 'from') },
    toRecipients: toList.map((r) => ({ emailAddress: address(r, 'toRecipients') })),
    importance,
    hasAttachments: bool('hasAttachments', false),
    conversationId: str('conversationId', `AAQkAG${createHash('sha256').update(`${id}/conv`).digest('base64url').slice(0, 40)}=`),
    body: { contentType: 'text', content: bodyPreview },
  };
}

function hashInt(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0);
}
