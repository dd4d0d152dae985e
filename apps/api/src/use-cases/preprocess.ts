/**
 * Uploaded image bytes -> the 784-byte model inputs a job carries (imaging's
 * pixel bytes, in @digitq/contracts' pixel convention). Every image of a
 * request is checked before anything is enqueued; the first bad one rejects
 * the request with its ImageError, prefixed with which image it was
 * ("image 2 of 3 (photo.gif): ...").
 */
import { ImageError, preprocessDigitImages, type PreprocessResult } from '@digitq/imaging';

export interface NamedImage {
  /** How the client knows it: the file name, or images[i] in a JSON body. */
  name: string;
  bytes: Uint8Array;
}

/** The imaging step, injectable so the API can be tested against a stub. */
export type PreprocessImages = (images: readonly Uint8Array[]) => Promise<PreprocessResult[]>;

export function defaultPreprocess(maxImageBytes: number): PreprocessImages {
  return (images) => preprocessDigitImages(images, { maxBytes: maxImageBytes });
}

/** "image 2 of 3 (photo.gif)": how messages name one image of a request. */
export function describeImage(index: number, count: number, name: string): string {
  return `image ${index + 1} of ${count} (${name})`;
}

export async function preprocessAll(images: readonly NamedImage[], preprocess: PreprocessImages): Promise<Uint8Array[]> {
  const results = await preprocess(images.map((image) => image.bytes));
  return results.map((result, i) => {
    if (result.ok) return result.digit.pixelBytes;
    const { code, message } = result.error;
    throw new ImageError(code, `${describeImage(i, images.length, images[i]!.name)}: ${message}`, { cause: result.error });
  });
}
