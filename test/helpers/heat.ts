import type { Heatmap } from '../../src/imaging/index.ts';

/** Mean heat in the left and right halves of the columns (a middle column, if any, counts for neither). */
export function halves(h: Heatmap): [number, number] {
  let left = 0;
  let right = 0;
  for (let y = 0; y < h.height; y++) {
    for (let x = 0; x < h.width; x++) {
      if (2 * x + 1 < h.width) left += h.data[y * h.width + x];
      else if (2 * x + 1 > h.width) right += h.data[y * h.width + x];
    }
  }
  const n = h.height * Math.floor(h.width / 2);
  return [left / n, right / n];
}
