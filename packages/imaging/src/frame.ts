/**
 * The MNIST layout (LeCun et al.): the digit scaled so its longer side is
 * 20 px, keeping its aspect ratio, then placed in a 28x28 frame so that its
 * centre of mass falls on the frame's centre. Measured on the MNIST test
 * set, that centre is pixel (14, 14) in 0-based row/column indices.
 */

export const FRAME_SIDE = 28;
export const FRAME_PIXELS = FRAME_SIDE * FRAME_SIDE;
export const DIGIT_BOX_SIDE = 20;
/** Where MNIST puts the centre of mass, in 0-based pixel indices (x and y). */
export const CENTRE_OF_MASS_TARGET = 14;
const MAX_BYTE = 255;

/** Size of a width x height box scaled so its longer side is DIGIT_BOX_SIDE (the shorter side at least 1). */
export function digitBoxSize(width: number, height: number): { width: number; height: number } {
  const scale = DIGIT_BOX_SIDE / Math.max(width, height);
  return {
    width: Math.max(1, Math.min(DIGIT_BOX_SIDE, Math.round(width * scale))),
    height: Math.max(1, Math.min(DIGIT_BOX_SIDE, Math.round(height * scale))),
  };
}

/** Intensity-weighted mean position in 0-based pixel indices; null when all values are 0. */
export function centreOfMass(values: ArrayLike<number>, width: number, height: number): { x: number; y: number } | null {
  let mass = 0;
  let sumX = 0;
  let sumY = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = values[y * width + x]!;
      mass += v;
      sumX += v * x;
      sumY += v * y;
    }
  }
  return mass > 0 ? { x: sumX / mass, y: sumY / mass } : null;
}

/**
 * Places a digit image (0-255 ink strength) in a 28x28 frame, shifted by
 * whole pixels so its centre of mass lands within half a pixel of
 * (14, 14), and scaled to [0, 1] with its brightest pixel at 1. Ink shifted
 * past the frame edge is cut off, as in MNIST.
 */
export function centreInFrame(values: ArrayLike<number>, width: number, height: number): Float32Array {
  const frame = new Float32Array(FRAME_PIXELS);
  const centre = centreOfMass(values, width, height);
  if (!centre) return frame;
  const dx = Math.round(CENTRE_OF_MASS_TARGET - centre.x);
  const dy = Math.round(CENTRE_OF_MASS_TARGET - centre.y);
  let max = 0;
  for (let y = 0; y < height; y++) {
    const fy = y + dy;
    if (fy < 0 || fy >= FRAME_SIDE) continue;
    for (let x = 0; x < width; x++) {
      const fx = x + dx;
      if (fx < 0 || fx >= FRAME_SIDE) continue;
      const v = values[y * width + x]!;
      frame[fy * FRAME_SIDE + fx] = v;
      if (v > max) max = v;
    }
  }
  if (max > 0) for (let i = 0; i < frame.length; i++) frame[i] = frame[i]! / max;
  return frame;
}

/**
 * A frame's [0, 1] values as bytes, round(255 * v) (clamped): the same bytes
 * as @digitq/contracts' quantizePixels, which a job carries.
 */
export function frameBytes(frame: Float32Array): Uint8Array {
  const bytes = new Uint8Array(frame.length);
  for (let i = 0; i < frame.length; i++) bytes[i] = Math.round(Math.min(1, Math.max(0, frame[i]!)) * MAX_BYTE);
  return bytes;
}
