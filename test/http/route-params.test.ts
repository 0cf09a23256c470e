import { routeParams } from '../../src/http/local-host';

describe('routeParams (the local host\'s route templates, as the Functions host fills request.params)', () => {
  it('matches literal segments case-insensitively and fills {name} segments', () => {
    expect(routeParams('/api/sessions', '/api/sessions')).toEqual({});
    expect(routeParams('/api/sessions', '/API/Sessions')).toEqual({});
    expect(routeParams('/api/sessions/{id}/end', '/api/sessions/abc_DEF-123/end')).toEqual({ id: 'abc_DEF-123' });
    expect(routeParams('/api/sessions/{id}/end', '/api/sessions/a%20b/end')).toEqual({ id: 'a b' });
    expect(routeParams('/', '/')).toEqual({});
  });

  it('does not match other shapes, empty segments or undecodable ones', () => {
    expect(routeParams('/api/sessions/{id}/end', '/api/sessions/end-others')).toBeUndefined();
    expect(routeParams('/api/sessions/end-others', '/api/sessions/x/end')).toBeUndefined();
    expect(routeParams('/api/sessions/{id}/end', '/api/sessions//end')).toBeUndefined();
    expect(routeParams('/api/sessions/{id}/end', '/api/sessions/%E0%A4%A/end')).toBeUndefined();
    expect(routeParams('/api/sessions/{id}/end', '/api/sessions/a/b/end')).toBeUndefined();
  });
});
