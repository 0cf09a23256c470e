import { FrontchannelTargets, frontchannelFrames, submitAfterFrames } from '../../emulators/entra-frontchannel';

describe('the emulated Entra\'s front-channel sign-out targets', () => {
  it('frames, for each app of the browser session, its path on the origin its sign-in came back to, with the sid', () => {
    const targets = new FrontchannelTargets('/api/logout/frontchannel');
    targets.record('sid-A', 'http://127.0.0.1:50001/api/callback');
    targets.record('sid-B', 'https://app.example/api/callback');
    expect(targets.urlsFor({ one: { sid: 'sid-A' }, two: { sid: 'sid-B' }, three: { sid: 'never-redeemed' }, four: {} })).toEqual([
      'http://127.0.0.1:50001/api/logout/frontchannel?sid=sid-A',
      'https://app.example/api/logout/frontchannel?sid=sid-B',
    ]);
    expect(targets.urlsFor(undefined)).toEqual([]);
  });

  it('is off with a null path', () => {
    const targets = new FrontchannelTargets(null);
    targets.record('sid-A', 'http://127.0.0.1:50001/api/callback');
    expect(targets.urlsFor({ one: { sid: 'sid-A' } })).toEqual([]);
  });

  it('renders escaped hidden iframes and the frame-src the sign-out page\'s CSP needs', () => {
    const frames = frontchannelFrames(['http://127.0.0.1:1/f?sid=a&x="y"', 'http://127.0.0.1:1/f?sid=b']);
    expect(frames.html).toBe(
      '<iframe class="fc" hidden title="Signing out of an app" src="http://127.0.0.1:1/f?sid=a&amp;x=&quot;y&quot;"></iframe>\n' +
        '<iframe class="fc" hidden title="Signing out of an app" src="http://127.0.0.1:1/f?sid=b"></iframe>',
    );
    expect(frames.frameSrc).toBe('http://127.0.0.1:1');
    expect(submitAfterFrames('op.logoutForm')).toContain('document.getElementById("op.logoutForm").submit()');
  });
});
