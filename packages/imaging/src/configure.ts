/**
 * Process-wide sharp settings for a process that preprocesses many distinct
 * uploads (the API, workers, the training CLI). sharp's settings are global
 * to the process, so this package never changes them on import: the
 * entrypoint calls configureImaging() once at start.
 */
import sharp from 'sharp';

/** libvips threads per image: uploads are small and processed several at a time, so more threads only add hand-offs. */
const VIPS_THREADS_PER_IMAGE = 1;

export function configureImaging(): void {
  sharp.concurrency(VIPS_THREADS_PER_IMAGE);
  // Each upload is decoded once: libvips' operation cache would only hold memory.
  sharp.cache(false);
}
