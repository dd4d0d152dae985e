/** The nesting bound on JSON bodies (a scan of the raw bytes) and the bounded recursion of the idempotency fingerprint. */
import { describe, expect, it } from 'vitest';
import { AppError } from '@digitq/contracts';
import { MAX_JSON_DEPTH, jsonNestsDeeperThan } from './middleware/body.ts';
import { canonicalJson } from './http/idempotency.ts';

function nested(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

describe('jsonNestsDeeperThan', () => {
  it('counts arrays and objects, up to and past the limit', () => {
    expect(jsonNestsDeeperThan(Buffer.from(nested(3)), 3)).toBe(false);
    expect(jsonNestsDeeperThan(Buffer.from(nested(4)), 3)).toBe(true);
    expect(jsonNestsDeeperThan(Buffer.from('{"a":{"b":[1,{"c":2}]}}'), 4)).toBe(false);
    expect(jsonNestsDeeperThan(Buffer.from('{"a":{"b":[1,{"c":2}]}}'), 3)).toBe(true);
    // Siblings do not add up: depth, not count.
    expect(jsonNestsDeeperThan(Buffer.from(`[${Array(1000).fill('[]').join(',')}]`), 2)).toBe(false);
  });

  it('skips brackets inside strings, escaped quotes and backslashes included', () => {
    expect(jsonNestsDeeperThan(Buffer.from(JSON.stringify({ a: '[[[[{{{{' })), 1)).toBe(false);
    expect(jsonNestsDeeperThan(Buffer.from(JSON.stringify({ a: 'say "[[[[" \\', b: '\\"[[[' })), 1)).toBe(false);
    // The string ends at the quote after an even run of backslashes: the bracket after it counts.
    expect(jsonNestsDeeperThan(Buffer.from('{"a":"x\\\\", "b":[[1]]}'), 2)).toBe(true);
    // Multi-byte UTF-8 never looks like a bracket or a quote.
    expect(jsonNestsDeeperThan(Buffer.from(JSON.stringify({ a: '€[“]', b: ['é'] })), 2)).toBe(false);
  });

  it('leaves an unterminated string to JSON.parse instead of failing', () => {
    expect(jsonNestsDeeperThan(Buffer.from('{"a": "[[[['), 1)).toBe(false);
  });

  it('finds 20,000 levels without recursion', () => {
    expect(jsonNestsDeeperThan(Buffer.from(`{"images":${nested(20_000)}}`), MAX_JSON_DEPTH)).toBe(true);
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every level', () => {
    expect(canonicalJson({ b: 1, a: [{ d: null, c: 'x' }] })).toBe('{"a":[{"c":"x","d":null}],"b":1}');
  });

  it('refuses a value nested deeper than MAX_JSON_DEPTH with VALIDATION_FAILED, never a stack overflow', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 20_000; i++) deep = { next: deep };
    let thrown: unknown;
    try {
      canonicalJson(deep);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(AppError);
    expect((thrown as AppError).code).toBe('VALIDATION_FAILED');
    let deepest: unknown = 1;
    for (let i = 0; i < MAX_JSON_DEPTH; i++) deepest = [deepest];
    expect(canonicalJson(deepest)).toBe(`${'['.repeat(MAX_JSON_DEPTH)}1${']'.repeat(MAX_JSON_DEPTH)}`);
  });
});
