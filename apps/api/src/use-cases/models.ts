/**
 * The registry's model versions, their metrics, and which one is active.
 * Activating a version makes every inference worker load it and swap it in
 * between batches (who may activate is the caller's business: the HTTP layer
 * puts it behind the admin guard).
 */
import { AppError, type ModelList, type ModelMetadata, type ModelVariant, type ModelVersionView } from '@digitq/contracts';
import { RegistryError } from '@digitq/registry';
import type { IntakeDeps } from './deps.ts';

export interface ModelVersionRef {
  name: string;
  version: string;
}

/** The version's metadata, or MODEL_NOT_FOUND. */
async function findVersion(ref: ModelVersionRef, deps: Pick<IntakeDeps, 'registry'>): Promise<ModelMetadata> {
  const metadata = await deps.registry.get(ref.name, ref.version);
  if (!metadata) throw new AppError('MODEL_NOT_FOUND', `no model ${ref.name}@${ref.version}`);
  return metadata;
}

export async function listModels(deps: Pick<IntakeDeps, 'registry'>): Promise<ModelList> {
  return deps.registry.list();
}

export async function getModel(ref: ModelVersionRef, deps: Pick<IntakeDeps, 'registry'>): Promise<ModelVersionView> {
  const metadata = await findVersion(ref, deps);
  const active = await deps.registry.activeVersion(metadata.name);
  return { ...metadata, active: active === metadata.version };
}

/** Makes `ref` (as `variant`, fp32 by default) what every worker serves for its model; MODEL_NOT_FOUND for a variant the version lacks. */
export async function activateModel(ref: ModelVersionRef & { variant?: ModelVariant }, deps: Pick<IntakeDeps, 'registry'>): Promise<ModelVersionView> {
  const metadata = await findVersion(ref, deps);
  try {
    await deps.registry.activate(metadata.name, metadata.version, ref.variant);
  } catch (error) {
    if (error instanceof RegistryError && error.code === 'MODEL_NOT_FOUND') throw new AppError('MODEL_NOT_FOUND', error.message, {}, { cause: error });
    throw error;
  }
  return { ...metadata, active: true };
}
