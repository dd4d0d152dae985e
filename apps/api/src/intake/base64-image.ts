/** One image of a JSON body, base64 or a data: URL, decoded to its bytes (or VALIDATION_FAILED naming it). */
import { AppError } from '@digitq/contracts';
import { describeImage, type NamedImage } from '../use-cases/preprocess.ts';

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
  const fail = (reason: string) => new AppError('VALIDATION_FAILED', `${describeImage(index, count, name)}: ${reason}`);
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
