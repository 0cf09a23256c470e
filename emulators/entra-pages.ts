/**
 * HTML of the emulated Entra ID: the sign-in page, the sign-out page and error pages. Plain,
 * self-contained HTML (no external fonts or scripts), every dynamic value escaped.
 */

export function escapeHtml(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const STYLE = `
*{box-sizing:border-box}
body{margin:0;min-height:100vh;font-family:"Segoe UI","Segoe UI Web",-apple-system,BlinkMacSystemFont,Roboto,"Helvetica Neue",Arial,sans-serif;
  background:linear-gradient(135deg,#e8eef7 0%,#f3f2f1 55%,#e9e4f2 100%);color:#1b1b1b;display:flex;align-items:center;justify-content:center;padding:24px}
main{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start;justify-content:center}
.card{background:#fff;width:440px;max-width:100%;padding:44px;box-shadow:0 2px 6px rgba(0,0,0,.2);}
.brand{display:flex;align-items:center;gap:10px;font-size:15px;color:#5e5e5e;font-weight:600}
.logo{display:grid;grid-template-columns:10px 10px;gap:2px}
.logo span{width:10px;height:10px;display:block}
.logo span:nth-child(1){background:#f25022}.logo span:nth-child(2){background:#7fba00}
.logo span:nth-child(3){background:#00a4ef}.logo span:nth-child(4){background:#ffb900}
h1{font-size:24px;font-weight:600;margin:20px 0 12px}
p{font-size:15px;line-height:1.45;margin:8px 0}
label{display:block;font-size:13px;color:#5e5e5e;margin-top:14px}
input[type=text],input[type=email],input[type=password]{width:100%;font-size:15px;padding:6px 0;border:0;border-bottom:1px solid #666;outline:none;background:transparent}
input:focus{border-bottom-color:#0067b8}
.actions{display:flex;flex-direction:row-reverse;justify-content:flex-start;gap:8px;margin-top:28px}
button{font-size:15px;min-width:108px;padding:6px 12px;border:0;cursor:pointer}
button.primary{background:#0067b8;color:#fff}button.primary:hover{background:#005da6}
button.secondary{background:#cccccc;color:#1b1b1b}button.secondary:hover{background:#bbb}
.error{color:#e81123;font-size:15px;margin:10px 0}
.app{font-size:13px;color:#5e5e5e}
.note{width:300px;max-width:100%;background:#fffbe6;border-left:4px solid #ffb900;padding:16px 20px;font-size:13px;box-shadow:0 1px 3px rgba(0,0,0,.15)}
.note h2{font-size:14px;margin:0 0 8px}
.note table{border-collapse:collapse;width:100%}
.note td{padding:3px 4px;vertical-align:top}
.note code{font-family:Consolas,Menlo,monospace;font-size:12px}
footer{margin-top:28px;font-size:12px;color:#767676}
`;

function layout(title: string, body: string, nonce?: string, script?: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${body}
${script && nonce ? `<script nonce="${escapeHtml(nonce)}">${script}</script>` : ''}
</body>
</html>`;
}

const BRAND = `<div class="brand"><div class="logo" aria-hidden="true"><span></span><span></span><span></span><span></span></div>Emulated Entra ID</div>`;

export interface SignInPageModel {
  readonly action: string;
  readonly username?: string;
  readonly error?: string;
  readonly appName: string;
  readonly tenantId: string;
  readonly testAccounts: readonly { readonly username: string; readonly name: string }[];
  readonly passwordHint: string;
}

/** "Sign in" comes first in the form so that Enter submits it; the row is reversed to show Cancel on the left. */
export function signInPage(model: SignInPageModel): string {
  const accounts = model.testAccounts
    .map((a) => `<tr><td><code>${escapeHtml(a.username)}</code></td><td>${escapeHtml(a.name)}</td></tr>`)
    .join('');
  return layout(
    'Sign in — Emulated Entra ID',
    `<main>
<section class="card" aria-labelledby="title">
${BRAND}
<h1 id="title">Sign in</h1>
<p class="app">to continue to <strong>${escapeHtml(model.appName)}</strong></p>
${model.error ? `<p class="error" role="alert">${escapeHtml(model.error)}</p>` : ''}
<form method="post" action="${escapeHtml(model.action)}" autocomplete="off">
<label for="username">Email</label>
<input type="email" id="username" name="username" value="${escapeHtml(model.username ?? '')}" placeholder="someone@contoso.test" required autofocus>
<label for="password">Password</label>
<input type="password" id="password" name="password" value="" placeholder="Password" required>
<div class="actions">
<button type="submit" class="primary" id="signin">Sign in</button>
<button type="submit" class="secondary" name="cancel" value="1" formnovalidate>Cancel</button>
</div>
</form>
<footer>Tenant <code>${escapeHtml(model.tenantId)}</code> · a local stand-in for login.microsoftonline.com</footer>
</section>
<aside class="note" aria-label="Test accounts">
<h2>Test accounts</h2>
<table>${accounts}</table>
<p>Password for all of them: <code>${escapeHtml(model.passwordHint)}</code></p>
</aside>
</main>`,
  );
}

/** `frames`: the front-channel sign-out iframes (entra-frontchannel.ts); `script` submits the form after them. */
export function signOutPage(form: string, nonce: string, frames = '', script = `document.getElementById('op.logoutForm').submit();`): string {
  return layout(
    'Sign out — Emulated Entra ID',
    `<main><section class="card">
${BRAND}
<h1>Signing you out…</h1>
<p>You are being signed out of the emulated Microsoft account.</p>
${form}
${frames}
<div class="actions"><button type="submit" class="primary" form="op.logoutForm">Sign out</button></div>
</section></main>`,
    nonce,
    script,
  );
}

export function signedOutPage(): string {
  return layout(
    'Signed out — Emulated Entra ID',
    `<main><section class="card">${BRAND}<h1>You signed out of your account</h1><p>It's a good idea to close all browser windows.</p></section></main>`,
  );
}

export function errorPage(title: string, message: string, details: Readonly<Record<string, string>> = {}): string {
  const rows = Object.entries(details)
    .map(([k, v]) => `<p class="app"><strong>${escapeHtml(k)}:</strong> ${escapeHtml(v)}</p>`)
    .join('');
  return layout(
    `${title} — Emulated Entra ID`,
    `<main><section class="card" role="alert">${BRAND}<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>${rows}</section></main>`,
  );
}

export function homePage(model: { readonly authority: string; readonly discovery: string; readonly tenantId: string; readonly clientId: string }): string {
  return layout(
    'Emulated Entra ID',
    `<main><section class="card">${BRAND}<h1>Emulated Entra ID</h1>
<p>Authority: <code>${escapeHtml(model.authority)}</code></p>
<p>Discovery: <a href="${escapeHtml(model.discovery)}">${escapeHtml(model.discovery)}</a></p>
<p>Tenant: <code>${escapeHtml(model.tenantId)}</code><br>Client: <code>${escapeHtml(model.clientId)}</code></p>
</section></main>`,
  );
}
