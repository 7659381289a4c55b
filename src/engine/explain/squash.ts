import type { RgbImage } from '../../imaging/rgb-image.ts';
import type { FloatImage } from '../float-image.ts';

/** For each output position along one axis: the first input index and the normalised filter weights. */
function axisWeights(inLen: number, outLen: number): { start: number; weights: Float64Array }[] {
  const scale = inLen / outLen;
  // A triangle (bilinear) filter, widened by the scale when shrinking so every input pixel counts (antialiasing).
  const support = Math.max(1, scale);
  const out: { start: number; weights: Float64Array }[] = [];
  for (let o = 0; o < outLen; o++) {
    const centre = (o + 0.5) * scale;
    const start = Math.max(0, Math.floor(centre - support));
    const end = Math.min(inLen, Math.ceil(centre + support));
    const weights = new Float64Array(end - start);
    let sum = 0;
    for (let i = start; i < end; i++) sum += weights[i - start] = Math.max(0, 1 - Math.abs(i + 0.5 - centre) / support);
    if (sum === 0) {
      // Cannot happen with support ≥ 1, but never divide by zero.
      weights[Math.min(weights.length - 1, Math.max(0, Math.round(centre - 0.5) - start))] = 1;
      sum = 1;
    }
    for (let i = 0; i < weights.length; i++) weights[i] /= sum;
    out.push({ start, weights });
  }
  return out;
}

/**
 * The whole picture resized to `width × height` (aspect not kept, nothing cropped), as floats in [0, 1]:
 * separable triangle filtering, antialiased when shrinking. The same size gives the same pixels.
 */
export function squashToFloat(img: RgbImage, width: number, height: number): FloatImage {
  const cols = axisWeights(img.width, width);
  const rows = axisWeights(img.height, height);
  // Horizontal pass: img.height × width × 3.
  const mid = new Float32Array(img.height * width * 3);
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < width; x++) {
      const { start, weights } = cols[x];
      let r = 0;
      let g = 0;
      let b = 0;
      for (let i = 0; i < weights.length; i++) {
        const at = (y * img.width + start + i) * 3;
        r += weights[i] * img.data[at];
        g += weights[i] * img.data[at + 1];
        b += weights[i] * img.data[at + 2];
      }
      const to = (y * width + x) * 3;
      mid[to] = r;
      mid[to + 1] = g;
      mid[to + 2] = b;
    }
  }
  const data = new Float32Array(height * width * 3);
  for (let y = 0; y < height; y++) {
    const { start, weights } = rows[y];
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i] / 255;
      const from = (start + i) * width * 3;
      const to = y * width * 3;
      for (let j = 0; j < width * 3; j++) data[to + j] += w * mid[from + j];
    }
  }
  return { data, width, height };
}
