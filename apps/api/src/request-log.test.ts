import { describe, expect, it } from 'vitest';
import { redactHeaders, redactQuery, redactUrl } from './middleware/request-log.ts';

describe('request log redaction', () => {
  it('replaces credential-named query parameters in the URL, keeping the rest as sent', () => {
    expect(redactUrl('/v1/jobs?api_key=sk_1&limit=5&token=t&key=k&access_token=a&client_secret=s&my-password=p'))
      .toBe('/v1/jobs?api_key=[redacted]&limit=5&token=[redacted]&key=[redacted]&access_token=[redacted]&client_secret=[redacted]&my-password=[redacted]');
    expect(redactUrl('/v1/jobs?api%5Fkey=sk_1&API_KEY=sk_2#frag')).toBe('/v1/jobs?api%5Fkey=[redacted]&API_KEY=[redacted]#frag');
    expect(redactUrl('/v1/jobs?status=queued&cursor=abc')).toBe('/v1/jobs?status=queued&cursor=abc');
    expect(redactUrl('/v1/jobs/123')).toBe('/v1/jobs/123');
    // A malformed escape in a name: compared as sent, still redacted.
    expect(redactUrl('/x?%E0%A4%A_token=v')).toBe('/x?%E0%A4%A_token=[redacted]');
  });

  it('replaces credential-carrying headers, keeping the Authorization scheme and the Idempotency-Key', () => {
    expect(
      redactHeaders({
        authorization: 'Bearer sk_live_1',
        'proxy-authorization': 'Basic dXNlcjpwYXNz',
        'x-api-key': 'sk_2',
        cookie: 'session=abc',
        'x-auth-token': 't',
        'x-client-secret': 's',
        'idempotency-key': 'order-17',
        'content-type': 'application/json',
        accept: ['a', 'b'],
      }),
    ).toEqual({
      authorization: 'Bearer [redacted]',
      'proxy-authorization': 'Basic [redacted]',
      'x-api-key': '[redacted]',
      cookie: '[redacted]',
      'x-auth-token': '[redacted]',
      'x-client-secret': '[redacted]',
      'idempotency-key': 'order-17',
      'content-type': 'application/json',
      accept: ['a', 'b'],
    });
  });

  it('replaces credential-named parameters of the parsed query at any depth', () => {
    expect(redactQuery({ api_key: 'k', limit: '5', filter: { token: 't', status: 'queued' }, list: [{ secret: 's' }] })).toEqual({
      api_key: '[redacted]',
      limit: '5',
      filter: { token: '[redacted]', status: 'queued' },
      list: [{ secret: '[redacted]' }],
    });
  });
});
