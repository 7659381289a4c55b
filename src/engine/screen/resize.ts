// A picture as the screening classifier reads it: squashed to a square, as nsfwjs does, but never aliased.
import type { RgbImage } from '../../imaging/rgb-image.ts';
import type { FloatImage } from '../float-image.ts';
import { resample, triangleTaps, type Taps } from '../resample.ts';

/**
 * tf.image.resizeBilinear's taps with aligned corners, as nsfwjs resizes: output o samples the input at
 * o · (in − 1) / (out − 1) and blends its two neighbours.
 */
function alignCornersTaps(inLen: number, outLen: number): Taps[] {
  const scale = outLen > 1 ? (inLen - 1) / (outLen - 1) : inLen / outLen;
  return Array.from({ length: outLen }, (_, o) => {
    const at = o * scale;
    const lo = Math.floor(at);
    const hi = Math.min(inLen - 1, Math.ceil(at));
    const frac = at - lo;
    return hi === lo ? { start: lo, weights: Float64Array.of(1) } : { start: lo, weights: Float64Array.of(1 - frac, frac) };
  });
}

/** tf.image.resizeBilinear(image, [height, width], alignCorners = true): what nsfwjs does to every picture. */
export function resizeBilinearAlignCorners(src: FloatImage, width: number, height: number): FloatImage {
  return resample(src.data, src.width, src.height, alignCornersTaps(src.width, width), alignCornersTaps(src.height, height), 1);
}

/**
 * The `size × size` input of the screening classifier, pixels in [0, 1], squashed (aspect not kept) as nsfwjs does.
 * 'nsfwjs': resampled exactly as nsfwjs does (bilinear, aligned corners). 'antialiased': the same where a side grows;
 * where it shrinks, filtered with a triangle as wide as the shrink instead: nsfwjs's bilinear reads 2 of every
 * `side / size` pixels, so a picture could hide a harmless one in exactly those pixels and show an explicit one to
 * people (an image-scaling attack); here every pixel counts.
 */
export function screenInput(image: RgbImage, size: number, mode: 'antialiased' | 'nsfwjs' = 'antialiased'): FloatImage {
  const taps = (inLen: number) => (mode === 'antialiased' && inLen > size ? triangleTaps(inLen, size) : alignCornersTaps(inLen, size));
  return resample(image.data, image.width, image.height, taps(image.width), taps(image.height), 1 / 255);
}
