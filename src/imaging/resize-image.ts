import sharp from 'sharp';
import { fitWithin, type RgbImage } from './rgb-image.ts';

/** The same picture with its longest side at most `maxSide` (never larger), as packed RGB. */
export async function shrinkImage(img: RgbImage, maxSide: number): Promise<RgbImage> {
  const size = fitWithin(img.width, img.height, maxSide);
  if (size.width === img.width && size.height === img.height) return img;
  const data = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(size.width, size.height, { fit: 'fill' })
    .raw()
    .toBuffer();
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), ...size };
}
