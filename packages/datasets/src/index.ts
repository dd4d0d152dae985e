export * from './errors.ts';
export * from './idx.ts';
export * from './digit-dataset.ts';
export * from './idx-digits.ts';
export * from './folder-digits.ts';
export * from './dataset-spec.ts';
export * from './checksums.ts';
export * from './download.ts';
