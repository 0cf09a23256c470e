/** The one stylesheet, served from /api/assets/app.css (the CSP allows styles from self only). */
export const APP_CSS = `
:root {
  --bg: #f3f5f9; --card: #ffffff; --text: #1b1f24; --muted: #5b6472; --line: #e3e7ee;
  --brand: #0f6cbd; --brand-dark: #0c5a9e; --danger: #c4314b; --unread: #0f6cbd;
  --radius: 12px; --shadow: 0 1px 2px rgba(16,24,40,.06), 0 4px 16px rgba(16,24,40,.06);
  font-family: "Segoe UI", system-ui, -apple-system, "Helvetica Neue", Arial, sans-serif;
  color: var(--text); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; line-height: 1.5; }
.topbar { background: var(--card); border-bottom: 1px solid var(--line); }
.topbar-inner { max-width: 880px; margin: 0 auto; padding: 12px 20px; display: flex; align-items: center; gap: 16px; flex-wrap: wrap; }
.brand { font-weight: 700; font-size: 1.05rem; display: flex; align-items: center; gap: 10px; color: var(--text); text-decoration: none; }
.brand-mark { width: 28px; height: 28px; border-radius: 8px; background: linear-gradient(135deg, #0f6cbd, #2886de); display: inline-block; }
.spacer { flex: 1; }
.who { color: var(--muted); font-size: .92rem; }
.page { max-width: 880px; margin: 0 auto; padding: 28px 20px 48px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: var(--radius); box-shadow: var(--shadow); padding: 28px; margin-bottom: 20px; }
.hero { text-align: center; padding: 48px 28px; }
.hero h1 { font-size: 1.9rem; margin: 0 0 8px; }
.hero p { color: var(--muted); max-width: 520px; margin: 0 auto 24px; }
h1 { font-size: 1.5rem; margin: 0 0 12px; }
h2 { font-size: 1.1rem; margin: 24px 0 8px; }
.muted { color: var(--muted); }
.notice { background: #fff8e6; border: 1px solid #f5d990; color: #6b4f00; border-radius: 10px; padding: 12px 16px; margin: 0 auto 20px; max-width: 520px; text-align: left; }
.notice.error { background: #fdf0f2; border-color: #f2b8c2; color: #7a1a2b; }
.button { display: inline-flex; align-items: center; gap: 10px; border: 0; border-radius: 8px; padding: 10px 18px; font: inherit; font-weight: 600;
  background: var(--brand); color: #fff; text-decoration: none; cursor: pointer; }
.button:hover { background: var(--brand-dark); }
.button.secondary { background: transparent; color: var(--text); border: 1px solid var(--line); }
.button.secondary:hover { background: #eef1f6; }
.button.danger { background: var(--danger); }
.link { color: var(--brand); margin-left: 12px; }
.ms-logo { width: 18px; height: 18px; display: inline-grid; grid-template-columns: 1fr 1fr; gap: 2px; }
.ms-logo span:nth-child(1) { background: #f25022; } .ms-logo span:nth-child(2) { background: #7fba00; }
.ms-logo span:nth-child(3) { background: #00a4ef; } .ms-logo span:nth-child(4) { background: #ffb900; }
.inline-form { display: inline; margin: 0; }
.mail-header { display: flex; align-items: baseline; justify-content: space-between; gap: 12px; flex-wrap: wrap; margin-bottom: 8px; }
.mail-list { list-style: none; margin: 0; padding: 0; }
.mail { display: grid; grid-template-columns: 1fr auto; gap: 2px 16px; padding: 14px 4px; border-top: 1px solid var(--line); }
.mail:first-child { border-top: 0; }
.mail .from { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.mail.unread .from::before { content: ""; display: inline-block; width: 8px; height: 8px; border-radius: 50%; background: var(--unread); margin-right: 8px; vertical-align: middle; }
.mail time { color: var(--muted); font-size: .85rem; white-space: nowrap; }
.mail .subject { grid-column: 1 / -1; font-weight: 600; color: var(--text); text-decoration: none; overflow-wrap: anywhere; }
.mail .subject:hover { color: var(--brand); text-decoration: underline; }
.mail .preview { grid-column: 1 / -1; color: var(--muted); font-size: .92rem; overflow: hidden; display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical; overflow-wrap: anywhere; }
.pager { display: flex; justify-content: space-between; margin-top: 16px; gap: 12px; }
.empty { text-align: center; color: var(--muted); padding: 32px 0; }
.footer { max-width: 880px; margin: 0 auto; padding: 0 20px 32px; color: var(--muted); font-size: .85rem; display: flex; gap: 16px; flex-wrap: wrap; }
.footer a { color: var(--muted); }
code { background: #eef1f6; padding: 1px 6px; border-radius: 6px; font-size: .88em; }
details { margin: 12px 0; }
.device-list { list-style: none; margin: 0 0 16px; padding: 0; }
.device { display: flex; align-items: center; justify-content: space-between; gap: 12px; padding: 14px 4px; border-top: 1px solid var(--line); flex-wrap: wrap; }
.device:first-child { border-top: 0; }
.device-text { display: flex; flex-direction: column; min-width: 0; }
.device-name { font-weight: 600; overflow-wrap: anywhere; }
.tag { display: inline-block; font-size: .78rem; font-weight: 600; color: var(--brand); background: #e8f1fb; border-radius: 999px; padding: 1px 8px; margin-left: 6px; }
.status:empty { display: none; }
.status { color: var(--danger); }
@media (max-width: 560px) {
  .page { padding: 16px 12px 32px; }
  .card { padding: 18px; }
  .hero { padding: 32px 18px; }
  .hero h1 { font-size: 1.5rem; }
  .who { width: 100%; order: 3; }
  .mail { grid-template-columns: 1fr; }
  .device .inline-form, .device .button { width: 100%; justify-content: center; }
}
`;
