export * from './model-registry.ts';
export * from './model-folders.ts';
