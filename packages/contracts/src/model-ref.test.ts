import { describe, expect, it } from 'vitest';
import { modelInfoSchema, modelRefSchema, parseModelRef } from './inference.ts';

describe('model references', () => {
  it('accept a name with an optional @version and :variant', () => {
    expect(parseModelRef('digitnet')).toEqual({ name: 'digitnet', version: null, variant: null });
    expect(parseModelRef('digitnet@v2')).toEqual({ name: 'digitnet', version: 'v2', variant: null });
    expect(parseModelRef('digitnet@v1:int8')).toEqual({ name: 'digitnet', version: 'v1', variant: 'int8' });
    expect(parseModelRef('digit-net-2:fp16')).toEqual({ name: 'digit-net-2', version: null, variant: 'fp16' });
    for (const ref of ['digitnet', 'digitnet@v1:fp32', 'digitnet:int8']) expect(modelRefSchema.safeParse(ref).success).toBe(true);
  });

  it('refuse unknown variants and anything else', () => {
    for (const ref of ['digitnet@latest', 'digitnet:int4', 'digitnet@v1:', 'digitnet:int8@v1', 'Digitnet', 'digitnet@v1:int8:fp16']) {
      expect(modelRefSchema.safeParse(ref).success, ref).toBe(false);
      expect(() => parseModelRef(ref), ref).toThrow(RangeError);
    }
  });

  it('report a variant in results only as an optional field', () => {
    expect(modelInfoSchema.parse({ name: 'digitnet', version: 'v1' })).toEqual({ name: 'digitnet', version: 'v1' });
    expect(modelInfoSchema.parse({ name: 'digitnet', version: 'v1', variant: 'int8' }).variant).toBe('int8');
    expect(modelInfoSchema.safeParse({ name: 'digitnet', version: 'v1', variant: 'int4' }).success).toBe(false);
  });
});
