/**
 * Grey pixels to a PNG file: how the robustness suite and fixtures turn a
 * degraded digit into the bytes a client would upload.
 */
import sharp from 'sharp';
import type { GreyImage } from './decode.ts';

export async function encodeGreyPng(image: GreyImage): Promise<Uint8Array> {
  const png = await sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), {
    raw: { width: image.width, height: image.height, channels: 1 },
  })
    .png()
    .toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}
