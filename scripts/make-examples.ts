/**
 * npx tsx scripts/make-examples.ts
 *
 * Renders the digit images in examples/ with the project's own test renderer
 * (packages/imaging/src/test-images.ts), so the README's commands have real
 * files to send. The label is in each file name. Deterministic: running it
 * again writes the same bytes.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { renderDigitImage } from '@digitq/imaging/test-images';

const DIR = join(import.meta.dirname, '..', 'examples');
/** A scan digitised on a coarse grid: drawn, reduced to 16x16 and binarised, as old form readers stored digits. */
const SCAN_SIDE = 16;
const SCAN_THRESHOLD = 128;

const examples: { file: string; render: () => Promise<Buffer> }[] = [
  { file: 'seven-drawing.png', render: () => renderDigitImage({ digit: 7, width: 280, height: 280, format: 'png' }) },
  { file: 'three-photo.jpg', render: () => renderDigitImage({ digit: 3, width: 1000, height: 800, digitHeight: 360, format: 'jpeg', photo: true, seed: 3 }) },
  {
    file: 'four-scan-16px.png',
    render: async () => {
      const drawn = await renderDigitImage({ digit: 4, width: 160, height: 160, format: 'png', strokeFraction: 0.14 });
      return sharp(drawn).greyscale().resize(SCAN_SIDE, SCAN_SIDE, { kernel: 'lanczos3' }).threshold(SCAN_THRESHOLD).png().toBuffer();
    },
  },
  { file: 'two-screenshot-dark.png', render: () => renderDigitImage({ digit: 2, width: 320, height: 240, format: 'png', polarity: 'light-on-dark', offsetX: 40 }) },
];

for (const { file, render } of examples) {
  const bytes = await render();
  await writeFile(join(DIR, file), bytes);
  process.stdout.write(`examples/${file}: ${bytes.length} bytes\n`);
}
