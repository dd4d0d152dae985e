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

export const MNIST_SIDE = 28;
export const MNIST_PIXELS = MNIST_SIDE * MNIST_SIDE;
export const DIGIT_CLASSES = 10;

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
