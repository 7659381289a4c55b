import type { RgbImage } from '../imaging/rgb-image.ts';

/** An image as the dream loop holds it: float pixels in [0, 1], `[height, width, 3]` row-major (NHWC, batch 1). */
export interface FloatImage {
  data: Float32Array;
  width: number;
  height: number;
}

export function toFloatImage(img: RgbImage): FloatImage {
  const data = new Float32Array(img.data.length);
  for (let i = 0; i < data.length; i++) data[i] = img.data[i] / 255;
  return { data, width: img.width, height: img.height };
}

export function toRgbImage(img: FloatImage): RgbImage {
  const data = new Uint8Array(img.data.length);
  for (let i = 0; i < data.length; i++) data[i] = Math.round(Math.min(1, Math.max(0, img.data[i])) * 255);
  return { data, width: img.width, height: img.height };
}
