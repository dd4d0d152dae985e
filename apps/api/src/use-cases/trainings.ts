/** Trainings: start (at most once per Idempotency-Key; a fine-tuning's base checked first), read, cancel. The training runs on a worker started with `--queues training`. */
import { AppError, parseModelRef, type TrainingRequest, type TrainingView } from '@digitq/contracts';
import type { IntakeDeps } from './deps.ts';
import { recordCanceled, recordQueued } from './events.ts';
import { createOnce, type IdempotencyInput } from './idempotency.ts';
import { checkWebhookUrl } from './webhook-url.ts';

/** What a training's webhook hears when the request names no events. */
const DEFAULT_TRAINING_WEBHOOK_EVENTS = ['training.completed' as const];

export interface StartTrainingInput {
  owner: string;
  request: TrainingRequest;
  idempotency: IdempotencyInput | null;
}

export interface TrainingRef {
  owner: string;
  id: string;
}

function trainingNotFound(id: string): AppError {
  return new AppError('JOB_NOT_FOUND', `no training ${id}`);
}

/**
 * A fine-tuning's base must be a registered version (MODEL_NOT_FOUND), or a
 * model with an active version, and its architecture is the base's
 * (UNPROCESSABLE when the request names another). Checked here so a client
 * hears at once; the worker checks again when the training starts.
 */
async function checkBase(request: TrainingRequest, deps: Pick<IntakeDeps, 'registry'>): Promise<void> {
  if (!request.base) return;
  const { name, version: pinned } = parseModelRef(request.base);
  const version = pinned ?? (await deps.registry.activeVersion(name));
  const metadata = version ? await deps.registry.get(name, version) : null;
  if (!version || !metadata) throw new AppError('MODEL_NOT_FOUND', pinned ? `no model ${request.base} to fine-tune` : `model ${name} has no active version to fine-tune`);
  if (request.architecture && request.architecture !== metadata.architecture) {
    throw new AppError('UNPROCESSABLE', `base ${name}@${version} is ${metadata.architecture}, not ${request.architecture}: leave architecture out to fine-tune it`);
  }
}

export async function startTraining(
  input: StartTrainingInput,
  deps: Pick<IntakeDeps, 'trainings' | 'webhookGuard' | 'idempotency' | 'redis' | 'prefix' | 'registry'>,
): Promise<{ training: TrainingView; replayed: boolean }> {
  const { owner, request } = input;
  const create = async (id?: string) => {
    await checkBase(request, deps);
    if (request.webhook) await checkWebhookUrl(deps.webhookGuard, request.webhook);
    const webhook = request.webhook ? { url: request.webhook, events: request.webhook_events_filter ?? DEFAULT_TRAINING_WEBHOOK_EVENTS } : null;
    const training = await deps.trainings.submit(request, owner, webhook, id);
    await recordQueued('training', training, deps);
    return training;
  };
  const { resource, replayed } = await createOnce(deps.idempotency, owner, input.idempotency, {
    create,
    load: (id) => deps.trainings.get(id, owner),
    gone: trainingNotFound,
  });
  return { training: resource, replayed };
}

export async function getTraining(ref: TrainingRef, deps: Pick<IntakeDeps, 'trainings'>): Promise<TrainingView> {
  const view = await deps.trainings.get(ref.id, ref.owner);
  if (!view) throw trainingNotFound(ref.id);
  return view;
}

/** Cancels a queued or running training (it stops at the end of its current batch); JOB_FINISHED once it finished. */
export async function cancelTraining(ref: TrainingRef, deps: Pick<IntakeDeps, 'trainings' | 'redis' | 'prefix'>): Promise<TrainingView> {
  const view = await deps.trainings.cancel(ref.id, ref.owner);
  if (!view) throw trainingNotFound(ref.id);
  await recordCanceled('training', view, deps);
  return view;
}
