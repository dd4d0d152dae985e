/** A set of labelled 28x28 grayscale digits in the MNIST convention (0 = background, 255 = ink). */
export interface DigitDataset {
  readonly name: string;
  readonly count: number;
  readonly rows: number;
  readonly cols: number;
  /** count * rows * cols bytes, image after image, row-major. */
  readonly images: Uint8Array;
  readonly labels: Uint8Array;
}

// The input convention is defined once, in @digitq/contracts; datasets name it after MNIST.
export { DIGIT_SIDE as MNIST_SIDE, PIXELS_PER_IMAGE as MNIST_PIXELS, DIGIT_CLASSES } from '@digitq/contracts';

/** A contiguous slice [start, end) of a dataset, sharing its memory. */
export function sliceDataset(set: DigitDataset, start: number, end: number, name = set.name): DigitDataset {
  const pixels = set.rows * set.cols;
  const from = Math.max(0, Math.min(start, set.count));
  const to = Math.max(from, Math.min(end, set.count));
  return {
    name,
    count: to - from,
    rows: set.rows,
    cols: set.cols,
    images: set.images.subarray(from * pixels, to * pixels),
    labels: set.labels.subarray(from, to),
  };
}
