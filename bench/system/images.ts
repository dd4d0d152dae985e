/**
 * The uploads the benchmark sends, drawn with the project's own fixture
 * renderer, and the multipart bodies that carry them (built once, the same
 * bytes on every request).
 */
import { renderDigitImage } from '@digitq/imaging/test-images';
import type { RequestBody } from './load.ts';

export const IMAGE_KINDS = ['small', 'drawing', 'photo'] as const;
export type ImageKind = (typeof IMAGE_KINDS)[number];

export interface Upload {
  kind: ImageKind;
  digit: number;
  filename: string;
  mediaType: string;
  bytes: Buffer;
}

export const IMAGE_KIND_LABELS: Record<ImageKind, string> = {
  small: '28x28 PNG',
  drawing: '280x280 PNG drawing',
  photo: '1000x800 JPEG photo',
};

/** The digit every single-image request carries; each kind is checked to come back as this before timing. */
export const BENCH_DIGIT = 3;
/** Images per job in the multi-image runs (the 32). */
export const IMAGES_PER_JOB = 32;

export async function renderUpload(kind: ImageKind, digit: number): Promise<Upload> {
  switch (kind) {
    case 'small':
      // As bench/imaging.bench.ts draws its MNIST-like input: white ink on black, 20 px digit.
      return {
        kind,
        digit,
        filename: `small-${digit}.png`,
        mediaType: 'image/png',
        bytes: await renderDigitImage({ digit, width: 28, height: 28, digitHeight: 20, strokeFraction: 0.13, polarity: 'light-on-dark' }),
      };
    case 'drawing':
      return { kind, digit, filename: `drawing-${digit}.png`, mediaType: 'image/png', bytes: await renderDigitImage({ digit }) };
    case 'photo':
      return {
        kind,
        digit,
        filename: `photo-${digit}.jpg`,
        mediaType: 'image/jpeg',
        bytes: await renderDigitImage({ digit, format: 'jpeg', photo: true, width: 1000, height: 800, digitHeight: 360 }),
      };
  }
}

/** IMAGES_PER_JOB small digits, 0-9 over and over. */
export async function renderJobUploads(): Promise<Upload[]> {
  return Promise.all(Array.from({ length: IMAGES_PER_JOB }, (_, i) => renderUpload('small', i % 10)));
}

/** A multipart/form-data body with each upload in form field `field`, as a browser's FormData would send it. */
export async function multipartBody(field: string, uploads: readonly Upload[]): Promise<RequestBody> {
  const form = new FormData();
  for (const upload of uploads) form.append(field, new Blob([new Uint8Array(upload.bytes)], { type: upload.mediaType }), upload.filename);
  const request = new Request('http://127.0.0.1/', { method: 'POST', body: form });
  return { bytes: Buffer.from(await request.arrayBuffer()), contentType: request.headers.get('content-type')! };
}
