// A picture as the screening classifier reads it: squashed to a square, as nsfwjs does, but never aliased.
import type { RgbImage } from '../../imaging/rgb-image.ts';
import type { FloatImage } from '../float-image.ts';

/** One output position along an axis: the first input index and the weights of the inputs from there. */
interface Taps {
  start: number;
  weights: Float64Array;
}

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

/** A triangle filter as wide as the shrink factor (pixel centres aligned): every input pixel counts. */
function antialiasedTaps(inLen: number, outLen: number): Taps[] {
  const scale = inLen / outLen;
  return Array.from({ length: outLen }, (_, o) => {
    const centre = (o + 0.5) * scale;
    const start = Math.max(0, Math.floor(centre - scale));
    const end = Math.min(inLen, Math.ceil(centre + scale));
    const weights = new Float64Array(end - start);
    let sum = 0;
    for (let i = start; i < end; i++) sum += weights[i - start] = Math.max(0, 1 - Math.abs(i + 0.5 - centre) / scale);
    for (let i = 0; i < weights.length; i++) weights[i] /= sum;
    return { start, weights };
  });
}

/** Separable resampling of packed RGB (`scale` applied to every value), columns first. */
function resample(src: ArrayLike<number>, width: number, height: number, cols: Taps[], rows: Taps[], scale: number): FloatImage {
  const outW = cols.length;
  const outH = rows.length;
  const mid = new Float64Array(height * outW * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < outW; x++) {
      const { start, weights } = cols[x];
      let r = 0;
      let g = 0;
      let b = 0;
      for (let i = 0; i < weights.length; i++) {
        const at = (y * width + start + i) * 3;
        r += weights[i] * src[at];
        g += weights[i] * src[at + 1];
        b += weights[i] * src[at + 2];
      }
      const to = (y * outW + x) * 3;
      mid[to] = r * scale;
      mid[to + 1] = g * scale;
      mid[to + 2] = b * scale;
    }
  }
  const data = new Float32Array(outH * outW * 3);
  const row = new Float64Array(outW * 3);
  for (let y = 0; y < outH; y++) {
    const { start, weights } = rows[y];
    row.fill(0);
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i];
      const from = (start + i) * outW * 3;
      for (let j = 0; j < row.length; j++) row[j] += w * mid[from + j];
    }
    data.set(row, y * outW * 3);
  }
  return { data, width: outW, height: outH };
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
  const taps = (inLen: number) => (mode === 'antialiased' && inLen > size ? antialiasedTaps(inLen, size) : alignCornersTaps(inLen, size));
  return resample(image.data, image.width, image.height, taps(image.width), taps(image.height), 1 / 255);
}
