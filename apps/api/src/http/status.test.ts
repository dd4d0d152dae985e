import { describe, expect, it } from 'vitest';
import { IMAGE_ERROR_CODES } from '@digitq/imaging';
import { detailsAsHttp, imageErrorStatus, jobFailureStatus } from './status.ts';

describe('image error statuses', () => {
  // Moved here with the table from packages/imaging (decode.test.ts), assertions as they were.
  it('maps sizes to 413, formats to 415 and undecodable content to 422', () => {
    expect(imageErrorStatus('IMAGE_TOO_LARGE')).toBe(413);
    expect(imageErrorStatus('IMAGE_TOO_MANY_PIXELS')).toBe(413);
    expect(imageErrorStatus('IMAGE_UNSUPPORTED_FORMAT')).toBe(415);
    for (const code of ['IMAGE_EMPTY_INPUT', 'IMAGE_CORRUPT', 'IMAGE_TIMEOUT', 'IMAGE_BLANK'] as const) {
      expect(imageErrorStatus(code)).toBe(422);
    }
    expect(IMAGE_ERROR_CODES).toHaveLength(7);
  });
});

describe('jobFailureStatus', () => {
  it("keeps a known code's status, 409 for a canceled job, 500 for anything else", () => {
    expect(jobFailureStatus('IMAGE_CORRUPT')).toBe(422);
    expect(jobFailureStatus('MODEL_NOT_FOUND')).toBe(404);
    expect(jobFailureStatus('JOB_CANCELED')).toBe(409);
    expect(jobFailureStatus('MODEL_CRASHED')).toBe(500);
  });
});

describe('detailsAsHttp', () => {
  it('says retry-after, the job (with a Location for a job still running) and unread input as HTTP does', () => {
    expect(detailsAsHttp('TIMEOUT', { jobId: 'a b' })).toEqual({ headers: { Location: '/v1/jobs/a%20b' }, body: { job_id: 'a b' } });
    expect(detailsAsHttp('SERVICE_UNAVAILABLE', { retryAfterS: 1, inputUnread: true })).toEqual({ headers: { 'Retry-After': '1', Connection: 'close' }, body: {} });
    expect(detailsAsHttp('VALIDATION_FAILED', {})).toEqual({ headers: {}, body: {} });
  });
});
