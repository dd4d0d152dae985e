/**
 * ONNX files as bytes: plain objects describing an inference graph, encoded
 * to (and decoded from) ONNX's protobuf format with protobufjs.
 *
 * The schema below is the part of ONNX's onnx.proto an inference graph of
 * float tensors needs: message and field numbers are the standard's, and the
 * messages and fields we never write are left out (a protobuf reader skips
 * what its schema lacks, so decoding any ONNX file with it is safe too).
 */
import protobuf from 'protobufjs';

const ONNX_SUBSET_PROTO = `
syntax = "proto2";
package onnx;

message AttributeProto {
  enum AttributeType { UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; FLOATS = 6; INTS = 7; }
  optional string name = 1;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  repeated float floats = 7;
  repeated int64 ints = 8;
  optional AttributeType type = 20;
}

message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  repeated AttributeProto attribute = 5;
  optional string domain = 7;
}

message StringStringEntryProto {
  optional string key = 1;
  optional string value = 2;
}

message ModelProto {
  optional int64 ir_version = 1;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional string doc_string = 6;
  optional GraphProto graph = 7;
  repeated OperatorSetIdProto opset_import = 8;
  repeated StringStringEntryProto metadata_props = 14;
}

message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
}

message TensorProto {
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  optional string name = 8;
  optional bytes raw_data = 9;
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
}

message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}
`;

/** TensorProto.DataType.FLOAT: the only element type these graphs use. */
export const ONNX_FLOAT = 1;
const FLOAT_BYTES = 4;

const ATTRIBUTE_TYPE = { float: 1, int: 2, string: 3, floats: 6, ints: 7 } as const;

/** One node attribute; `kind` picks the ONNX AttributeType. */
export type OnnxAttribute =
  | { name: string; kind: 'int'; value: number }
  | { name: string; kind: 'ints'; value: number[] }
  | { name: string; kind: 'float'; value: number }
  | { name: string; kind: 'floats'; value: number[] }
  | { name: string; kind: 'string'; value: string };

export interface OnnxNode {
  name: string;
  opType: string;
  inputs: string[];
  outputs: string[];
  attributes: OnnxAttribute[];
}

/** A float32 constant (weights), row-major. */
export interface OnnxTensor {
  name: string;
  dims: number[];
  data: Float32Array;
}

/** A float32 graph input or output; a string dimension is symbolic (e.g. the batch size 'N'). */
export interface OnnxValueInfo {
  name: string;
  dims: (number | string)[];
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

export interface OnnxModel {
  irVersion: number;
  /** Version of the default ('ai.onnx') operator set. */
  opsetVersion: number;
  producerName: string;
  producerVersion: string;
  docString: string;
  /** ModelProto.metadata_props, written in key order. */
  metadata: Record<string, string>;
  graph: OnnxGraph;
}

let modelType: protobuf.Type | undefined;

function modelProto(): protobuf.Type {
  modelType ??= protobuf.parse(ONNX_SUBSET_PROTO, { keepCase: true }).root.lookupType('onnx.ModelProto');
  return modelType;
}

/** Little-endian IEEE 754, as TensorProto.raw_data requires whatever the host's byte order. */
function floatBytes(data: Float32Array): Uint8Array {
  const bytes = new Uint8Array(data.length * FLOAT_BYTES);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * FLOAT_BYTES, data[i]!, true);
  return bytes;
}

function floatsFromBytes(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data = new Float32Array(bytes.byteLength / FLOAT_BYTES);
  for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(i * FLOAT_BYTES, true);
  return data;
}

function encodeAttribute(attribute: OnnxAttribute): object {
  const type = ATTRIBUTE_TYPE[attribute.kind];
  switch (attribute.kind) {
    case 'int':
      return { name: attribute.name, type, i: attribute.value };
    case 'ints':
      return { name: attribute.name, type, ints: attribute.value };
    case 'float':
      return { name: attribute.name, type, f: attribute.value };
    case 'floats':
      return { name: attribute.name, type, floats: attribute.value };
    case 'string':
      return { name: attribute.name, type, s: new TextEncoder().encode(attribute.value) };
  }
}

function encodeValueInfo(value: OnnxValueInfo): object {
  const dim = value.dims.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d }));
  return { name: value.name, type: { tensor_type: { elem_type: ONNX_FLOAT, shape: { dim } } } };
}

/** The ONNX file's bytes. Same model in, same bytes out (no timestamps), so its sha256 is stable. */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const type = modelProto();
  const message = {
    ir_version: model.irVersion,
    producer_name: model.producerName,
    producer_version: model.producerVersion,
    doc_string: model.docString,
    opset_import: [{ domain: '', version: model.opsetVersion }],
    metadata_props: Object.keys(model.metadata)
      .sort()
      .map((key) => ({ key, value: model.metadata[key] })),
    graph: {
      name: model.graph.name,
      node: model.graph.nodes.map((n) => ({
        name: n.name,
        op_type: n.opType,
        input: n.inputs,
        output: n.outputs,
        attribute: n.attributes.map(encodeAttribute),
      })),
      initializer: model.graph.initializers.map((t) => ({ name: t.name, dims: t.dims, data_type: ONNX_FLOAT, raw_data: floatBytes(t.data) })),
      input: model.graph.inputs.map(encodeValueInfo),
      output: model.graph.outputs.map(encodeValueInfo),
    },
  };
  const invalid = type.verify(message);
  if (invalid) throw new Error(`ONNX model does not fit the schema: ${invalid}`);
  return type.encode(type.fromObject(message)).finish();
}

/* Decoding: the shapes protobufjs's toObject gives for our schema (int64 as numbers, bytes as Uint8Array). */
interface DecodedAttribute {
  name: string;
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  floats?: number[];
  ints?: number[];
}
interface DecodedValueInfo {
  name: string;
  type?: { tensor_type?: { elem_type?: number; shape?: { dim?: { dim_value?: number; dim_param?: string }[] } } };
}
interface DecodedModel {
  ir_version?: number;
  producer_name?: string;
  producer_version?: string;
  doc_string?: string;
  opset_import?: { domain?: string; version?: number }[];
  metadata_props?: { key: string; value: string }[];
  graph?: {
    name?: string;
    node?: { name?: string; op_type: string; input?: string[]; output?: string[]; attribute?: DecodedAttribute[] }[];
    initializer?: { name: string; dims?: number[]; data_type?: number; raw_data?: Uint8Array }[];
    input?: DecodedValueInfo[];
    output?: DecodedValueInfo[];
  };
}

function decodeAttribute(a: DecodedAttribute): OnnxAttribute {
  switch (a.type) {
    case ATTRIBUTE_TYPE.int:
      return { name: a.name, kind: 'int', value: a.i ?? 0 };
    case ATTRIBUTE_TYPE.ints:
      return { name: a.name, kind: 'ints', value: a.ints ?? [] };
    case ATTRIBUTE_TYPE.float:
      return { name: a.name, kind: 'float', value: a.f ?? 0 };
    case ATTRIBUTE_TYPE.floats:
      return { name: a.name, kind: 'floats', value: a.floats ?? [] };
    case ATTRIBUTE_TYPE.string:
      return { name: a.name, kind: 'string', value: new TextDecoder().decode(a.s ?? new Uint8Array()) };
    default:
      throw new Error(`attribute ${a.name}: type ${a.type} is not one this reader knows`);
  }
}

function decodeValueInfo(v: DecodedValueInfo): OnnxValueInfo {
  const tensor = v.type?.tensor_type;
  if (tensor?.elem_type !== ONNX_FLOAT) throw new Error(`value ${v.name}: only float32 tensors are read`);
  return { name: v.name, dims: (tensor.shape?.dim ?? []).map((d) => d.dim_param ?? d.dim_value ?? 0) };
}

/**
 * Reads an ONNX file written by encodeOnnxModel (or any ONNX file of float32
 * tensors with raw_data initializers and the attribute types above).
 */
export function decodeOnnxModel(bytes: Uint8Array): OnnxModel {
  const type = modelProto();
  const m = type.toObject(type.decode(bytes), { longs: Number, bytes: Uint8Array, defaults: false, arrays: true }) as DecodedModel;
  const opset = (m.opset_import ?? []).find((o) => !o.domain);
  const graph = m.graph ?? {};
  return {
    irVersion: m.ir_version ?? 0,
    opsetVersion: opset?.version ?? 0,
    producerName: m.producer_name ?? '',
    producerVersion: m.producer_version ?? '',
    docString: m.doc_string ?? '',
    metadata: Object.fromEntries((m.metadata_props ?? []).map((p) => [p.key, p.value])),
    graph: {
      name: graph.name ?? '',
      nodes: (graph.node ?? []).map((n) => ({
        name: n.name ?? '',
        opType: n.op_type,
        inputs: n.input ?? [],
        outputs: n.output ?? [],
        attributes: (n.attribute ?? []).map(decodeAttribute),
      })),
      initializers: (graph.initializer ?? []).map((t) => {
        if (t.data_type !== ONNX_FLOAT || !t.raw_data) throw new Error(`initializer ${t.name}: only float32 raw_data tensors are read`);
        return { name: t.name, dims: t.dims ?? [], data: floatsFromBytes(t.raw_data) };
      }),
      inputs: (graph.input ?? []).map(decodeValueInfo),
      outputs: (graph.output ?? []).map(decodeValueInfo),
    },
  };
}
