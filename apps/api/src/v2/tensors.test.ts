import { describe, expect, it } from 'vitest';
import { classify, readBytesElements, readFp32, writeBytesElements, writeFp32 } from './tensors.ts';

describe('V2 tensor data', () => {
  it('writes FP32 little-endian and reads it back', () => {
    const bytes = writeFp32([1, -2.5]);
    expect([...bytes]).toEqual([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0]);
    expect(Array.from(readFp32(bytes, 2))).toEqual([1, -2.5]);
  });

  it('length-prefixes BYTES elements with a 4-byte little-endian count and refuses truncated ones', () => {
    const bytes = writeBytesElements(['ab', Uint8Array.of(9)]);
    expect([...bytes]).toEqual([2, 0, 0, 0, 0x61, 0x62, 1, 0, 0, 0, 9]);
    expect(readBytesElements(bytes).map((e) => [...e])).toEqual([[0x61, 0x62], [9]]);
    expect(() => readBytesElements(bytes.subarray(0, 9))).toThrow(/element 1 has a truncated length prefix/);
    expect(() => readBytesElements(Uint8Array.of(5, 0, 0, 0, 1))).toThrow(/declares 5 bytes but only 1 remain/);
  });

  it('classifies as Triton documents: highest value first, "value:index:label", ties by index, count clamped to the classes', () => {
    // extension_classification.md's example: [1, 5, 10, 4] -> top-2 by index [2, 1].
    expect(classify([1, 5, 10, 4], 2)).toEqual(['10:2:2', '5:1:1']);
    expect(classify([0.5, 0.5, 0], 2)).toEqual(['0.5:0:0', '0.5:1:1']);
    expect(classify([0.1, 0.9], 5)).toHaveLength(2);
  });
});
