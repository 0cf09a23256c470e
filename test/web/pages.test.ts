import { inboxPage, signedOutPage, signInErrorPage } from '../../src/web/pages';
import { contentSecurityPolicy } from '../../src/http/responses';

const user = { name: 'Adele <b>Vance</b>', username: 'adele@contoso.test' };

describe('pages', () => {
  it('shows attacker-controlled mail fields as text', () => {
    const page = inboxPage({
      user,
      isFirstPage: true,
      nextUrl: '/?cursor=abc"def',
      messages: [
        {
          id: '1',
          from: { name: '<script>alert(1)</script>', address: 'x@example.com"onmouseover="alert(1)' },
          subject: '<img src=x onerror=alert(1)>',
          bodyPreview: '</span><script>alert(2)</script>',
          receivedDateTime: '2026-11-20T10:00:00Z',
          isRead: false,
          webLink: 'javascript:alert(3)',
        },
      ],
    });
    expect(page).not.toMatch(/<script>|<img|javascript:|onmouseover="/);
    expect(page).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).toContain('Adele &lt;b&gt;Vance&lt;/b&gt;');
    expect(page).toContain('href="/?cursor=abc&quot;def"');
  });

  it('links only https Outlook web links', () => {
    const page = inboxPage({
      user,
      isFirstPage: true,
      nextUrl: undefined,
      messages: [{ id: '1', from: { name: 'A', address: 'a@b' }, subject: 'S', bodyPreview: '', receivedDateTime: '', isRead: true, webLink: 'https://outlook.office.com/mail/1' }],
    });
    expect(page).toContain('href="https://outlook.office.com/mail/1" target="_blank" rel="noopener noreferrer"');
  });

  it('escapes provider error descriptions and shortens them', () => {
    const page = signInErrorPage({ code: 'login_failed', message: 'No.', retryUrl: '/api/login', providerError: 'access_denied', description: '<script>x</script>' + 'a'.repeat(1000) });
    expect(page).not.toContain('<script>x');
    expect(page).toContain('&lt;script&gt;x&lt;/script&gt;');
    expect(page.length).toBeLessThan(4000);
  });

  it('signed-out page has the sign-in link and no inline script or style', () => {
    const page = signedOutPage({ loginUrl: '/api/login?returnTo=%2F', notice: 'Your session has ended.' });
    expect(page).toContain('href="/api/login?returnTo=%2F"');
    expect(page).not.toMatch(/<script|\sstyle=|\son\w+=/i);
  });

  it('sends a strict Content-Security-Policy', () => {
    expect(contentSecurityPolicy(['https://login.example'])).toBe(
      "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'none'; form-action 'self' https://login.example; frame-ancestors 'none'; base-uri 'none'",
    );
  });
});
