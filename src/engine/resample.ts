import type { FloatImage } from './float-image.ts';

// Separable resampling of packed RGB pictures, shared by the classifiers' inputs (Explain, screening).

/** One output position along an axis: the first input index and the weights of the inputs from there. */
export interface Taps {
  start: number;
  weights: Float64Array;
}

/**
 * A triangle (bilinear) filter with pixel centres aligned, widened by the shrink factor when shrinking so every
 * input pixel counts (antialiasing); weights sum to 1.
 */
export function triangleTaps(inLen: number, outLen: number): Taps[] {
  const scale = inLen / outLen;
  const support = Math.max(1, scale);
  return Array.from({ length: outLen }, (_, o) => {
    const centre = (o + 0.5) * scale;
    const start = Math.max(0, Math.floor(centre - support));
    const end = Math.min(inLen, Math.ceil(centre + support));
    const weights = new Float64Array(end - start);
    let sum = 0;
    for (let i = start; i < end; i++) sum += weights[i - start] = Math.max(0, 1 - Math.abs(i + 0.5 - centre) / support);
    for (let i = 0; i < weights.length; i++) weights[i] /= sum;
    return { start, weights };
  });
}

/** Separable resampling of packed RGB (`scale` applied to every value), columns first. */
export function resample(src: ArrayLike<number>, width: number, height: number, cols: Taps[], rows: Taps[], scale: number): FloatImage {
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
