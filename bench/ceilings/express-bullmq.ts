/**
 * Ceiling C: the plumbing digitq's API is built on and nothing else. Express
 * 5 + multer 2 (memory storage) take the same multipart upload on the same
 * paths, a BullMQ job is added with digitq's default job options, and
 * POST /predict waits for it through QueueEvents; the job's processor (in
 * bench/ceilings/empty-worker.ts, another process) does nothing. What digitq
 * does beyond this (decode, preprocess, owner index, admission, its own
 * waiter) is what its ratio to this ceiling costs.
 *
 *   node --import tsx bench/ceilings/express-bullmq.ts --port P --redis-url U --prefix X --queue Q
 */
import type { AddressInfo } from 'node:net';
import { Queue, QueueEvents } from 'bullmq';
import express from 'express';
import { Redis } from 'ioredis';
import multer from 'multer';
import { loadConfig } from '@digitq/config';
import { defaultJobOptions } from '@digitq/jobs';
import { requiredArgs, send, stopWithParent } from './child.ts';

/** digitq's default settings (upload limits, /predict timeout, retention), so both sides run alike. */
const DIGITQ_DEFAULTS = loadConfig({});
const MAX_IMAGE_BYTES = DIGITQ_DEFAULTS.MAX_IMAGE_BYTES;
const MAX_IMAGES_PER_JOB = DIGITQ_DEFAULTS.MAX_IMAGES_PER_JOB;
const PREDICT_TIMEOUT_MS = DIGITQ_DEFAULTS.PREDICT_TIMEOUT_MS;
const RETENTION = { resultTtlS: DIGITQ_DEFAULTS.JOB_RESULT_TTL_S, maxCount: DIGITQ_DEFAULTS.JOB_RETENTION_COUNT };
const HTTP_ACCEPTED = 202;
const HTTP_BAD_REQUEST = 400;

const args = requiredArgs(['port', 'redis-url', 'prefix', 'queue']);
const connection = new Redis(args['redis-url'], { maxRetriesPerRequest: null });
const queue = new Queue(args.queue, { connection, prefix: args.prefix, defaultJobOptions: defaultJobOptions(RETENTION) });
const events = new QueueEvents(args.queue, { connection: { url: args['redis-url'] }, prefix: args.prefix });
const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: MAX_IMAGE_BYTES, files: MAX_IMAGES_PER_JOB } });

const app = express();
app.post('/predict', upload.single('file'), async (req, res) => {
  if (!req.file) {
    res.status(HTTP_BAD_REQUEST).json({ error: 'no file' });
    return;
  }
  const job = await queue.add('classify', { images: [req.file.buffer.toString('base64')] });
  const result: unknown = await job.waitUntilFinished(events, PREDICT_TIMEOUT_MS);
  res.json({ job_id: job.id, result: result ?? null });
});
app.post('/v1/jobs', upload.array('image', MAX_IMAGES_PER_JOB), async (req, res) => {
  const files = (req.files ?? []) as Express.Multer.File[];
  if (files.length === 0) {
    res.status(HTTP_BAD_REQUEST).json({ error: 'no image' });
    return;
  }
  const job = await queue.add('classify', { images: files.map((file) => file.buffer.toString('base64')) });
  res.status(HTTP_ACCEPTED).location(`/v1/jobs/${job.id}`).json({ id: job.id, status: 'queued' });
});

await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
const server = app.listen(Number(args.port), '127.0.0.1');
await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
stopWithParent(async () => {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
  await events.close();
  await queue.close();
  await connection.quit();
});
send({ ready: true, port: (server.address() as AddressInfo).port });
