import { HttpRequest } from '@azure/functions';
import { isAppError } from '../../src/errors';
import { assertWriteRequest } from '../../src/http/csrf';

const APP = 'https://app.example';

function post(headers: Record<string, string>): HttpRequest {
  return new HttpRequest({ method: 'POST', url: `${APP}/api/sessions/end-others`, headers });
}

function refusal(headers: Record<string, string>): { status: number; code: string } | undefined {
  try {
    assertWriteRequest(post(headers), APP);
    return undefined;
  } catch (error) {
    if (!isAppError(error)) throw error;
    return { status: error.status, code: error.code };
  }
}

describe('assertWriteRequest: the rule for state-changing API calls', () => {
  it('accepts the app\'s Origin with X-CSRF: 1', () => {
    expect(refusal({ origin: APP, 'x-csrf': '1' })).toBeUndefined();
    expect(refusal({ origin: 'null', 'sec-fetch-site': 'same-origin', 'x-csrf': '1' })).toBeUndefined();
  });

  it.each([
    [{ 'x-csrf': '1' }, 'forbidden_origin'],
    [{ origin: 'https://evil.example', 'x-csrf': '1' }, 'forbidden_origin'],
    [{ origin: 'null', 'sec-fetch-site': 'cross-site', 'x-csrf': '1' }, 'forbidden_origin'],
    [{ origin: APP }, 'csrf_header_missing'],
    [{ origin: APP, 'x-csrf': '0' }, 'csrf_header_missing'],
    [{ origin: APP, 'x-csrf': '' }, 'csrf_header_missing'],
    [{ origin: APP, 'x-csrf': '1, 1' }, 'csrf_header_missing'],
  ])('refuses %j with 403 %s', (headers, code) => {
    expect(refusal(headers as Record<string, string>)).toEqual({ status: 403, code });
  });
});
