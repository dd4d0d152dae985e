export * from './idx.ts';
export * from './digit-dataset.ts';
export * from './idx-digits.ts';
