import { safeReturnTo } from '../../src/auth/return-to';
import fixture from './fixtures/open-redirects.json';

describe('safeReturnTo', () => {
  it.each(fixture.attacks)('refuses %j', (attack) => {
    expect(safeReturnTo(attack)).toBe('/');
  });

  it.each(fixture.allowed)('keeps the local path %j', (input, expected) => {
    expect(safeReturnTo(input)).toBe(expected);
  });

  // Issue 16, finding 7: the third decoding used to go unchecked, and a fourth layer was not looked at.
  it.each([
    '/%25252F%25252Fevil.example', // three layers: decodes to ///evil.example
    '/%2525252F%2525252Fevil.example', // four layers
    '/a?next=%252525252525',
  ])('refuses %j, which still decodes after the rounds it checks', (attack) => {
    expect(safeReturnTo(attack)).toBe('/');
  });

  it.each([
    ['/inbox?q=a%2Fb', '/inbox?q=a%2Fb'],
    ['/inbox?q=a%252Fb', '/inbox?q=a%252Fb'],
    ['/inbox?q=a%25252Fb', '/inbox?q=a%25252Fb'],
  ])('keeps %j, encoded up to three times', (input, expected) => {
    expect(safeReturnTo(input)).toBe(expected);
  });

  it('refuses missing and oversized values', () => {
    expect(safeReturnTo(undefined)).toBe('/');
    expect(safeReturnTo(null)).toBe('/');
    expect(safeReturnTo('/' + 'a'.repeat(5000))).toBe('/');
  });
});
