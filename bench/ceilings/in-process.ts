/**
 * The seed's design, for reference: one Express process whose POST /predict
 * preprocesses the upload with @digitq/imaging and runs the model with
 * @digitq/model (on the engine the worker would use) right there, per request: no queue, no batching, no second
 * process. What it lacks (durability, retries, scaling workers apart from
 * the API, async jobs, webhooks) is what the queue buys; its speed against
 * digitq's is what the queue costs.
 *
 *   node --import tsx bench/ceilings/in-process.ts --port P --models-dir D --model NAME
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import multer from 'multer';
import { configureImaging, preprocessDigitImage } from '@digitq/imaging';
import { classifyDigits, readModelMetadata } from '@digitq/model';
import { requiredArgs, send, stopWithParent } from './child.ts';
import { engineLabel, loadServedEngine } from './engine.ts';

const MAX_IMAGE_BYTES = 10 * 1024 * 1024;
const HTTP_BAD_REQUEST = 400;

const args = requiredArgs(['port', 'models-dir', 'model']);
// As an entrypoint that preprocesses uploads should (sharp's process-wide settings).
configureImaging();
const { engine, dir } = await loadServedEngine(args['models-dir'], args.model);
const metadata = await readModelMetadata(dir);
const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: MAX_IMAGE_BYTES, files: 1 } });

const app = express();
app.post('/predict', upload.single('file'), async (req, res) => {
  if (!req.file) {
    res.status(HTTP_BAD_REQUEST).json({ error: 'no file' });
    return;
  }
  const digit = await preprocessDigitImage(req.file.buffer);
  const [prediction] = await classifyDigits(engine, [digit.pixels]);
  res.json({ prediction: prediction!.prediction, confidence: prediction!.confidence, model: { name: metadata.name, version: metadata.version } });
});

const server = app.listen(Number(args.port), '127.0.0.1');
await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
stopWithParent(async () => {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
  await engine.dispose();
});
send({ ready: true, port: (server.address() as AddressInfo).port, engine: engineLabel(engine.describe()) });
