import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ImageError, type ImageErrorCode } from './errors.ts';
import { DIGIT_BOX_SIDE, FRAME_PIXELS } from './frame.ts';
import { preprocessDigitImage, preprocessDigitImages, type PreprocessedDigit } from './preprocess.ts';
import { MIN_STROKE_WIDTH, strokeWidth } from './stroke.ts';
import { measureDigit, renderDigitImage, type RenderDigitOptions } from './test-images.ts';

/** The frame's middle: between pixels 13 and 14 geometrically, pixel 14 in MNIST's own layout. */
const MIDDLES = [13.5, 14];

async function rejection(promise: Promise<unknown>): Promise<ImageError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ImageError);
  return error as ImageError;
}

async function expectCode(promise: Promise<unknown>, code: ImageErrorCode): Promise<void> {
  expect((await rejection(promise)).code).toBe(code);
}

function expectMnistLayout(digit: PreprocessedDigit): void {
  expect(digit.pixels).toBeInstanceOf(Float32Array);
  expect(digit.pixels).toHaveLength(FRAME_PIXELS);
  const layout = measureDigit(digit.pixels);
  for (const middle of MIDDLES) {
    expect(Math.abs(layout.centre.x - middle)).toBeLessThanOrEqual(1);
    expect(Math.abs(layout.centre.y - middle)).toBeLessThanOrEqual(1);
  }
  expect(Math.max(layout.box.width, layout.box.height)).toBe(DIGIT_BOX_SIDE);
  expect(layout.min).toBe(0);
  expect(layout.max).toBe(1);
}

function meanAbsDiff(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

interface Scenario {
  name: string;
  render: RenderDigitOptions;
  polarity: PreprocessedDigit['polarity'];
}

const SCENARIOS: Scenario[] = [
  { name: 'dark-on-light PNG, centred', render: { digit: 7 }, polarity: 'dark-on-light' },
  {
    name: 'light-on-dark PNG, off-centre',
    render: { digit: 3, polarity: 'light-on-dark', width: 400, height: 300, offsetX: 110, offsetY: -50, digitHeight: 150 },
    polarity: 'light-on-dark',
  },
  {
    name: 'large 1000x800 JPEG, dark-on-light, off-centre',
    render: { digit: 4, format: 'jpeg', width: 1000, height: 800, offsetX: -300, offsetY: 150, digitHeight: 420 },
    polarity: 'dark-on-light',
  },
  {
    name: 'large 1000x800 photo-like JPEG (grey uneven paper, noise)',
    render: { digit: 5, format: 'jpeg', width: 1000, height: 800, photo: true, offsetX: 200, offsetY: -100, digitHeight: 380 },
    polarity: 'dark-on-light',
  },
  {
    name: 'photo of a tilted sheet of paper on a dark desk',
    render: { digit: 7, format: 'jpeg', width: 1000, height: 800, sheet: { width: 560, height: 480, angle: 12 }, digitHeight: 260 },
    polarity: 'dark-on-light',
  },
  {
    name: 'large light-on-dark JPEG',
    render: { digit: 9, format: 'jpeg', polarity: 'light-on-dark', width: 1000, height: 800, offsetX: 250, digitHeight: 300 },
    polarity: 'light-on-dark',
  },
  { name: 'PNG with alpha, dark strokes on transparency', render: { digit: 2, alpha: true, offsetY: 40 }, polarity: 'dark-on-light' },
  {
    name: 'PNG with alpha, light strokes on transparency',
    render: { digit: 6, alpha: true, polarity: 'light-on-dark', offsetX: -40 },
    polarity: 'light-on-dark',
  },
  { name: 'WebP with alpha', render: { digit: 8, format: 'webp', alpha: true }, polarity: 'dark-on-light' },
  { name: 'GIF', render: { digit: 0, format: 'gif', offsetX: 30 }, polarity: 'dark-on-light' },
  { name: 'TIFF', render: { digit: 1, format: 'tiff', polarity: 'light-on-dark' }, polarity: 'light-on-dark' },
  { name: 'AVIF', render: { digit: 5, format: 'avif', width: 320, height: 240 }, polarity: 'dark-on-light' },
  {
    name: 'small 28x28 white-on-black PNG, like MNIST itself',
    render: { digit: 2, width: 28, height: 28, digitHeight: 20, strokeFraction: 0.13, polarity: 'light-on-dark' },
    polarity: 'light-on-dark',
  },
];

describe('preprocessDigitImage on drawn digits', () => {
  it.each(SCENARIOS)('$name: ink centred by mass in a 28x28 frame, longer side 20 px', async ({ render, polarity }) => {
    const bytes = await renderDigitImage(render);
    const digit = await preprocessDigitImage(bytes);
    expectMnistLayout(digit);
    expect(digit.format).toBe(render.format ?? 'png');
    expect(digit.polarity).toBe(polarity);
    const width = render.width ?? 280;
    const height = render.height ?? 280;
    expect([digit.width, digit.height]).toEqual([width, height]);

    // The ink box, in original pixels, is where the digit was drawn.
    const digitHeight = render.digitHeight ?? 0.6 * Math.min(width, height);
    const box = digit.inkBox;
    const tolerance = 0.1 * digitHeight; // glyphs are not symmetric in their 60x100 box
    expect(Math.abs(box.left + box.width / 2 - (width / 2 + (render.offsetX ?? 0)))).toBeLessThan(tolerance);
    expect(Math.abs(box.top + box.height / 2 - (height / 2 + (render.offsetY ?? 0)))).toBeLessThan(tolerance);
    expect(box.height).toBeGreaterThan(0.85 * digitHeight);
    expect(box.height).toBeLessThan(1.25 * digitHeight);
  });

  it('gives the same result wherever the digit sits and whatever the polarity', async () => {
    const reference = await preprocessDigitImage(await renderDigitImage({ digit: 4, width: 600, height: 600, digitHeight: 300 }));
    for (const variant of [
      { offsetX: -120, offsetY: 100 },
      { offsetX: 140, offsetY: -130 },
      { polarity: 'light-on-dark' as const },
    ]) {
      const moved = await preprocessDigitImage(await renderDigitImage({ digit: 4, width: 600, height: 600, digitHeight: 300, ...variant }));
      expect(meanAbsDiff(moved.pixels, reference.pixels)).toBeLessThan(0.02);
    }
  });

  it('thickens a thin pen line to MNIST stroke width', async () => {
    const bytes = await renderDigitImage({ digit: 4, format: 'jpeg', photo: true, width: 1000, height: 800, digitHeight: 700, strokeFraction: 0.02 });
    const digit = await preprocessDigitImage(bytes);
    expectMnistLayout(digit);
    const ink = Uint8Array.from(digit.pixels, (v) => Math.round(255 * v));
    expect(strokeWidth({ ink, width: 28, height: 28 })).toBeGreaterThanOrEqual(0.9 * MIN_STROKE_WIDTH);
  });

  it('is deterministic', async () => {
    const bytes = await renderDigitImage({ digit: 6, format: 'jpeg', photo: true, width: 800, height: 600, digitHeight: 300 });
    const [a, b] = await Promise.all([preprocessDigitImage(bytes), preprocessDigitImage(bytes)]);
    expect(a).toEqual(b);
  });

  it('treats any Uint8Array view like a Buffer', async () => {
    const bytes = await renderDigitImage({ digit: 1 });
    const padded = new Uint8Array(bytes.length + 10);
    padded.set(bytes, 5);
    const view = padded.subarray(5, 5 + bytes.length);
    expect((await preprocessDigitImage(view)).pixels).toEqual((await preprocessDigitImage(bytes)).pixels);
  });
});

describe('EXIF orientation', () => {
  // A 7 in a wide canvas: mirroring or a wrong rotation shows in the pixels and in the ink box.
  const base = { digit: 7, width: 300, height: 200, offsetX: 60, offsetY: -20, digitHeight: 120 } as const;

  it.each(['png', 'jpeg', 'webp'] as const)('is applied for every orientation 1-8 (%s)', async (format) => {
    const upright = await preprocessDigitImage(await renderDigitImage({ ...base, format }));
    for (let orientation = 1; orientation <= 8; orientation++) {
      const bytes = await renderDigitImage({ ...base, format, exifOrientation: orientation });
      const stored = await sharp(bytes).metadata();
      expect(stored.orientation).toBe(orientation);
      if (orientation >= 5) expect([stored.width, stored.height]).toEqual([base.height, base.width]);

      const digit = await preprocessDigitImage(bytes);
      expectMnistLayout(digit);
      expect([digit.width, digit.height]).toEqual([base.width, base.height]);
      expect(Math.abs(digit.inkBox.left - upright.inkBox.left)).toBeLessThanOrEqual(2);
      expect(Math.abs(digit.inkBox.top - upright.inkBox.top)).toBeLessThanOrEqual(2);
      expect(meanAbsDiff(digit.pixels, upright.pixels)).toBeLessThan(0.05);
    }
  });
});

describe('blank images', () => {
  it.each([
    ['a white PNG', () => sharp({ create: { width: 300, height: 200, channels: 3, background: '#fff' } }).png().toBuffer()],
    ['a black JPEG', () => sharp({ create: { width: 300, height: 200, channels: 3, background: '#000' } }).jpeg().toBuffer()],
    ['a fully transparent PNG', () => sharp({ create: { width: 100, height: 100, channels: 4, background: '#0000' } }).png().toBuffer()],
    [
      'grey paper with noise and no ink (photo-like JPEG)',
      () => renderDigitImage({ digit: 1, photo: true, format: 'jpeg', width: 800, height: 600, blank: true }),
    ],
  ])('%s is IMAGE_BLANK, not a guess', async (_, make) => {
    await expectCode(preprocessDigitImage(await make()), 'IMAGE_BLANK');
  });
});

describe('limits and options', () => {
  it('rejects more bytes than maxBytes with IMAGE_TOO_LARGE', async () => {
    const bytes = await renderDigitImage({ digit: 3 });
    await expectCode(preprocessDigitImage(bytes, { maxBytes: bytes.length - 1 }), 'IMAGE_TOO_LARGE');
    await expect(preprocessDigitImage(bytes, { maxBytes: bytes.length })).resolves.toBeDefined();
  });

  it('rejects more pixels than maxPixels with IMAGE_TOO_MANY_PIXELS', async () => {
    const bytes = await renderDigitImage({ digit: 3, width: 300, height: 200 });
    await expectCode(preprocessDigitImage(bytes, { maxPixels: 300 * 200 - 1 }), 'IMAGE_TOO_MANY_PIXELS');
  });

  it('works at a small working size', async () => {
    const digit = await preprocessDigitImage(await renderDigitImage({ digit: 8, width: 1000, height: 800, format: 'jpeg' }), { workingSize: 64 });
    expectMnistLayout(digit);
  });

  it.each([{ workingSize: 0 }, { maxBytes: -1 }, { concurrency: 1.5 }, { minInkContrast: 300 }, { timeoutSeconds: Number.NaN }])(
    'rejects the impossible option %o with a RangeError',
    async (options) => {
      await expect(preprocessDigitImage(new Uint8Array([1]), options)).rejects.toBeInstanceOf(RangeError);
    },
  );
});

describe('preprocessDigitImages', () => {
  it('keeps the input order and fails only the bad items', async () => {
    const inputs = [
      await renderDigitImage({ digit: 1 }),
      new Uint8Array(0),
      await renderDigitImage({ digit: 2, format: 'jpeg' }),
      Buffer.from('not an image'),
      await renderDigitImage({ digit: 3, polarity: 'light-on-dark' }),
    ];
    const results = await preprocessDigitImages(inputs, { concurrency: 2 });
    expect(results.map((r) => (r.ok ? r.digit.format : r.error.code))).toEqual([
      'png',
      'IMAGE_EMPTY_INPUT',
      'jpeg',
      'IMAGE_UNSUPPORTED_FORMAT',
      'png',
    ]);
    const single = await preprocessDigitImage(inputs[4]!);
    const batched = results[4]!;
    expect(batched.ok && batched.digit.pixels).toEqual(single.pixels);
  });

  it('gives the same pixels at any concurrency', async () => {
    const inputs = await Promise.all([0, 1, 2, 3, 4, 5].map((digit) => renderDigitImage({ digit, offsetX: 10 * digit })));
    const pixels = async (concurrency: number) =>
      (await preprocessDigitImages(inputs, { concurrency })).map((r) => (r.ok ? Array.from(r.digit.pixels) : r.error.code));
    expect(await pixels(4)).toEqual(await pixels(1));
  });

  it('returns [] for no input', async () => {
    expect(await preprocessDigitImages([])).toEqual([]);
  });
});
