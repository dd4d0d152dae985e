/**
 * Uploaded image bytes -> the 784-byte model inputs a job carries. Every
 * image of a request is checked before anything is enqueued; the first bad
 * one rejects the request with its ImageError, prefixed with which image it
 * was ("image 2 of 3 (photo.gif): ...").
 */
import { AppError, quantizePixels } from '@digitq/contracts';
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

function describe(index: number, count: number, name: string): string {
  return `image ${index + 1} of ${count} (${name})`;
}

export async function preprocessAll(images: readonly NamedImage[], preprocess: PreprocessImages): Promise<Uint8Array[]> {
  const results = await preprocess(images.map((image) => image.bytes));
  return results.map((result, i) => {
    if (result.ok) return quantizePixels(result.digit.pixels);
    const { code, message } = result.error;
    throw new ImageError(code, `${describe(i, images.length, images[i]!.name)}: ${message}`, { cause: result.error });
  });
}

const DATA_URL = /^data:([^,;]*)((?:;[^,;]*)*),/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;
const WHITESPACE = /\s+/g;
const BASE64_GROUP = 4;
/** A base64 length that leaves one character over cannot come from any byte count. */
const IMPOSSIBLE_REMAINDER = 1;

/**
 * One image of a JSON body: raw base64 (standard or URL-safe alphabet,
 * padding optional, line breaks ignored) or a `data:<type>;base64,` URL.
 */
export function decodeBase64Image(value: string, index: number, count: number): NamedImage {
  const name = `images[${index}]`;
  const fail = (reason: string) => new AppError('VALIDATION_FAILED', `${describe(index, count, name)}: ${reason}`);
  let payload = value;
  const dataUrl = DATA_URL.exec(value);
  if (dataUrl) {
    const parameters = dataUrl[2]!.toLowerCase().split(';');
    if (!parameters.includes('base64')) throw fail('a data: URL must be base64-encoded (data:image/png;base64,...)');
    payload = value.slice(dataUrl[0].length);
  }
  const compact = payload.replace(WHITESPACE, '');
  if (!(BASE64.test(compact) || BASE64URL.test(compact)) || compact.replace(/=+$/, '').length % BASE64_GROUP === IMPOSSIBLE_REMAINDER) {
    throw fail('not valid base64');
  }
  return { name, bytes: Buffer.from(compact, BASE64.test(compact) ? 'base64' : 'base64url') };
}
