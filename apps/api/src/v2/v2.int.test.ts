/**
 * The Open Inference Protocol endpoints against the real stack (Redis,
 * BullMQ, InferenceJobs) with a stand-in worker that echoes the first ten
 * pixels of each image as its "probabilities", so what a request sent can be
 * read back from what the job computed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Job } from 'bullmq';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { PIXELS_PER_IMAGE, decodePixels, type InferenceJobData, type InferenceResult, type WorkerHeartbeat } from '@digitq/contracts';
import { writeFakeModelVersion } from '@digitq/test-utils';
import { publishWorkerHeartbeat } from '@digitq/jobs';
import type { PreprocessImages } from '../use-cases/preprocess.ts';
import { createTestStack, type TestStack } from '../../test/api-stack.ts';
import { decodeInferResponse, encodeInferRequest } from './binary.ts';

const MAX_BYTE = 255;
const CLASSES = 10;

let stack: TestStack | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await stack?.close();
  stack = undefined;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Probabilities = the image's first ten pixels / 255: what the request sent comes back. */
function echoResult(job: Job<InferenceJobData>): InferenceResult {
  return {
    predictions: job.data.images.map((encoded) => {
      const pixels = decodePixels(encoded);
      const probabilities = Array.from({ length: CLASSES }, (_, d) => pixels[d]! / MAX_BYTE);
      const confidence = Math.max(...probabilities);
      return { prediction: probabilities.indexOf(confidence), confidence, probabilities };
    }),
    model: { name: 'digitnet', version: job.data.model?.split('@')[1] ?? 'v1' },
    batch_images: job.data.images.length,
    worker: 'test-worker',
  };
}

/** Registers digitnet v1 and v2 (opaque artifacts: the registry only checks their sums) and makes v1 active. */
async function registerDigitnet(stack: TestStack): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'digitq-v2-models-'));
  dirs.push(root);
  for (const version of ['v1', 'v2']) await stack.registry.publishFolder(writeFakeModelVersion(root, { version }));
  await stack.registry.activate('digitnet', 'v1');
}

async function startStack(config: Parameters<typeof createTestStack>[0] = {}): Promise<TestStack> {
  stack = await createTestStack(config);
  await registerDigitnet(stack);
  return stack;
}

function heartbeat(models: WorkerHeartbeat['models']): WorkerHeartbeat {
  const now = new Date().toISOString();
  return { id: 'v2-test-worker', hostname: 'test', pid: 1, device: 'cpu', backend: 'cpu', queues: ['inference'], models, started_at: now, at: now };
}

/** An image whose first ten pixels are `first` (in [0, 1]) and the rest 0. */
function image(first: number[]): Float32Array {
  const pixels = new Float32Array(PIXELS_PER_IMAGE);
  pixels.set(first);
  return pixels;
}

/** The pixels as the protocol's natural nested representation: [N][28][28][1]. */
function nested(images: Float32Array[]): number[][][][] {
  return images.map((pixels) => Array.from({ length: 28 }, (_, y) => Array.from({ length: 28 }, (_, x) => [pixels[y * 28 + x]!])));
}

const ramp = [0.1, 0.2, 0.9, 0.3, 0.05, 0.6, 0, 0.4, 0.8, 0.7];
/** What the job carries for float pixels: the float32 the client sent, as a byte (0.9 as float32 is just below 0.9). */
const quantised = (values: number[]) => values.map((v) => Math.round(Math.fround(v) * MAX_BYTE) / MAX_BYTE);

/** supertest buffers any body as bytes with this parser. */
function bytesParser(response: unknown, callback: (error: Error | null, body: Buffer) => void): void {
  const res = response as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  res.on('data', (chunk: Buffer) => chunks.push(chunk));
  res.on('end', () => callback(null, Buffer.concat(chunks)));
}

describe('Open Inference Protocol: health and metadata', () => {
  it('answers live, ready (once a worker reports a loaded model) and the server metadata with its extensions', async () => {
    const { app, redis, prefix } = await startStack();
    expect((await request(app).get('/v2/health/live')).body).toEqual({ live: true });
    const notReady = await request(app).get('/v2/health/ready');
    expect(notReady.status).toBe(503);
    expect(notReady.body).toEqual({ live: true, ready: false });
    await publishWorkerHeartbeat(redis, prefix, heartbeat([{ name: 'digitnet', version: 'v1' }]));
    const ready = await request(app).get('/v2/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ live: true, ready: true });
    const server = await request(app).get('/v2');
    expect(server.status).toBe(200);
    expect(server.body).toEqual({ name: 'digitq', version: expect.any(String), extensions: ['binary_tensor_data', 'classification'] });
  });

  it('describes the model, with or without a version, and its readiness from worker heartbeats', async () => {
    const { app, redis, prefix } = await startStack();
    const expected = {
      name: 'digitnet',
      versions: ['v1', 'v2'],
      platform: 'tensorflowjs_layers',
      inputs: [
        { name: 'input', datatype: 'FP32', shape: [-1, 28, 28, 1] },
        { name: 'image', datatype: 'BYTES', shape: [-1] },
      ],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 10] }],
    };
    expect((await request(app).get('/v2/models/digitnet')).body).toEqual(expected);
    expect((await request(app).get('/v2/models/digitnet/versions/v2')).body).toEqual(expected);
    const before = await request(app).get('/v2/models/digitnet/ready');
    expect([before.status, before.body]).toEqual([503, { name: 'digitnet', ready: false }]);
    await publishWorkerHeartbeat(redis, prefix, heartbeat([{ name: 'digitnet', version: 'v1' }]));
    expect((await request(app).get('/v2/models/digitnet/ready')).body).toEqual({ name: 'digitnet', ready: true });
    expect((await request(app).get('/v2/models/digitnet/versions/v1/ready')).status).toBe(200);
    // v2 is registered but no worker has it loaded.
    expect((await request(app).get('/v2/models/digitnet/versions/v2/ready')).body).toEqual({ name: 'digitnet', ready: false });
  });

  it('answers an unknown model, version or endpoint 404 with {"error": ...}', async () => {
    const { app } = await startStack();
    for (const path of ['/v2/models/letters', '/v2/models/letters/ready', '/v2/models/digitnet/versions/v9', '/v2/models/digitnet/versions/latest', '/v2/nothing']) {
      const res = await request(app).get(path);
      expect(res.status, path).toBe(404);
      expect(res.body, path).toEqual({ error: expect.any(String) });
    }
    const infer = await request(app).post('/v2/models/letters/infer').send({ inputs: [{ name: 'input', shape: [1, 28, 28, 1], datatype: 'FP32', data: Array(784).fill(0) }] });
    expect(infer.status).toBe(404);
    expect(infer.body).toEqual({ error: 'model letters is not found' });
    await stack!.expectNothingEnqueued();
  });
});

describe('Open Inference Protocol: inference', () => {
  it('runs JSON FP32 tensors as one job through the queue and answers the probabilities', async () => {
    const { app, queue } = await startStack();
    await stack!.startWorker(async (job) => echoResult(job));
    const images = [image(ramp), image([...ramp].reverse())];
    const res = await request(app)
      .post('/v2/models/digitnet/infer')
      .send({ id: 'req-42', inputs: [{ name: 'input', shape: [2, 28, 28, 1], datatype: 'FP32', data: nested(images) }] });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({
      model_name: 'digitnet',
      model_version: 'v1',
      id: 'req-42',
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [2, 10], data: [...quantised(ramp), ...quantised([...ramp].reverse())] }],
    });
    const [job] = await queue.getJobs(['completed']);
    expect(job?.data).toMatchObject({ owner: 'anonymous', model: 'digitnet', webhook: null });
    expect(job?.data.images).toHaveLength(2);
  });

  it('takes a binary-extension request built byte by byte and answers binary output with Inference-Header-Content-Length', async () => {
    const { app, queue } = await startStack();
    await stack!.startWorker(async (job) => echoResult(job));
    const pixels = image(ramp);
    // The request exactly as extension_binary_data.md lays it out: the JSON, then the tensor's raw bytes.
    const header = Buffer.from(
      JSON.stringify({
        inputs: [{ name: 'input', shape: [1, 28, 28, 1], datatype: 'FP32', parameters: { binary_data_size: PIXELS_PER_IMAGE * 4 } }],
        outputs: [{ name: 'probabilities', parameters: { binary_data: true } }],
      }),
    );
    const tensor = Buffer.alloc(PIXELS_PER_IMAGE * 4);
    for (let i = 0; i < PIXELS_PER_IMAGE; i++) tensor.writeFloatLE(pixels[i]!, i * 4); // little-endian float32, row-major
    const body = Buffer.concat([header, tensor]);
    // encodeInferRequest (the benchmark's builder) makes the same bytes.
    const encoded = encodeInferRequest([pixels], { binaryOutput: true });
    expect(encoded.headerLength).toBe(header.length);
    expect(encoded.body.equals(body)).toBe(true);

    const res = await request(app)
      .post('/v2/models/digitnet/versions/v1/infer')
      .set('Content-Type', 'application/octet-stream')
      .set('Inference-Header-Content-Length', String(header.length))
      .send(body)
      .buffer(true)
      .parse(bytesParser);
    expect(res.status, String(res.body)).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/octet-stream/);
    const headerLength = Number(res.headers['inference-header-content-length']);
    const json = JSON.parse((res.body as Buffer).subarray(0, headerLength).toString('utf8'));
    expect(json).toEqual({
      model_name: 'digitnet',
      model_version: 'v1',
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [1, 10], parameters: { binary_data_size: 40 } }],
    });
    const floats = (res.body as Buffer).subarray(headerLength);
    expect(floats.length).toBe(40);
    const values = Array.from({ length: 10 }, (_, i) => floats.readFloatLE(i * 4));
    values.forEach((value, i) => expect(value).toBeCloseTo(quantised(ramp)[i]!, 6));
    expect(decodeInferResponse(res.body as Buffer, headerLength).binary.get('probabilities')).toEqual(values);
    expect((await queue.getJobs(['completed']))[0]?.data.model).toBe('digitnet@v1');
  });

  it('takes BYTES images (binary, length-prefixed, and JSON base64) through the preprocessing step', async () => {
    const { appWith } = await startStack();
    await stack!.startWorker(async (job) => echoResult(job));
    const seen: Buffer[] = [];
    const preprocess: PreprocessImages = async (images) =>
      images.map((bytes) => {
        seen.push(Buffer.from(bytes));
        const pixels = new Uint8Array(PIXELS_PER_IMAGE);
        pixels[bytes[0]! % CLASSES] = MAX_BYTE;
        return { ok: true as const, digit: { pixelBytes: pixels } as never };
      });
    const app = appWith({ preprocess });
    const files = [Buffer.from([3, 1, 4, 1, 5]), Buffer.from([7, 7])];
    const tensor = Buffer.concat(files.flatMap((file) => [Buffer.from(Uint32Array.of(file.length).buffer), file]));
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'image', shape: [2], datatype: 'BYTES', parameters: { binary_data_size: tensor.length } }] }));
    const res = await request(app)
      .post('/v2/models/digitnet/infer')
      .set('Inference-Header-Content-Length', String(header.length))
      .set('Content-Type', 'application/octet-stream')
      .send(Buffer.concat([header, tensor]));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(seen).toEqual(files);
    const data = res.body.outputs[0].data as number[];
    expect([data.indexOf(1), data.lastIndexOf(1)]).toEqual([3, 17]);

    const json = await request(app)
      .post('/v2/models/digitnet/infer')
      .send({ inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [files[1]!.toString('base64')] }] });
    expect(json.status, JSON.stringify(json.body)).toBe(200);
    expect(seen.at(-1)).toEqual(files[1]);
  });

  it('answers the classification extension as "score:index:label" strings, highest first, as JSON or binary BYTES', async () => {
    const { app } = await startStack();
    await stack!.startWorker(async (job) => echoResult(job));
    const input = { name: 'input', shape: [1, 28, 28, 1], datatype: 'FP32', data: Array.from(image(ramp)) };
    const res = await request(app)
      .post('/v2/models/digitnet/infer')
      .send({ inputs: [input], outputs: [{ name: 'probabilities', parameters: { classification: 3 } }] });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const [p2, p8, p9] = quantised([ramp[2]!, ramp[8]!, ramp[9]!]);
    expect(res.body.outputs).toEqual([{ name: 'probabilities', datatype: 'BYTES', shape: [1, 3], data: [`${p2}:2:2`, `${p8}:8:8`, `${p9}:9:9`] }]);

    const binary = await request(app)
      .post('/v2/models/digitnet/infer')
      .send({ parameters: { binary_data_output: true }, inputs: [input], outputs: [{ name: 'probabilities', parameters: { classification: 2 } }] })
      .buffer(true)
      .parse(bytesParser);
    const headerLength = Number(binary.headers['inference-header-content-length']);
    const { header, binary: outputs } = decodeInferResponse(binary.body as Buffer, headerLength);
    const bytes = outputs.get('probabilities') as Uint8Array;
    expect(header.outputs[0]).toEqual({ name: 'probabilities', datatype: 'BYTES', shape: [1, 2], parameters: { binary_data_size: bytes.length } });
    const first = `${p2}:2:2`;
    const view = Buffer.from(bytes);
    expect(view.readUInt32LE(0)).toBe(first.length);
    expect(view.subarray(4, 4 + first.length).toString()).toBe(first);
  });

  it('refuses malformed and unsupported requests 400 with {"error": ...}, enqueuing nothing', async () => {
    const { app } = await startStack({ MAX_IMAGES_PER_JOB: 2 });
    const pixels = (count: number, value = 0) => ({ name: 'input', shape: [count, 28, 28, 1], datatype: 'FP32', data: Array(count * 784).fill(value) });
    const cases: [string, object][] = [
      ['wrong shape', { inputs: [{ ...pixels(1), shape: [1, 784] }] }],
      ['too few elements', { inputs: [{ ...pixels(1), data: [0, 1] }] }],
      ['0-255 pixels', { inputs: [pixels(1, 255)] }],
      ['FP16', { inputs: [{ ...pixels(1), datatype: 'FP16' }] }],
      ['unknown input', { inputs: [{ ...pixels(1), name: 'x' }] }],
      ['two inputs', { inputs: [pixels(1), pixels(1)] }],
      ['too many images', { inputs: [pixels(3)] }],
      ['unknown output', { inputs: [pixels(1)], outputs: [{ name: 'logits' }] }],
      ['bad classification', { inputs: [pixels(1)], outputs: [{ name: 'probabilities', parameters: { classification: 0 } }] }],
      ['shared memory', { inputs: [{ ...pixels(1), parameters: { shared_memory_region: 'r' } }] }],
      ['binary size without the header', { inputs: [{ name: 'input', shape: [1, 28, 28, 1], datatype: 'FP32', parameters: { binary_data_size: 3136 } }] }],
      ['no inputs', { inputs: [] }],
    ];
    for (const [what, body] of cases) {
      const res = await request(app).post('/v2/models/digitnet/infer').send(body);
      expect(res.status, what).toBe(400);
      expect(res.body, what).toEqual({ error: expect.any(String) });
    }
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 28, 28, 1], datatype: 'FP32', parameters: { binary_data_size: 3136 } }] }));
    const short = await request(app)
      .post('/v2/models/digitnet/infer')
      .set('Inference-Header-Content-Length', String(header.length))
      .set('Content-Type', 'application/octet-stream')
      .send(Buffer.concat([header, Buffer.alloc(100)]));
    expect(short.status).toBe(400);
    expect(short.body.error).toMatch(/binary_data_size 3136 goes past the end/);
    const notJson = await request(app).post('/v2/models/digitnet/infer').set('Content-Type', 'application/json').send('{"inputs": [');
    expect([notJson.status, typeof notJson.body.error]).toEqual([400, 'string']);
    await stack!.expectNothingEnqueued();
  });

  it('answers 504 with {"error": ...} naming the job when no worker answers within PREDICT_TIMEOUT_MS', async () => {
    const { app } = await startStack({ PREDICT_TIMEOUT_MS: 300 });
    const res = await request(app)
      .post('/v2/models/digitnet/infer')
      .send({ inputs: [{ name: 'input', shape: [1, 28, 28, 1], datatype: 'FP32', data: Array(784).fill(0) }] });
    expect(res.status).toBe(504);
    expect(res.body).toEqual({ error: expect.stringMatching(/^job \S+ did not finish within 300 ms/) });
  });
});

describe('Open Inference Protocol: API keys', () => {
  it('needs a key everywhere but the health endpoints, refusing with 401 {"error": ...}', async () => {
    const { app } = await startStack({ API_KEYS: [{ name: 'alice', key: 'sk_test_alice_0123456789abcdef' }] });
    await stack!.startWorker(async (job) => echoResult(job));
    expect((await request(app).get('/v2/health/live')).status).toBe(200);
    const body = { inputs: [{ name: 'input', shape: [1, 28, 28, 1], datatype: 'FP32', data: Array(784).fill(0) }] };
    for (const res of [await request(app).get('/v2'), await request(app).get('/v2/models/digitnet'), await request(app).post('/v2/models/digitnet/infer').send(body)]) {
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: expect.any(String) });
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    }
    const wrong = await request(app).get('/v2').set('Authorization', 'Bearer nope');
    expect(wrong.status).toBe(401);
    const auth = { Authorization: 'Bearer sk_test_alice_0123456789abcdef' };
    expect((await request(app).get('/v2').set(auth)).status).toBe(200);
    const infer = await request(app).post('/v2/models/digitnet/infer').set(auth).send(body);
    expect(infer.status).toBe(200);
    expect((await stack!.queue.getJobs(['completed']))[0]?.data.owner).toBe('alice');
  });
});
