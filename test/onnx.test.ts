import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FloatImage } from '../src/engine/float-image.ts';
import { nodeChannels, type CompiledGraph, type GraphNode, type Padding, type WeightRef } from '../src/engine/model/graph.ts';
import { meanTerm, type LayerTerm } from '../src/engine/objective.ts';
import { activationOutputName, emitDreamModel, pooledOutputName } from '../src/engine/onnx/emit.ts';
import { createOnnxNetwork, type OnnxNetwork } from '../src/engine/onnx/index.ts';
import { seededRandom } from '../src/engine/random.ts';
import { initBackend } from '../src/engine/backend.ts';
import { loadCompiledModel } from '../src/engine/model/load.ts';
import { DreamNetwork } from '../src/engine/network.ts';
import { relativeError } from './helpers/model.ts';
import { ReferenceNet, slope } from './helpers/reference-net.ts';


function randomImage(h: number, w: number, seed: number): FloatImage {
  const rand = seededRandom(seed);
  return { data: Float32Array.from({ length: h * w * 3 }, rand), width: w, height: h };
}

/** NCHW (batch 1) -> HWC, to compare with tfjs. */
function nchwToHwc(src: Float32Array, c: number, h: number, w: number): Float32Array {
  const dst = new Float32Array(src.length);
  for (let ch = 0; ch < c; ch++) for (let i = 0; i < h * w; i++) dst[i * c + ch] = src[ch * h * w + i];
  return dst;
}

/** Per-channel spatial mean of an HWC activation. */
function channelMeans(act: ArrayLike<number>, c: number): Float64Array {
  const means = new Float64Array(c);
  const positions = act.length / c;
  for (let i = 0; i < act.length; i++) means[i % c] += act[i] / positions;
  return means;
}

// ---- A tiny graph with every op kind; test/helpers/reference-net.ts is its float64 forward pass. ----

/**
 * `wide`: the same graph with 16-channel layers (a ReLU conv inside a concat, two sibling 1×1 convs), so the
 * emitter's NCHWc-friendly forms (ReLU masks as Conv+Clip, concat-level masks, per-channel seeds as Conv, sibling
 * 1×1 backward convs as one, NCHW sums put in blocked form) are the ones checked.
 */
function tinyGraph(seed: number, wide = false): CompiledGraph {
  const rand = seededRandom(seed);
  const weights: number[] = [];
  const ref = (shape: number[], scale: number, offset = 0): WeightRef => {
    const at = weights.length;
    const size = shape.reduce((a, b) => a * b, 1);
    for (let i = 0; i < size; i++) weights.push(offset + (rand() * 2 - 1) * scale);
    return { offset: at, shape };
  };
  const conv = (name: string, input: string, k: [number, number], ci: number, co: number, s: number, padding: Padding, relu: boolean): GraphNode => ({
    op: 'conv',
    name,
    input,
    kernel: ref([k[0], k[1], ci, co], 1 / Math.sqrt(k[0] * k[1] * ci)),
    bias: ref([co], 0.1),
    strides: [s, s],
    padding,
    relu,
  });
  const pool = (op: 'maxPool' | 'avgPool', name: string, input: string, k: number, s: number, padding: Padding): GraphNode => ({
    op,
    name,
    input,
    size: [k, k],
    strides: [s, s],
    padding,
  });
  const [c1, c2, cv, cs, cd] = wide ? [16, 16, 16, 16, 16] : [6, 3, 4, 5, 6];
  const cat1 = 2 * c1 + c2;
  const cat2 = 2 * cs + 2 * cat1;
  const nodes: GraphNode[] = [
    { op: 'input', name: 'in' },
    conv('c1', 'in', [3, 3], 3, c1, 1, 'same', true),
    pool('maxPool', 'mpSame', 'c1', 3, 1, 'same'),
    pool('avgPool', 'apSame', 'c1', 3, 1, 'same'),
    conv('c2x2', 'c1', [2, 2], c1, c2, 1, 'same', wide),
    { op: 'concat', name: 'cat1', inputs: ['mpSame', 'apSame', 'c2x2'] },
    { op: 'relu', name: 'r1', input: 'cat1' },
    // A side branch, not feeding the deepest layer.
    conv('cValid', 'r1', [3, 3], cat1, cv, 1, 'valid', true),
    conv('cStride', 'r1', [3, 3], cat1, cs, 2, 'valid', true),
    pool('maxPool', 'mpValid', 'r1', 3, 2, 'valid'),
    pool('avgPool', 'apValid', 'r1', 3, 2, 'valid'),
    pool('maxPool', 'mpEven', 'cStride', 2, 1, 'same'),
    pool('avgPool', 'apEven', 'cStride', 2, 1, 'same'),
    pool('avgPool', 'apValid1', 'cStride', 2, 1, 'valid'),
    { op: 'concat', name: 'cat2', inputs: ['mpEven', 'mpValid', 'apValid', 'apEven'] },
    conv('c1x1', 'cat2', [1, 1], cat2, cd, 1, 'valid', true),
    conv('c3', 'cat2', [3, 3], cat2, cd, 1, 'same', false),
    // Wide: a second 1×1 conv beside c1x1, so their backward convs are emitted as one.
    ...(wide ? [conv('c1x1b', 'cat2', [1, 1], cat2, cd, 1, 'valid', true)] : []),
    { op: 'add', name: 'sum', inputs: wide ? ['c1x1', 'c3', 'c1x1b'] : ['c1x1', 'c3'] },
    { op: 'affine', name: 'aff', input: 'sum', scale: ref([cd], 0.5, 1), shift: ref([cd], 0.1) },
  ];
  const outputs: Record<string, string> = { shallow: 'r1', side: 'cValid', pooled: 'apValid1', deep: 'aff' };
  return { nodes, outputs, weights: Float32Array.from(weights) };
}

function randomTerm(graph: CompiledGraph, layer: string, seed: number): LayerTerm {
  const channels = nodeChannels(graph).get(graph.outputs[layer])!;
  const rand = seededRandom(seed);
  return { layer, channelWeights: Float32Array.from({ length: channels }, () => rand() * 2 - 0.5) };
}

describe('ONNX network on a tiny graph with every op', () => {
  const graph = tinyGraph(11);
  const range: [number, number] = [-1, 1];
  // The smallest image with every border case: 9 rows, all read by the stride-2 'valid' conv and pools (4 rows out),
  // 12 columns, the last of which they skip (5 out); their 4×5 outputs make the even 'same' pools pad after only.
  const [h, w] = [9, 12];
  const image = randomImage(h, w, 5);

  it.each([
    ['narrow', graph],
    ['16-channel', tinyGraph(12, true)],
  ])('computes the gradient that float64 finite differences of a reference forward pass give (%s)', async (label, graph) => {
    // The wide graph's float64 pass is slow: every 5th input there (border pixels and all channels still sampled).
    const every = label === 'narrow' ? 1 : 5;
    const net = await createOnnxNetwork(graph, { inputRange: range, threads: 1, dreamLayers: ['shallow', 'deep'] });
    const ref = new ReferenceNet(graph, range);
    try {
      const cases: LayerTerm[][] = [
        [randomTerm(graph, 'shallow', 1), randomTerm(graph, 'deep', 2)],
        [randomTerm(graph, 'deep', 3)],
        // 'side' does not feed 'deep' and 'pooled' is a strided-avgPool-then-stride-1-avgPool chain.
        [randomTerm(graph, 'side', 4), randomTerm(graph, 'pooled', 5), randomTerm(graph, 'deep', 6)],
      ];
      for (const terms of cases) {
        const { loss, gradient } = await net.lossAndGradient(image, terms);
        const layers = terms.map((t) => t.layer);
        const weights = Object.fromEntries(terms.map((t) => [t.layer, t.channelWeights]));
        const base = ref.forward(image.data, h, w, layers);
        const expected = ref.loss(base, layers, weights);
        expect(Math.abs(loss - expected)).toBeLessThan(1e-5 * Math.max(1, Math.abs(expected)));
        const fd: number[] = [];
        const ours: number[] = [];
        for (let i = 0; i < h * w * 3; i += every) {
          fd.push(slope(ref, base, layers, Math.floor(i / 3 / w), Math.floor(i / 3) % w, i % 3, weights));
          ours.push(gradient[i]);
        }
        expect(Math.max(...fd.map(Math.abs))).toBeGreaterThan(1e-3);
        expect(relativeError(ours, fd)).toBeLessThan(1e-5);
      }
    } finally {
      net.dispose();
    }
  });

  it('caches the emitted model on disk and survives a corrupt cache file', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'onnx-cache-'));
    try {
      const terms = [randomTerm(graph, 'deep', 7)];
      // A model cached by another emitter version is removed once a new one is written.
      await writeFile(path.join(dir, 'dream-v0-deep-grad-0123456789abcdef.onnx'), 'stale');
      const first = await createOnnxNetwork(graph, { inputRange: range, threads: 1, cacheDir: dir, cacheKey: 'tiny' });
      const expected = await first.lossAndGradient(image, terms);
      first.dispose();
      const files = (await readdir(dir)).filter((f) => f.endsWith('.onnx'));
      expect(files).toHaveLength(1);
      expect(files[0]).toMatch(/^dream-v\d+-deep-grad-[0-9a-f]{16}\.onnx$/);

      const second = await createOnnxNetwork(graph, { inputRange: range, threads: 1, cacheDir: dir, cacheKey: 'tiny' });
      expect(await second.lossAndGradient(image, terms)).toEqual(expected);
      second.dispose();

      await writeFile(path.join(dir, files[0]), 'not a model');
      const third = await createOnnxNetwork(graph, { inputRange: range, threads: 1, cacheDir: dir, cacheKey: 'tiny' });
      expect(await third.lossAndGradient(image, terms)).toEqual(expected);
      third.dispose();
      expect((await readdir(dir)).filter((f) => f.endsWith('.onnx'))).toEqual(files);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('is deterministic and rejects what ONNX cannot express with static pads', () => {
    const opts = { inputRange: range, cutLayer: 'deep', terms: ['shallow', 'deep'], gradient: true };
    expect(Buffer.from(emitDreamModel(graph, opts)).equals(Buffer.from(emitDreamModel(graph, opts)))).toBe(true);
    const strided: CompiledGraph = {
      ...graph,
      nodes: graph.nodes.map((n) => (n.name === 'cStride' && n.op === 'conv' ? { ...n, padding: 'same' } : n)),
    };
    expect(() => emitDreamModel(strided, opts)).toThrow(/cStride.*'same' padding with stride 2/);
  });
});

describe('ONNX network on InceptionV3', () => {
  let net: OnnxNetwork;
  let graph: CompiledGraph;
  let range: [number, number];
  // The tfjs reference (wasm backend), for activations only.
  let reference: DreamNetwork;
  const [h, w] = [83, 91];
  const image = randomImage(h, w, 3);
  let tfActs = new Map<string, Float32Array>();
  /** tfjs' activations of mixed3 and mixed5, from one forward pass. */
  const tfActivations = (data: Float32Array): Map<string, Float32Array> => {
    const x = tf.tensor4d(data, [1, h, w, 3]);
    const layers = ['mixed3', 'mixed5'];
    const acts = reference.activations(x, layers);
    const out = new Map(layers.map((layer, i) => [layer, acts[i].dataSync() as Float32Array]));
    tf.dispose([x, ...acts]);
    return out;
  };

  beforeAll(async () => {
    await initBackend('wasm');
    const model = await loadCompiledModel('inception_v3');
    graph = model.graph;
    range = model.manifest.input.range;
    reference = new DreamNetwork(graph, range);
    net = await createOnnxNetwork(graph, { inputRange: range, threads: 1, dreamLayers: model.manifest.dreamLayers });
    tfActs = tfActivations(image.data);
  });
  afterAll(() => {
    net?.dispose();
    reference?.dispose();
  });

  it('emits a forward model whose activations match tfjs on an odd, non-square image', async () => {
    const bytes = emitDreamModel(graph, { inputRange: range, cutLayer: 'mixed5', terms: [], gradient: false, activations: ['mixed3', 'mixed5'] });
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
    try {
      const { toNchw } = await import('../src/engine/onnx/network.ts');
      const out = await session.run({ image: new ort.Tensor('float32', toNchw(image.data, 1, h, w), [1, 3, h, w]) });
      for (const layer of ['mixed3', 'mixed5']) {
        const t = out[activationOutputName(layer)];
        const [, c, lh, lw] = t.dims;
        const expected = tfActs.get(layer)!;
        expect(t.dims[0] * c * lh * lw).toBe(expected.length);
        expect(c).toBe(net.channels(layer));
        expect(relativeError(nchwToHwc(t.data as Float32Array, c, lh, lw), expected)).toBeLessThan(1e-4);
      }
      expect(out[pooledOutputName('mixed5')]).toBeUndefined();
    } finally {
      await session.release();
    }
  });

  it('gives the loss of a style-like term (non-uniform channel weights) that tfjs activations give', async () => {
    const rand = seededRandom(9);
    const c5 = net.channels('mixed5');
    const style: LayerTerm = { layer: 'mixed5', channelWeights: Float32Array.from({ length: c5 }, () => rand() * 2 - 0.7) };
    for (const terms of [[style], [meanTerm('mixed3', net.channels('mixed3')), style]]) {
      let expected = 0;
      let scale = 0;
      for (const t of terms) {
        const means = channelMeans(tfActs.get(t.layer)!, t.channelWeights.length);
        means.forEach((m, c) => {
          expected += t.channelWeights[c] * m;
          scale += Math.abs(t.channelWeights[c] * m);
        });
      }
      const { loss, gradient } = await net.lossAndGradient(image, terms);
      expect(gradient).toHaveLength(h * w * 3);
      expect(Math.abs(loss - expected)).toBeLessThan(1e-4 * scale);
    }
  });

  it('agrees with the tfjs backend (exact average-pool backward) on the loss and the gradient', async () => {
    for (const layers of [['mixed3', 'mixed5'], ['mixed2']]) {
      const terms = layers.map((l) => meanTerm(l, net.channels(l)));
      const ours = await net.lossAndGradient(image, terms);
      const x = tf.tensor4d(image.data, [1, h, w, 3]);
      const theirs = reference.lossAndGradient(x, layers);
      const [tfLoss, tfGrad] = [theirs.loss.dataSync()[0], theirs.gradient.dataSync() as Float32Array];
      tf.dispose([x, theirs.loss, theirs.gradient]);
      expect(ours.loss).toBeCloseTo(tfLoss, 5);
      // Float rounding differs between the backends, which can send a near-tied max-pool window's gradient to the
      // other maximum (a few pixels): agreement to ~1e-3, where the old average-pool bug alone made 12% at 128×160.
      expect(relativeError(ours.gradient, tfGrad)).toBeLessThan(2e-3);
    }
  });

  it('has a gradient that agrees with a directional finite difference of its own loss', async () => {
    const img = randomImage(128, 112, 4);
    for (const layers of [['mixed3', 'mixed5'], ['mixed0']]) {
      const terms = layers.map((l) => meanTerm(l, net.channels(l)));
      const { gradient } = await net.lossAndGradient(img, terms);
      // The loss is very non-linear (ReLU and max-pool kinks everywhere): a random ± direction over the whole
      // image has g·v ≈ 0 and curvature swamps it, and the error grows ~linearly with ε. So: a 16×16 patch,
      // along sign(g) there, with a small ε (float32 loss noise is still ~0.2% of the difference).
      const v = new Float32Array(img.data.length);
      for (let y = 50; y < 66; y++) for (let x = 40; x < 56; x++) for (let c = 0; c < 3; c++) v[(y * 112 + x) * 3 + c] = Math.sign(gradient[(y * 112 + x) * 3 + c]);
      let gv = 0;
      for (let i = 0; i < v.length; i++) gv += gradient[i] * v[i];
      const eps = 1e-4;
      const at = async (s: number) => (await net.lossAndGradient({ ...img, data: img.data.map((x, i) => x + s * eps * v[i]) }, terms)).loss;
      const fd = ((await at(1)) - (await at(-1))) / (2 * eps);
      expect(gv).toBeGreaterThan(0.05);
      expect(Math.abs(fd - gv)).toBeLessThan(0.03 * gv);
    }
  });

  it('pools features for a batch the way the mean of tfjs activations does', async () => {
    const second = randomImage(h, w, 8);
    const batch = new Float32Array(2 * h * w * 3);
    batch.set(image.data);
    batch.set(second.data, h * w * 3);
    const secondActs = tfActivations(second.data);
    for (const layer of ['mixed3', 'mixed5']) {
      const c = net.channels(layer);
      const pooled = await net.pooledFeatures(batch, 2, h, w, layer);
      expect(pooled).toHaveLength(2 * c);
      const expected = [...channelMeans(tfActs.get(layer)!, c), ...channelMeans(secondActs.get(layer)!, c)];
      expect(relativeError(pooled, expected)).toBeLessThan(1e-4);
    }
  });

  it('does not grow in memory over repeated steps', async () => {
    const img = randomImage(96, 96, 6);
    const terms = [meanTerm('mixed3', net.channels('mixed3')), meanTerm('mixed5', net.channels('mixed5'))];
    for (let i = 0; i < 5; i++) await net.lossAndGradient(img, terms);
    const before = process.memoryUsage().rss;
    for (let i = 0; i < 50; i++) await net.lossAndGradient(img, terms);
    expect(process.memoryUsage().rss - before).toBeLessThan(50 * 2 ** 20);
  });
});
