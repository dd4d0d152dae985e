/**
 * V2 inference: the request's images become one inference job like any
 * other (the queue, micro-batching and the workers run it; the API never
 * runs a model), waited for up to PREDICT_TIMEOUT_MS, and its predictions
 * become the requested outputs, as JSON or binary data.
 */
import { AppError, type JobView } from '@digitq/contracts';
import type { IntakeDeps } from '../use-cases/deps.ts';
import { waitForJob } from '../use-cases/jobs.ts';
import { jobPath } from '../use-cases/paths.ts';
import { JobFailedError } from '../use-cases/predict.ts';
import { preprocessAll } from '../use-cases/preprocess.ts';
import { BINARY_CONTENT_TYPE, joinBinaryBody } from './binary.ts';
import { jobModelRef, type V2Model } from './models.ts';
import type { InferRequest, RequestedOutput } from './request.ts';
import { BYTES, PROBABILITIES_OUTPUT, classify, writeBytesElements, writeFp32 } from './tensors.ts';

const MS_PER_S = 1000;

export type InferDeps = Pick<IntakeDeps, 'jobs' | 'preprocess' | 'predictTimeoutMs' | 'shutdown'>;

/** An answer of the infer endpoint: JSON alone, or JSON and binary outputs. */
export type InferAnswer = { kind: 'json'; body: unknown } | { kind: 'binary'; body: Buffer; headers: Record<string, string> };

/** The job's probabilities, one row per image; its failure as JobFailedError; TIMEOUT (504) when it is still running. */
function probabilitiesOf(view: JobView, timeoutMs: number): number[][] {
  if (view.status === 'succeeded' && view.output) return view.output.predictions.map((p) => p.probabilities);
  if (view.status === 'failed' || view.status === 'canceled') {
    const error = view.error ?? { code: 'JOB_FAILED', message: 'the job failed' };
    throw new JobFailedError(view.id, error.code, error.message);
  }
  if (view.status === 'succeeded') throw new Error(`job ${view.id} succeeded without predictions`);
  throw new AppError('TIMEOUT', `job ${view.id} did not finish within ${timeoutMs} ms; it is still ${view.status}, see ${jobPath(view.id)}`, { jobId: view.id });
}

interface ResponseTensor {
  output: { name: string; shape: number[]; datatype: string; parameters?: { binary_data_size: number }; data?: unknown[] };
  binary: Buffer | null;
}

function responseTensor(requested: RequestedOutput, rows: number[][]): ResponseTensor {
  const name = requested.name;
  if (requested.classification !== null) {
    // "the returned tensor will ... be type BYTES with shape [ batch-size, <count> ]"
    const strings = rows.map((row) => classify(row, requested.classification!));
    const shape = [rows.length, strings[0]?.length ?? 0];
    const flat = strings.flat();
    if (!requested.binary) return { output: { name, shape, datatype: BYTES, data: flat }, binary: null };
    const bytes = writeBytesElements(flat);
    return { output: { name, shape, datatype: BYTES, parameters: { binary_data_size: bytes.length } }, binary: bytes };
  }
  const shape = [rows.length, PROBABILITIES_OUTPUT.shape[1]];
  const flat = rows.flat();
  if (!requested.binary) return { output: { name, shape, datatype: PROBABILITIES_OUTPUT.datatype, data: flat }, binary: null };
  const bytes = writeFp32(flat);
  return { output: { name, shape, datatype: PROBABILITIES_OUTPUT.datatype, parameters: { binary_data_size: bytes.length } }, binary: bytes };
}

/** Runs the request as one job for `owner` and answers its outputs. */
export async function infer(model: V2Model, request: InferRequest, owner: string, deps: InferDeps): Promise<InferAnswer> {
  const images = request.input.kind === 'pixels' ? request.input.pixels : await preprocessAll(request.input.images, deps.preprocess);
  const submitted = await deps.jobs.submit({ images, model: jobModelRef(model), owner, webhook: null });
  const view = (await waitForJob({ owner, id: submitted.id, waitS: deps.predictTimeoutMs / MS_PER_S }, deps)) ?? submitted;
  const rows = probabilitiesOf(view, deps.predictTimeoutMs);
  const tensors = request.outputs.map((requested) => responseTensor(requested, rows));
  const header = {
    model_name: model.name,
    // The version that served the job (the active one may have moved since the path was resolved).
    model_version: view.model?.version ?? model.version,
    ...(request.id === undefined ? {} : { id: request.id }),
    outputs: tensors.map((tensor) => tensor.output),
  };
  const binaries = tensors.flatMap((tensor) => (tensor.binary ? [tensor.binary] : []));
  if (binaries.length === 0) return { kind: 'json', body: header };
  // "If any binary data is present in the request or response the Inference-Header-Content-Length header must be provided".
  const { body, headerLength } = joinBinaryBody(header, binaries);
  return { kind: 'binary', body, headers: { 'Content-Type': BINARY_CONTENT_TYPE, 'Inference-Header-Content-Length': String(headerLength) } };
}
