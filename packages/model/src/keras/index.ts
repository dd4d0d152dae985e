export * from './hdf5.ts';
export * from './keras-layers.ts';
export * from './read-keras-file.ts';
export * from './import-keras.ts';
export * from './export-keras.ts';
export * from './input-convention.ts';
export * from './import-model-folder.ts';
