/**
 * The robustness suite built from the real MNIST test split (DATA_DIR), on a
 * handful of digits: every degradation goes through PNG and the API's
 * preprocessing to 784 values per image, and the cache file round-trips.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '@digitq/config';
import { PIXELS_PER_IMAGE } from '@digitq/contracts';
import { loadMnist } from '@digitq/datasets';
import { ROBUSTNESS_DEGRADATIONS } from '@digitq/imaging';
import { useTempDirs } from '@digitq/test-utils';
import { buildRobustnessSuite } from './robustness-suite.ts';

const DIGITS = 20;
const dataDir = resolve(loadConfig().DATA_DIR);
const tempDir = useTempDirs('robustness-suite');

describe('buildRobustnessSuite on MNIST test digits', () => {
  it('gives every degradation, in order, as 784 preprocessed values per digit with the digits\' labels', async () => {
    const cacheDir = tempDir();
    const suite = await buildRobustnessSuite({ dataDir, count: DIGITS, cacheDir });
    const test = await loadMnist(dataDir, 'test');
    expect(suite.map((set) => set.id)).toEqual(ROBUSTNESS_DEGRADATIONS.map((d) => d.id));
    for (const set of suite) {
      expect(set.count).toBe(DIGITS);
      expect(set.pixels).toHaveLength(DIGITS * PIXELS_PER_IMAGE);
      expect(Array.from(set.labels)).toEqual(Array.from(test.labels.subarray(0, DIGITS)));
      expect(set.rejected, set.id).toBe(0);
      for (let i = 0; i < DIGITS; i++) {
        const image = set.pixels.subarray(i * PIXELS_PER_IMAGE, (i + 1) * PIXELS_PER_IMAGE);
        // White ink on black in [0, 1], as the model takes it: some ink, mostly background.
        const ink = image.filter((v) => v > 0.5).length;
        expect(Math.min(...image)).toBe(0);
        expect(Math.max(...image), `${set.id} #${i}`).toBeLessThanOrEqual(1);
        expect(ink, `${set.id} #${i}`).toBeGreaterThan(10);
        expect(ink, `${set.id} #${i}`).toBeLessThan(PIXELS_PER_IMAGE / 2);
      }
    }
    // Degradations differ from the clean digit (the same image everywhere would mean none was applied).
    const clean = suite.find((set) => set.id === 'clean')!;
    for (const set of suite.filter((s) => s.id !== 'clean')) expect(set.pixels, set.id).not.toEqual(clean.pixels);
  });

  it('caches the suite in one file that the next build reads back', async () => {
    const cacheDir = tempDir();
    const built = await buildRobustnessSuite({ dataDir, count: DIGITS, cacheDir });
    const files = readdirSync(cacheDir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(new RegExp(`^suite-${DIGITS}-[0-9a-f]{16}\\.bin$`));
    const read = await buildRobustnessSuite({ dataDir, count: DIGITS, cacheDir });
    expect(read.map(({ id, label, count, rejected }) => ({ id, label, count, rejected }))).toEqual(built.map(({ id, label, count, rejected }) => ({ id, label, count, rejected })));
    read.forEach((set, s) => {
      expect(set.pixels).toEqual(built[s]!.pixels);
      expect(set.labels).toEqual(built[s]!.labels);
    });

    // Proof the second build read the file: a byte changed in it (the last image's last pixel) comes back.
    const path = join(cacheDir, files[0]!);
    const bytes = readFileSync(path);
    bytes[bytes.length - 1] = 255;
    writeFileSync(path, bytes);
    const tampered = await buildRobustnessSuite({ dataDir, count: DIGITS, cacheDir });
    expect(tampered.at(-1)!.pixels.at(-1)).toBe(1);

    // Another count is another file; a truncated file is rebuilt, not read.
    await buildRobustnessSuite({ dataDir, count: 5, cacheDir });
    expect(readdirSync(cacheDir)).toHaveLength(2);
    writeFileSync(path, bytes.subarray(0, 100));
    const rebuilt = await buildRobustnessSuite({ dataDir, count: DIGITS, cacheDir });
    expect(rebuilt.at(-1)!.pixels).toEqual(built.at(-1)!.pixels);
  });

  it('is built all the same where the cache cannot be written (a read-only data folder)', async () => {
    // A file where the cache folder should be: mkdir fails whoever runs the test, root included.
    const blocked = join(tempDir(), 'not-a-folder');
    writeFileSync(blocked, 'x');
    const suite = await buildRobustnessSuite({ dataDir, count: 3, cacheDir: blocked });
    expect(suite.map((set) => set.count)).toEqual(ROBUSTNESS_DEGRADATIONS.map(() => 3));
  });
});
