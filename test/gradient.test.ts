import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/backend.ts';
import type { CompiledGraph } from '../src/engine/model/graph.ts';
import { loadCompiledModel } from '../src/engine/model/load.ts';
import { DreamNetwork } from '../src/engine/network.ts';
import { seededRandom } from '../src/engine/random.ts';
import { relativeError } from './helpers/model.ts';
import { ReferenceNet, slope, type Values } from './helpers/reference-net.ts';
import { RandomWeights } from './helpers/synthetic-graph.ts';

// The hand-written backward pass against central finite differences of an independent float64 forward pass
// (test/helpers/reference-net.ts), not against tfjs autodiff: tfjs' AvgPool gradient divides by the full
// window at borders where the forward average does not, so autodiff cannot tell that mistake apart.



/** Largest |a − b| as a share of the largest |b|: catches a wrong small entry the L2 norm would hide. */
function maxError(a: number[], b: number[]): number {
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]))) / Math.max(...b.map(Math.abs));
}

/** input 9×11×3 → conv 3×3 → avg 3×3/1 'same' → conv 3×3 → {avg 2×2/2 'same' (pads after only), avg 2×2/2 'valid' (misses the last row and column)}. */
function syntheticGraph(seed: number): CompiledGraph {
  const w = new RandomWeights(seed);
  return w.graph([
    { op: 'input', name: 'input' },
    w.conv('c1', 'input', 3, 3, 4),
    { op: 'avgPool', name: 'p1', input: 'c1', size: [3, 3], strides: [1, 1], padding: 'same' },
    w.conv('c2', 'p1', 3, 4, 5),
    { op: 'avgPool', name: 'p2', input: 'c2', size: [2, 2], strides: [2, 2], padding: 'same' },
    { op: 'avgPool', name: 'p3', input: 'c2', size: [2, 2], strides: [2, 2], padding: 'valid' },
  ]);
}

describe('input gradient against float64 finite differences', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it.each(['wasm', 'cpu'])('is exact on a small graph with same, strided and valid average pools (%s)', async (backend) => {
    const previous = tf.getBackend();
    await tf.setBackend(backend);
    try {
      const graph = syntheticGraph(11);
      const network = new DreamNetwork(graph, [0, 1]);
      const ref = new ReferenceNet(graph);
      const [h, w] = [9, 11];
      const layers = ['p2', 'p3'];
      const pixels = Float32Array.from({ length: h * w * 3 }, seededRandom(5));
      const image = tf.tensor4d(pixels, [1, h, w, 3]);
      const { loss, gradient } = network.lossAndGradient(image, layers);
      const ours = Array.from(gradient.dataSync());
      const base = ref.forward(pixels, h, w, layers);
      expect(loss.dataSync()[0]).toBeCloseTo(ref.loss(base, layers), 5);
      const fd: number[] = [];
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) fd.push(slope(ref, base, layers, y, x, c));
      // Linear graph: the differences are exact and only float32 rounding remains (measured 2e-7 and 4e-7;
      // the full-window AvgPoolGrad was off by 0.27 and 0.54).
      expect(relativeError(ours, fd)).toBeLessThan(1e-5);
      expect(maxError(ours, fd)).toBeLessThan(1e-5);
      tf.dispose([image, loss, gradient]);
      network.dispose();
    } finally {
      await tf.setBackend(previous);
    }
  });

  it('matches on InceptionV3 up to mixed3 at the smallest image, border and corner pixels included', async () => {
    const { graph, manifest } = await loadCompiledModel('inception_v3');
    const network = new DreamNetwork(graph, manifest.input.range);
    const ref = new ReferenceNet(graph, manifest.input.range);
    // At the 75 px minimum side mixed0–mixed2 are 7×8 maps: most of their 3×3 average-pool windows reach
    // the border, so a border mistake shows at every pixel, and the float64 pass stays cheap (~0.1 s a pixel).
    const [h, w] = [75, 83];
    const layers = ['mixed1', 'mixed3'];
    const image = tf.randomUniform([1, h, w, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const pixels = image.dataSync();
    const { loss, gradient } = network.lossAndGradient(image, layers);
    const g = gradient.dataSync();
    const base = ref.forward(pixels, h, w, layers);
    // The same forward pass in float32 and float64.
    expect(Math.abs(loss.dataSync()[0] - ref.loss(base, layers))).toBeLessThan(1e-5 * ref.loss(base, layers));

    // Corners, edges, next-to-edges and the centre, plus a few random pixels; channels take turns.
    const samples: [number, number, number][] = [];
    for (const y of [0, 1, h >> 1, h - 2, h - 1]) for (const x of [0, 1, w >> 1, w - 2, w - 1]) samples.push([y, x, samples.length % 3]);
    const rand = seededRandom(9);
    for (let i = 0; i < 5; i++) samples.push([Math.floor(rand() * h), Math.floor(rand() * w), i % 3]);
    const fd = samples.map(([y, x, c]) => slope(ref, base, layers, y, x, c));
    const ours = samples.map(([y, x, c]) => g[(y * w + x) * 3 + c]);
    // float32 against float64: measured ≤ 8e-7 for several images; the full-window AvgPoolGrad gave 0.13 and 0.14.
    expect(relativeError(ours, fd)).toBeLessThan(1e-4);
    expect(maxError(ours, fd)).toBeLessThan(1e-4);
    tf.dispose([image, loss, gradient]);
    network.dispose();
  });
});
