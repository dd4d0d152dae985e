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

/** TensorProto.DataType.FLOAT: the element type of float graphs' inputs, outputs and weights. */
export const ONNX_FLOAT = 1;
const FLOAT_BYTES = 4;

/** TensorProto.DataType of the element types quantized and half-precision graphs add. */
export const ONNX_DATA_TYPES = { float: ONNX_FLOAT, uint8: 2, int8: 3, int32: 6, float16: 10 } as const;
export type OnnxElementType = keyof typeof ONNX_DATA_TYPES;
const ELEMENT_BYTES: Record<OnnxElementType, number> = { float: FLOAT_BYTES, uint8: 1, int8: 1, int32: 4, float16: 2 };

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

/**
 * A constant (weights), row-major. Float32 unless `type` says otherwise;
 * float16 values are held as their IEEE 754 half-precision bits.
 */
export type OnnxTensor =
  | { name: string; dims: number[]; type?: 'float'; data: Float32Array }
  | { name: string; dims: number[]; type: 'float16'; data: Uint16Array }
  | { name: string; dims: number[]; type: 'uint8'; data: Uint8Array }
  | { name: string; dims: number[]; type: 'int8'; data: Int8Array }
  | { name: string; dims: number[]; type: 'int32'; data: Int32Array };

/** A graph input or output (float32 unless `type` says otherwise); a string dimension is symbolic (e.g. the batch size 'N'). */
export interface OnnxValueInfo {
  name: string;
  dims: (number | string)[];
  type?: OnnxElementType;
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

/** Little-endian, as TensorProto.raw_data requires whatever the host's byte order. */
function tensorBytes(tensor: OnnxTensor): Uint8Array {
  const { data } = tensor;
  const type = tensor.type ?? 'float';
  const size = ELEMENT_BYTES[type];
  const bytes = new Uint8Array(data.length * size);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; i++) {
    const value = data[i]!;
    if (type === 'float') view.setFloat32(i * size, value, true);
    else if (type === 'int32') view.setInt32(i * size, value, true);
    else if (type === 'float16') view.setUint16(i * size, value, true);
    else if (type === 'int8') view.setInt8(i, value);
    else view.setUint8(i, value);
  }
  return bytes;
}

function tensorFromBytes(name: string, dims: number[], dataType: number | undefined, bytes: Uint8Array): OnnxTensor {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dataType) {
    case ONNX_DATA_TYPES.float:
      return { name, dims, data: Float32Array.from({ length: bytes.byteLength / FLOAT_BYTES }, (_, i) => view.getFloat32(i * FLOAT_BYTES, true)) };
    case ONNX_DATA_TYPES.float16:
      return { name, dims, type: 'float16', data: Uint16Array.from({ length: bytes.byteLength / 2 }, (_, i) => view.getUint16(i * 2, true)) };
    case ONNX_DATA_TYPES.int32:
      return { name, dims, type: 'int32', data: Int32Array.from({ length: bytes.byteLength / 4 }, (_, i) => view.getInt32(i * 4, true)) };
    case ONNX_DATA_TYPES.int8:
      return { name, dims, type: 'int8', data: Int8Array.from(bytes, (_, i) => view.getInt8(i)) };
    case ONNX_DATA_TYPES.uint8:
      return { name, dims, type: 'uint8', data: Uint8Array.from(bytes) };
    default:
      throw new Error(`initializer ${name}: data type ${dataType} is not one this reader knows`);
  }
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
  return { name: value.name, type: { tensor_type: { elem_type: ONNX_DATA_TYPES[value.type ?? 'float'], shape: { dim } } } };
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
      initializer: model.graph.initializers.map((t) => ({ name: t.name, dims: t.dims, data_type: ONNX_DATA_TYPES[t.type ?? 'float'], raw_data: tensorBytes(t) })),
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
  const type = (Object.keys(ONNX_DATA_TYPES) as OnnxElementType[]).find((t) => ONNX_DATA_TYPES[t] === tensor?.elem_type);
  if (!tensor || !type) throw new Error(`value ${v.name}: element type ${tensor?.elem_type} is not one this reader knows`);
  const dims = (tensor.shape?.dim ?? []).map((d) => d.dim_param ?? d.dim_value ?? 0);
  return type === 'float' ? { name: v.name, dims } : { name: v.name, dims, type };
}

/**
 * Reads an ONNX file written by encodeOnnxModel (or any ONNX file of the
 * element types above, raw_data initializers and the attribute types above).
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
        if (!t.raw_data) throw new Error(`initializer ${t.name}: only raw_data tensors are read`);
        return tensorFromBytes(t.name, t.dims ?? [], t.data_type, t.raw_data);
      }),
      inputs: (graph.input ?? []).map(decodeValueInfo),
      outputs: (graph.output ?? []).map(decodeValueInfo),
    },
  };
}

/**
 * The operators of any ONNX file's graph in node order, `domain.OpType` for
 * those outside the default domain (e.g. `com.microsoft.QLinearConv` in a
 * graph ONNX Runtime optimized); nothing else is read, so files with parts
 * decodeOnnxModel does not know are fine.
 */
export function onnxOperators(bytes: Uint8Array): string[] {
  const type = modelProto();
  const m = type.toObject(type.decode(bytes), { defaults: false, arrays: true }) as { graph?: { node?: { op_type: string; domain?: string }[] } };
  return (m.graph?.node ?? []).map((n) => (n.domain ? `${n.domain}.${n.op_type}` : n.op_type));
}
