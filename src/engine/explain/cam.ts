// Grad-CAM for a linear head on global average pooling: plain arrays, no backend.
import type { Heatmap } from '../../imaging/heatmap.ts';
import type { LayerActivations } from '../gradient-network.ts';

/**
 * A classifier head: `logits = GAP(features) · kernel + bias`. A linear 1×1 convolution followed by global average
 * pooling (Darknet's) is the same thing, since both are linear: GAP(conv(A)) = conv(GAP(A)).
 */
export interface LinearHead {
  /** Channels of the feature layer. */
  features: number;
  /** [features, classes], row-major: column k is class k's weights. */
  kernel: Float32Array;
  bias: Float32Array;
}

/** The global average of each channel of an HWC feature map. */
export function channelMeans(act: LayerActivations): Float32Array {
  const { data, channels } = act;
  const positions = act.height * act.width;
  const sums = new Float64Array(channels);
  for (let i = 0; i < data.length; i++) sums[i % channels] += data[i];
  return Float32Array.from(sums, (s) => s / positions);
}

/** Class logits of a feature map under a linear head. */
export function logitsOf(head: LinearHead, act: LayerActivations): Float32Array {
  if (act.channels !== head.features) throw new Error(`internal: the head reads ${head.features} channels, the feature map has ${act.channels}.`);
  const means = channelMeans(act);
  const classes = head.bias.length;
  const out = new Float64Array(head.bias);
  for (let c = 0; c < head.features; c++) {
    const m = means[c];
    if (m === 0) continue;
    const row = c * classes;
    for (let k = 0; k < classes; k++) out[k] += m * head.kernel[row + k];
  }
  return Float32Array.from(out);
}

/** Softmax, numerically stable (the largest logit is subtracted first); sums to 1. */
export function softmax(logits: ArrayLike<number>): Float32Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  const exps = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += exps[i] = Math.exp(logits[i] - max);
  return Float32Array.from(exps, (e) => e / sum);
}

/** Indices of the `k` largest values, largest first (ties: lower index first). */
export function topIndices(values: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: values.length }, (_, i) => i)
    .sort((a, b) => values[b] - values[a] || a - b)
    .slice(0, k);
}

/**
 * Grad-CAM of class `k` at the feature map: channel weights α_c = the spatial mean of d logit_k / dA[y, x, c],
 * which for a linear head on GAP is kernel[c, k] / (H·W) at every position; heat = ReLU(Σ_c α_c · A[.., c]),
 * divided by its maximum (all zeros when nothing is positive). At the feature map's resolution.
 */
export function gradCam(head: LinearHead, act: LayerActivations, k: number): Heatmap {
  const { height, width, channels, data } = act;
  const classes = head.bias.length;
  const positions = height * width;
  const alpha = new Float64Array(channels);
  for (let c = 0; c < channels; c++) alpha[c] = head.kernel[c * classes + k] / positions;
  const heat = new Float32Array(positions);
  let max = 0;
  for (let p = 0; p < positions; p++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += alpha[c] * data[p * channels + c];
    heat[p] = sum > 0 ? sum : 0;
    if (heat[p] > max) max = heat[p];
  }
  if (max > 0) for (let p = 0; p < positions; p++) heat[p] /= max;
  return { data: heat, width, height };
}
