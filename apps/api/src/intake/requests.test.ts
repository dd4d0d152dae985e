import { describe, expect, it } from 'vitest';
import { AppError } from '@digitq/contracts';
import { acceptsEventStream, parseCancelAfter, readJobDeadline, readJsonJobRequest, readMultipartJobRequest, readPredictRequest } from './requests.ts';
import type { JobRequest } from '../use-cases/jobs.ts';

describe('Cancel-After', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['2m', 120_000],
    ['1m30s', 90_000],
    ['1.5h', 5_400_000],
    ['45', 45_000],
    [' 10s ', 10_000],
  ])('%j is %i ms', (value, ms) => {
    expect(parseCancelAfter(value)).toBe(ms);
  });

  it.each(['', 's', '-5s', '0s', '10 s', '10x', '5s junk', 'PT30S', '31d', `${31 * 24}h`])('%j is refused with VALIDATION_FAILED', (value) => {
    const refused = (() => {
      try {
        parseCancelAfter(value);
        return null;
      } catch (error) {
        return error;
      }
    })();
    expect(refused).toBeInstanceOf(AppError);
    expect((refused as AppError).code).toBe('VALIDATION_FAILED');
  });

  it('becomes the job deadline from now; with a deadline field too, the earlier one counts', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    const request: JobRequest = { images: [], model: null, webhook: null, priority: 5, deadline: null, minConfidence: null };
    expect(readJobDeadline(request, '30s', now).deadline).toBe('2030-01-01T00:00:30.000Z');
    expect(readJobDeadline(request, undefined, now).deadline).toBeNull();
    const withField = { ...request, deadline: '2030-01-01T01:00:10+01:00' };
    expect(readJobDeadline(withField, undefined, now).deadline).toBe('2030-01-01T00:00:10.000Z');
    expect(readJobDeadline(withField, '30s', now).deadline).toBe('2030-01-01T00:00:10.000Z');
    expect(readJobDeadline(withField, '5s', now).deadline).toBe('2030-01-01T00:00:05.000Z');
    expect(() => readJobDeadline(request, ['1s', '2s'], now)).toThrow(AppError);
  });
});

describe('Accept: text/event-stream', () => {
  it.each([
    ['text/event-stream', true],
    ['application/json, text/event-stream;q=0.9', true],
    ['TEXT/EVENT-STREAM', true],
    ['application/json', false],
    ['text/event-streams', false],
    [undefined, false],
  ])('%j streams: %s', (accept, streams) => {
    expect(acceptsEventStream(accept)).toBe(streams);
  });
});

describe('min_confidence', () => {
  const file = { field: 'file', name: 'a.png', bytes: new Uint8Array([1]) };
  const codeOf = (read: () => unknown) => {
    try {
      read();
      return null;
    } catch (error) {
      return (error as AppError).code;
    }
  };

  it('POST /predict: a form field or the query, the form field winning; absent: null (the worker default)', () => {
    expect(readPredictRequest([file], { min_confidence: '0.8' }).minConfidence).toBe(0.8);
    expect(readPredictRequest([file], {}, { min_confidence: '.5' }).minConfidence).toBe(0.5);
    expect(readPredictRequest([file], { min_confidence: '1' }, { min_confidence: '0.2' }).minConfidence).toBe(1);
    expect(readPredictRequest([file], {}).minConfidence).toBeNull();
  });

  it('POST /v1/jobs: a number in JSON, text in a form', () => {
    expect(readJsonJobRequest({ images: ['aGVsbG8='], min_confidence: 0.9 }, 4).minConfidence).toBe(0.9);
    expect(readMultipartJobRequest([{ ...file, field: 'image' }], { min_confidence: '0' }, 4).minConfidence).toBe(0);
    expect(readJsonJobRequest({ images: ['aGVsbG8='] }, 4).minConfidence).toBeNull();
  });

  it('is VALIDATION_FAILED outside 0..1 or when not a number', () => {
    expect(codeOf(() => readPredictRequest([file], { min_confidence: '1.5' }))).toBe('VALIDATION_FAILED');
    expect(codeOf(() => readPredictRequest([file], {}, { min_confidence: 'high' }))).toBe('VALIDATION_FAILED');
    expect(codeOf(() => readJsonJobRequest({ images: ['aGVsbG8='], min_confidence: -0.1 }, 4))).toBe('VALIDATION_FAILED');
    expect(codeOf(() => readJsonJobRequest({ images: ['aGVsbG8='], min_confidence: '0.5' }, 4))).toBe('VALIDATION_FAILED');
    expect(codeOf(() => readMultipartJobRequest([{ ...file, field: 'image' }], { min_confidence: '2' }, 4))).toBe('VALIDATION_FAILED');
  });
});
