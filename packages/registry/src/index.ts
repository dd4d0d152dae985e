export * from './model-registry.ts';
