import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/backend.ts';
import type { CompiledGraph, GraphNode } from '../src/engine/model/graph.ts';
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

/**
 * The trunk's other ops, as a dream's backward pass meets them: input 10×11×3 → conv 3×3 ReLU → {max 3×3/2 'valid',
 * conv 3×3/2 'valid' ReLU, conv 1×3 then 3×1 'same' ReLU then max 3×3/2 'valid'} → concat → conv 1×1. The 'valid'
 * windows miss the last of the 10 rows and read all 11 columns; the two-part conv is InceptionV3's 1×7 / 7×1 in small.
 */
function trunkOpsGraph(seed: number): CompiledGraph {
  const w = new RandomWeights(seed);
  const strip = (name: string, input: string, kh: number, kw: number, ci: number, co: number): GraphNode => ({
    op: 'conv',
    name,
    input,
    kernel: w.add([kh, kw, ci, co]),
    bias: w.add([co]),
    strides: [1, 1],
    padding: 'same',
    relu: true,
  });
  const maxPool = (name: string, input: string): GraphNode => ({ op: 'maxPool', name, input, size: [3, 3], strides: [2, 2], padding: 'valid' });
  return w.graph([
    { op: 'input', name: 'input' },
    w.conv('c1', 'input', 3, 3, 4, { relu: true }),
    maxPool('m1', 'c1'),
    w.conv('s2', 'c1', 3, 4, 4, { relu: true, stride: 2, padding: 'valid' }),
    strip('row', 'c1', 1, 3, 4, 3),
    strip('col', 'row', 3, 1, 3, 3),
    maxPool('m2', 'col'),
    { op: 'concat', name: 'cat', inputs: ['m1', 's2', 'm2'] },
    w.conv('out', 'cat', 1, 11, 5),
  ]);
}

describe('input gradient against float64 finite differences', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  /**
   * Our gradient of `layers`' loss on `graph` at an `h`×`w` picture, on `backend`, against float64 finite differences
   * at every pixel and channel (the graphs here are piecewise linear: away from a ReLU or max-pool kink only float32
   * rounding remains).
   */
  async function expectExact(backend: string, graph: CompiledGraph, [h, w]: [number, number], layers: string[], seed: number): Promise<void> {
    const previous = tf.getBackend();
    await tf.setBackend(backend);
    try {
      const network = new DreamNetwork(graph, [0, 1]);
      const ref = new ReferenceNet(graph);
      const pixels = Float32Array.from({ length: h * w * 3 }, seededRandom(seed));
      const image = tf.tensor4d(pixels, [1, h, w, 3]);
      const { loss, gradient } = network.lossAndGradient(image, layers);
      const ours = Array.from(gradient.dataSync());
      const base = ref.forward(pixels, h, w, layers);
      expect(loss.dataSync()[0]).toBeCloseTo(ref.loss(base, layers), 5);
      const fd: number[] = [];
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) fd.push(slope(ref, base, layers, y, x, c));
      expect(relativeError(ours, fd)).toBeLessThan(1e-5);
      expect(maxError(ours, fd)).toBeLessThan(1e-5);
      tf.dispose([image, loss, gradient]);
      network.dispose();
    } finally {
      await tf.setBackend(previous);
    }
  }

  // Linear graph: the differences are exact and only float32 rounding remains (measured 2e-7 and 4e-7; the
  // full-window AvgPoolGrad was off by 0.27 and 0.54).
  it.each(['wasm', 'cpu'])('is exact on a small graph with same, strided and valid average pools (%s)', async (backend) => {
    await expectExact(backend, syntheticGraph(11), [9, 11], ['p2', 'p3'], 5);
  });

  // InceptionV3's other ops in small, on both of tfjs' CPU-side backends (the test below and test/network.test.ts run
  // the trunk itself on wasm). Measured 1.1e-7 and 1.5e-7 on both; top and bottom padding swapped in a strided conv's
  // backward gave 0.71.
  it.each(['wasm', 'cpu'])('is exact on a small graph with strided convs, max pools, non-square kernels and a concat (%s)', async (backend) => {
    await expectExact(backend, trunkOpsGraph(13), [10, 11], ['c1', 'out'], 6);
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
