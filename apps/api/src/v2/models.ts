/**
 * digitq's registry as V2 models: a model is a registered name, its versions
 * the registry's versions (v1, v2, ...). A path without a version means the
 * active one ("If a version is not provided the server may choose a version
 * based on its own policies"). Unknown names and versions are MODEL_NOT_FOUND
 * (404, `{"error": ...}`).
 */
import { AppError, MODEL_NAME_PATTERN, MODEL_VERSION_PATTERN, type ModelMetadata } from '@digitq/contracts';
import { servingWorkers } from '../readiness.ts';
import type { IntakeDeps } from '../use-cases/deps.ts';
import { listModels } from '../use-cases/models.ts';
import { listWorkers } from '../use-cases/workers.ts';
import { IMAGE_INPUT, PIXELS_INPUT, PROBABILITIES_OUTPUT } from './tensors.ts';

/** What "platform" says of a version with an ONNX export (the name the protocol's Platforms list gives ONNX Runtime models). */
const ONNX_PLATFORM = 'onnx_onnxv1';
/** Otherwise: a TensorFlow.js layers model, named as the protocol's "<project>_<format>" convention asks. */
const TFJS_PLATFORM = 'tensorflowjs_layers';
const ONNX_FILE = 'model.onnx';

export interface V2Model {
  name: string;
  /** The version a request without one is served (the active one), or the one in the path. */
  version: string;
  /** Whether the path named the version: a job then asks for exactly that version. */
  pinned: boolean;
  metadata: ModelMetadata;
}

function notFound(name: string, version: string | null): AppError {
  return new AppError('MODEL_NOT_FOUND', version === null ? `model ${name} is not found` : `model ${name} version ${version} is not found`);
}

/** The model (and version) a V2 path names, or MODEL_NOT_FOUND. */
export async function findModel(name: string, version: string | null, deps: Pick<IntakeDeps, 'registry'>): Promise<V2Model> {
  if (!MODEL_NAME_PATTERN.test(name) || (version !== null && !MODEL_VERSION_PATTERN.test(version))) throw notFound(name, version);
  const resolved = version ?? (await deps.registry.activeVersion(name));
  if (resolved === null) throw notFound(name, version);
  const metadata = await deps.registry.get(name, resolved);
  if (!metadata) throw notFound(name, version);
  return { name, version: resolved, pinned: version !== null, metadata };
}

/** The model reference a job carries: `name@version` when the path named one, else `name` (the active version and variant). */
export function jobModelRef(model: V2Model): string {
  return model.pinned ? `${model.name}@${model.version}` : model.name;
}

/** "Model Metadata Response JSON Object". */
export async function modelMetadata(model: V2Model, deps: Pick<IntakeDeps, 'registry'>) {
  const { data } = await listModels(deps);
  const versions = data.find((entry) => entry.name === model.name)?.versions.map((v) => v.version) ?? [model.version];
  return {
    name: model.name,
    versions,
    platform: model.metadata.files[ONNX_FILE] ? ONNX_PLATFORM : TFJS_PLATFORM,
    inputs: [PIXELS_INPUT, IMAGE_INPUT],
    outputs: [PROBABILITIES_OUTPUT],
  };
}

/** Whether a live worker consuming the inference queue has this version loaded (its heartbeat says so). */
export async function modelReady(model: V2Model, deps: Pick<IntakeDeps, 'redis' | 'prefix'>): Promise<boolean> {
  const { data } = await listWorkers(deps);
  return servingWorkers(data).some((worker) => worker.models.some((loaded) => loaded.name === model.name && loaded.version === model.version));
}
