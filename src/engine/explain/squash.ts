import type { RgbImage } from '../../imaging/rgb-image.ts';
import type { FloatImage } from '../float-image.ts';
import { resample, triangleTaps } from '../resample.ts';

/**
 * The whole picture resized to `width × height` (aspect not kept, nothing cropped), as floats in [0, 1]:
 * separable triangle filtering, antialiased when shrinking. The same size gives the same pixels.
 */
export function squashToFloat(img: RgbImage, width: number, height: number): FloatImage {
  return resample(img.data, img.width, img.height, triangleTaps(img.width, width), triangleTaps(img.height, height), 1 / 255);
}
