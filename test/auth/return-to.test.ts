import { safeReturnTo } from '../../src/auth/return-to';
import fixture from './fixtures/open-redirects.json';

describe('safeReturnTo', () => {
  it.each(fixture.attacks)('refuses %j', (attack) => {
    expect(safeReturnTo(attack)).toBe('/');
  });

  it.each(fixture.allowed)('keeps the local path %j', (input, expected) => {
    expect(safeReturnTo(input)).toBe(expected);
  });

  it('refuses missing and oversized values', () => {
    expect(safeReturnTo(undefined)).toBe('/');
    expect(safeReturnTo(null)).toBe('/');
    expect(safeReturnTo('/' + 'a'.repeat(5000))).toBe('/');
  });
});
