// What the animation checks measure on frames: mean absolute differences, in 0..255.
import type { RgbImage } from '../src/imaging/index.ts';

/** Mean |a − b| in 0..255 over pixels where `use(x, y)`, with b read at (x + dx, y). */
export function meanDiff(a: RgbImage, b: RgbImage, use: (x: number, y: number) => boolean = () => true, dx = 0): number {
  let sum = 0;
  let n = 0;
  for (let y = 0; y < a.height; y++) {
    for (let x = 0; x < a.width; x++) {
      const bx = x + dx;
      if (bx < 0 || bx >= b.width || !use(x, y)) continue;
      for (let c = 0; c < 3; c++) sum += Math.abs(a.data[(y * a.width + x) * 3 + c] - b.data[(y * b.width + bx) * 3 + c]);
      n += 3;
    }
  }
  return sum / Math.max(1, n);
}

export const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
export const fmt = (x: number) => x.toFixed(2);
