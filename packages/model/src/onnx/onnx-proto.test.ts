import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { decodeOnnxModel, encodeOnnxModel, type OnnxModel } from './onnx-proto.ts';

const model: OnnxModel = {
  irVersion: 7,
  opsetVersion: 13,
  producerName: 'digitq',
  producerVersion: '1',
  docString: 'a two-node graph',
  metadata: { 'b.key': 'two', 'a.key': 'one ✓' },
  graph: {
    name: 'tiny',
    nodes: [
      {
        name: 'conv/Conv',
        opType: 'Conv',
        inputs: ['input', 'w', 'b'],
        outputs: ['conv'],
        attributes: [
          { name: 'kernel_shape', kind: 'ints', value: [1, 1] },
          { name: 'group', kind: 'int', value: 1 },
          { name: 'alpha', kind: 'float', value: 0.5 },
          { name: 'scales', kind: 'floats', value: [0.25, -2] },
          { name: 'auto_pad', kind: 'string', value: 'NOTSET' },
        ],
      },
      { name: 'softmax/Softmax', opType: 'Softmax', inputs: ['conv'], outputs: ['probabilities'], attributes: [{ name: 'axis', kind: 'int', value: -1 }] },
    ],
    initializers: [
      { name: 'w', dims: [2, 1, 1, 1], data: new Float32Array([1.5, -0.1]) },
      { name: 'b', dims: [2], data: new Float32Array([0, 3e-8]) },
    ],
    inputs: [{ name: 'input', dims: ['N', 1, 4, 4] }],
    outputs: [{ name: 'probabilities', dims: ['N', 2, 4, 4] }],
  },
};

describe('ONNX protobuf writer', () => {
  it('round-trips a model: graph, attributes of every kind, float initializers, symbolic dimensions', () => {
    const decoded = decodeOnnxModel(encodeOnnxModel(model));
    expect(decoded).toEqual(model);
    // A negative int64 survives (Softmax axis -1).
    expect(decoded.graph.nodes[1]!.attributes[0]).toEqual({ name: 'axis', kind: 'int', value: -1 });
  });

  it('writes the standard field numbers, readable without our schema', () => {
    const bytes = encodeOnnxModel(model);
    // ModelProto: ir_version = 1 (varint), opset_import = 8; read with the bare wire reader (small varints read as uint32).
    const reader = protobuf.Reader.create(bytes);
    const fields = new Map<number, unknown>();
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      const field = tag >>> 3;
      if (field === 1) fields.set(field, reader.uint32());
      else if (field === 8) fields.set(field, reader.bytes());
      else reader.skipType(tag & 7);
    }
    expect(fields.get(1)).toBe(7);
    // OperatorSetIdProto { domain = 1: "", version = 2: 13 }
    const opset = protobuf.Reader.create(fields.get(8) as Uint8Array);
    const seen: number[] = [];
    while (opset.pos < opset.len) {
      const tag = opset.uint32();
      if (tag >>> 3 === 2) seen.push(opset.uint32());
      else opset.skipType(tag & 7);
    }
    expect(seen).toEqual([13]);
  });

  it('is deterministic: same model, same bytes', () => {
    expect(Buffer.from(encodeOnnxModel(model)).equals(Buffer.from(encodeOnnxModel(structuredClone(model))))).toBe(true);
  });

  it('refuses values that do not fit the schema', () => {
    const broken = { ...model, graph: { ...model.graph, nodes: [{ ...model.graph.nodes[0]!, attributes: [{ name: 'k', kind: 'int', value: 1.5 }] }] } } as OnnxModel;
    expect(() => encodeOnnxModel(broken)).toThrow(/does not fit the schema/);
  });
});
