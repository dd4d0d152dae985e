import { describe, expect, it } from 'vitest';
import { MAX_PREFER_WAIT_S, parsePreferWait } from './http/prefer.ts';

describe('parsePreferWait', () => {
  it.each([
    [undefined, null],
    ['wait=5', 5],
    ['WAIT = 7', 7],
    ['wait="3"', 3],
    ['respond-async, wait=10', 10],
    ['handling=lenient; foo=bar, wait=2;x=1', 2],
    [['respond-async', 'wait=4'], 4],
    ['wait=0', 0],
    ['wait=3600', MAX_PREFER_WAIT_S],
    ['wait=-1', null],
    ['wait=1.5', null],
    ['wait=', null],
    ['wait', null],
    ['waiting=5', null],
    ['respond-async', null],
  ])('%j -> %j', (header, expected) => {
    expect(parsePreferWait(header)).toBe(expected);
  });
});
