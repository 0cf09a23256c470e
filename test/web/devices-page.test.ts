import { devicesPage, SIGN_IN_DUE_NOTICE_MS, signInDueNotice } from '../../src/web/devices-page';

const NOW = Date.UTC(2026, 0, 10, 12, 0);

describe('the "Your devices" page', () => {
  const page = devicesPage({
    user: { name: 'Adele <b>', username: 'adele@contoso.test' },
    devices: [
      { id: 'AAAAAAAAAAAAAAAAAAAAAA', current: true, createdAt: NOW, lastSeenAt: NOW, device: 'Chrome on Linux' },
      { id: 'BBBBBBBBBBBBBBBBBBBBBB', current: false, createdAt: NOW - 1000, lastSeenAt: NOW, device: 'Safari on <iPhone>' },
    ],
  });

  it('lists each device: this one signs out with the usual form, the others through the API with its script', () => {
    expect(page).toContain('<span class="tag" data-testid="this-device">This device</span>');
    expect(page).toContain('<form class="inline-form" method="post" action="/api/logout">');
    expect(page).toContain('data-endpoint="/api/sessions/BBBBBBBBBBBBBBBBBBBBBB/end"');
    expect(page).not.toContain('/api/sessions/AAAAAAAAAAAAAAAAAAAAAA/end');
    expect(page).toContain('data-endpoint="/api/sessions/end-others"');
    expect(page).toContain('<script src="/api/assets/devices.js" defer></script>');
  });

  it('escapes what it shows', () => {
    expect(page).toContain('Safari on &lt;iPhone&gt;');
    expect(page).toContain('Adele &lt;b&gt;');
  });

  it('has nothing to end elsewhere when this is the only device', () => {
    const alone = devicesPage({ user: { name: 'A', username: 'a@b' }, devices: [{ id: 'A'.repeat(22), current: true, createdAt: NOW, lastSeenAt: NOW, device: 'Chrome on Linux' }] });
    expect(alone).toContain('data-testid="only-device"');
    expect(alone).not.toContain('end-others');
  });
});

describe('signInDueNotice', () => {
  it('says nothing while the absolute limit is more than a week away, then when a sign-in is needed', () => {
    expect(signInDueNotice(NOW + SIGN_IN_DUE_NOTICE_MS + 1, NOW)).toBeUndefined();
    expect(signInDueNotice(NOW + SIGN_IN_DUE_NOTICE_MS, NOW)).toBe(
      'For your security, this sign-in ends on 17 Jan 2026, 12:00 UTC. You will need to sign in with Microsoft again after that.',
    );
  });
});
