import type { Padding } from './model/graph.ts';

/** TensorFlow's padding arithmetic along one axis: output length and padding before the first window. */
export function padAmounts(size: number, k: number, s: number, padding: Padding): { out: number; before: number } {
  if (padding === 'valid') return { out: Math.floor((size - k) / s) + 1, before: 0 };
  const out = Math.ceil(size / s);
  const total = Math.max((out - 1) * s + k - size, 0);
  return { out, before: Math.floor(total / 2) };
}
