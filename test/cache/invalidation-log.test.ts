import { InvalidationLog } from '../../src/cache/invalidation-log';

describe('InvalidationLog', () => {
  it('tells a forget after the mark from one before it, per key', () => {
    const log = new InvalidationLog();
    log.forget('a');
    const mark = log.mark();
    expect(log.forgottenSince('a', mark)).toBe(false);
    log.forget('b');
    expect(log.forgottenSince('a', mark)).toBe(false);
    expect(log.forgottenSince('b', mark)).toBe(true);
    expect(log.forgottenSince('b', log.mark())).toBe(false);
  });

  it('forgetAll counts as a forget of every key, tracked or not', () => {
    const log = new InvalidationLog();
    const mark = log.mark();
    log.forgetAll();
    expect(log.forgottenSince('never-seen', mark)).toBe(true);
    expect(log.forgottenSince('never-seen', log.mark())).toBe(false);
  });

  it('stays bounded, and errs towards "forgotten" for keys it no longer tracks', () => {
    const log = new InvalidationLog(2);
    const beforeAll = log.mark();
    log.forget('a');
    const afterA = log.mark();
    log.forget('b');
    log.forget('c'); // 'a' drops out; the floor rises to its forget
    expect(log.forgottenSince('a', beforeAll)).toBe(true);
    expect(log.forgottenSince('a', afterA)).toBe(false);
    expect(log.forgottenSince('untracked', beforeAll)).toBe(true); // conservative: one more read, never a stale copy
    expect(log.forgottenSince('untracked', afterA)).toBe(false);
  });
});
