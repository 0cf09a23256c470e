import { decodeClaims, encodeClaims } from '../../src/auth/claims';

const b64 = (json: string): string => Buffer.from(json).toString('base64');

describe('decodeClaims', () => {
  it('takes a Graph claims challenge (base64), our loginUrl form (base64url) and raw JSON', () => {
    const challenge = '{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}';
    expect(decodeClaims(b64(challenge))).toBe(challenge);
    expect(decodeClaims(encodeClaims(challenge))).toBe(challenge);
    expect(decodeClaims(challenge)).toBe(challenge);
    expect(decodeClaims('{"id_token":{"auth_time":null},"userinfo":{}}')).toBe('{"id_token":{"auth_time":null},"userinfo":{}}');
  });

  it.each([
    ['a member that is not an object', '{"id_token":"x"}'],
    ['a null member', '{"access_token":null}'],
    ['an array member', '{"access_token":[]}'],
    ['an unknown member', '{"scope":{}}'],
    ['a claim that is neither null nor an object', '{"access_token":{"nbf":1}}'],
    ['an array', '[]'],
    ['a string', '"x"'],
    ['not JSON', 'not json'],
  ])('refuses %s (msal-node would throw on it)', (_, json) => {
    expect(decodeClaims(b64(json))).toBeUndefined();
    expect(decodeClaims(json.startsWith('{') ? json : undefined)).toBeUndefined();
  });

  it('refuses anything over 1 KiB', () => {
    expect(decodeClaims(b64(`{"access_token":{"x":{"value":"${'a'.repeat(1024)}"}}}`))).toBeUndefined();
  });
});
