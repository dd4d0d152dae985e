/**
 * Pen width. MNIST digits were written with a thick pen: scaled to the
 * 20-px box their strokes are about 2.6 px wide (median; 5th percentile 2.1,
 * measured with strokeWidth on the test set). A ballpoint digit photographed
 * large shrinks to hair-thin, faint strokes, which the model has never seen,
 * so strokes thinner than MNIST's thinnest are thickened to that width
 * (greyscale dilation) before scaling. Thicker strokes are left alone, so the
 * result changes smoothly with the pen width.
 */
import { DIGIT_BOX_SIDE } from './frame.ts';

/** Strokes thinner than this, measured at the 20-px box scale, are thickened to it. */
export const MIN_STROKE_WIDTH = 2;
/** A pixel belongs to a stroke when its ink strength is at least half of full ink. */
const STROKE_LEVEL = 128;

export interface InkImage {
  ink: Uint8Array;
  width: number;
  height: number;
}

/**
 * Mean stroke width in pixels: 2 x area / boundary length, which for a
 * stroke of width w and length L (L >> w) is 2wL / 2L = w. 0 without strokes.
 */
export function strokeWidth({ ink, width, height }: InkImage): number {
  let area = 0;
  let boundary = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0, i = y * width; x < width; x++, i++) {
      if (ink[i]! < STROKE_LEVEL) continue;
      area++;
      // A neighbour outside the image is not stroke.
      if (
        x === 0 || ink[i - 1]! < STROKE_LEVEL ||
        x === width - 1 || ink[i + 1]! < STROKE_LEVEL ||
        y === 0 || ink[i - width]! < STROKE_LEVEL ||
        y === height - 1 || ink[i + width]! < STROKE_LEVEL
      ) {
        boundary++;
      }
    }
  }
  return boundary > 0 ? (2 * area) / boundary : 0;
}

/** Greyscale dilation with a (2r+1)-square window; the result is r pixels larger on every side. */
export function dilate({ ink, width, height }: InkImage, radius: number): InkImage {
  const outWidth = width + 2 * radius;
  const outHeight = height + 2 * radius;
  // Horizontal pass into a padded buffer, then vertical.
  const rows = new Uint8Array(outWidth * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < outWidth; x++) {
      let max = 0;
      const from = Math.max(0, x - 2 * radius);
      const to = Math.min(width - 1, x);
      for (let s = from; s <= to; s++) max = Math.max(max, ink[y * width + s]!);
      rows[y * outWidth + x] = max;
    }
  }
  const out = new Uint8Array(outWidth * outHeight);
  for (let y = 0; y < outHeight; y++) {
    const from = Math.max(0, y - 2 * radius);
    const to = Math.min(height - 1, y);
    for (let x = 0; x < outWidth; x++) {
      let max = 0;
      for (let s = from; s <= to; s++) max = Math.max(max, rows[s * outWidth + x]!);
      out[y * outWidth + x] = max;
    }
  }
  return { ink: out, width: outWidth, height: outHeight };
}

/**
 * Thickens the strokes of a cropped digit so that, once scaled to the 20-px
 * box, they are about MIN_STROKE_WIDTH wide; returns the input unchanged
 * when they are that wide already.
 */
export function normaliseStrokeWidth(image: InkImage): InkImage {
  const width = strokeWidth(image);
  const pixelsPerBoxPixel = Math.max(image.width, image.height) / DIGIT_BOX_SIDE;
  if (width === 0 || width / pixelsPerBoxPixel >= MIN_STROKE_WIDTH) return image;
  // Dilating by r widens strokes by 2r but also the box, so solve (w + 2r) / (L + 2r) = target / 20.
  const target = MIN_STROKE_WIDTH / DIGIT_BOX_SIDE;
  const longer = Math.max(image.width, image.height);
  const radius = Math.round((target * longer - width) / (2 * (1 - target)));
  return radius > 0 ? dilate(image, radius) : image;
}
