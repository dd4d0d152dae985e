/**
 * The Open Inference Protocol (KServe V2, REST) end to end: the real API
 * process, Redis and a worker running the committed model, called as a
 * Triton/KServe client would, with API keys on. Requests are built from the
 * protocol's text (inference_rest.md, and Triton's extension_binary_data.md
 * and extension_classification.md), not with digitq's own helpers.
 */
import { describe, expect, it } from 'vitest';
import { preprocessDigitImages } from '@digitq/imaging';
import { renderDigitImage } from '@digitq/imaging/test-images';
import { useSystem } from './system.ts';

type Json = Record<string, any>;

const KEY = 'sk_e2e_v2_0123456789abcdef';
const AUTH = { Authorization: `Bearer ${KEY}` };
const PIXELS = 28 * 28;
const FLOAT_BYTES = 4;
const DIGITS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

const digitPng = (digit: number) => renderDigitImage({ digit, width: 400, height: 320, format: 'png' });

/** Rendered digits preprocessed on the client: 784 floats in [0, 1] each, as the model input takes them. */
async function digitPixels(digits: readonly number[]): Promise<Float32Array[]> {
  const results = await preprocessDigitImages(await Promise.all(digits.map(digitPng)));
  return results.map((result) => {
    if (!result.ok) throw result.error;
    return result.digit.pixels;
  });
}

const argmax = (row: readonly number[]) => row.indexOf(Math.max(...row));

describe('Open Inference Protocol (V2) end to end', () => {
  const system = useSystem({ workers: 1, env: { API_KEYS: `v2client:${KEY}` } });
  const url = (path: string) => `${system.baseUrl}${path}`;
  const infer = (body: BodyInit, headers: Record<string, string> = {}) =>
    fetch(url('/v2/models/digitnet/infer'), { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json', ...headers }, body });

  it('answers health, server metadata and model metadata', async () => {
    const live = await fetch(url('/v2/health/live'));
    expect([live.status, await live.json()]).toEqual([200, { live: true }]);
    // The worker is consuming: it has reported its loaded model.
    const ready = await fetch(url('/v2/health/ready'));
    expect(ready.status, system.logs()).toBe(200);
    const server = await fetch(url('/v2'), { headers: AUTH });
    expect(await server.json()).toEqual({ name: 'digitq', version: expect.any(String), extensions: ['binary_tensor_data', 'classification'] });
    const model = (await (await fetch(url('/v2/models/digitnet'), { headers: AUTH })).json()) as Json;
    expect(model).toMatchObject({
      name: 'digitnet',
      versions: expect.arrayContaining(['v1']),
      inputs: [
        { name: 'input', datatype: 'FP32', shape: [-1, 28, 28, 1] },
        { name: 'image', datatype: 'BYTES', shape: [-1] },
      ],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 10] }],
    });
    const modelReady = await fetch(url('/v2/models/digitnet/ready'), { headers: AUTH });
    expect([modelReady.status, await modelReady.json()]).toEqual([200, { name: 'digitnet', ready: true }]);
  });

  it('classifies JSON FP32 tensors of the ten digits right', async () => {
    const pixels = await digitPixels(DIGITS);
    const data = pixels.flatMap((image) => Array.from(image));
    const res = await infer(JSON.stringify({ id: 'digits', inputs: [{ name: 'input', shape: [10, 28, 28, 1], datatype: 'FP32', data }] }));
    const body = (await res.json()) as Json;
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ model_name: 'digitnet', model_version: expect.stringMatching(/^v\d+$/), id: 'digits' });
    const [output] = body.outputs;
    expect(output).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: [10, 10] });
    const rows = DIGITS.map((d) => (output.data as number[]).slice(d * 10, d * 10 + 10));
    expect(rows.map(argmax)).toEqual(DIGITS);
  });

  it('takes a binary-extension request built byte by byte and answers binary output', async () => {
    const [seven] = await digitPixels([7]);
    // extension_binary_data.md: the JSON object, then the tensor "in little-endian byte order, row major"; the
    // Inference-Header-Content-Length header gives the JSON's length.
    const header = Buffer.from(
      JSON.stringify({
        inputs: [{ name: 'input', shape: [1, 28, 28, 1], datatype: 'FP32', parameters: { binary_data_size: PIXELS * FLOAT_BYTES } }],
        parameters: { binary_data_output: true },
      }),
      'utf8',
    );
    const tensor = Buffer.alloc(PIXELS * FLOAT_BYTES);
    for (let i = 0; i < PIXELS; i++) tensor.writeFloatLE(seven![i]!, i * FLOAT_BYTES);
    const res = await infer(Buffer.concat([header, tensor]), { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) });
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.status, body.toString()).toBe(200);
    const jsonLength = Number(res.headers.get('inference-header-content-length'));
    expect(jsonLength).toBeGreaterThan(0);
    const json = JSON.parse(body.subarray(0, jsonLength).toString('utf8')) as Json;
    expect(json.outputs).toEqual([{ name: 'probabilities', datatype: 'FP32', shape: [1, 10], parameters: { binary_data_size: 10 * FLOAT_BYTES } }]);
    expect(body.length).toBe(jsonLength + 10 * FLOAT_BYTES);
    const probabilities = Array.from({ length: 10 }, (_, i) => body.readFloatLE(jsonLength + i * FLOAT_BYTES));
    expect(argmax(probabilities)).toBe(7);
    expect(probabilities.reduce((sum, p) => sum + p, 0)).toBeCloseTo(1, 3);
  });

  it('takes a PNG as a BYTES input (length-prefixed binary) and preprocesses it as an upload', async () => {
    const png = await digitPng(4);
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(png.length);
    const tensor = Buffer.concat([prefix, png]);
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: tensor.length } }] }));
    const res = await infer(Buffer.concat([header, tensor]), { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) });
    const body = (await res.json()) as Json;
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(argmax(body.outputs[0].data)).toBe(4);
  });

  it('answers the classification extension: top 3 as "score:index:label", highest first', async () => {
    const res = await infer(
      JSON.stringify({
        inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [(await digitPng(2)).toString('base64')] }],
        outputs: [{ name: 'probabilities', parameters: { classification: 3 } }],
      }),
    );
    const body = (await res.json()) as Json;
    expect(res.status, JSON.stringify(body)).toBe(200);
    const [output] = body.outputs;
    expect(output).toMatchObject({ name: 'probabilities', datatype: 'BYTES', shape: [1, 3] });
    const parsed = (output.data as string[]).map((entry) => entry.split(':'));
    expect(parsed.map((parts) => parts.length)).toEqual([3, 3, 3]);
    expect(parsed[0]!.slice(1)).toEqual(['2', '2']);
    const scores = parsed.map(([score]) => Number(score));
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
  });

  it('answers an unknown model 404 and a request without the API key 401, both as {"error": ...}', async () => {
    const unknown = await fetch(url('/v2/models/letters/infer'), {
      method: 'POST',
      headers: { ...AUTH, 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 28, 28, 1], datatype: 'FP32', data: Array(PIXELS).fill(0) }] }),
    });
    expect([unknown.status, await unknown.json()]).toEqual([404, { error: 'model letters is not found' }]);
    const metadata = await fetch(url('/v2/models/letters'), { headers: AUTH });
    expect(metadata.status).toBe(404);
    const anonymous = await fetch(url('/v2/models/digitnet'));
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toEqual({ error: expect.any(String) });
  });
});
