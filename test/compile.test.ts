import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/backend.ts';
import { loadCompiledModel } from '../src/engine/model/load.ts';
import { ModelError } from '../src/engine/model/manifest.ts';
import { DreamNetwork } from '../src/engine/network.ts';
import { onCpu, relativeError, withExactAvgPoolGradient } from './helpers/model.ts';

/**
 * A small Keras-style network with every construct the compiler folds or runs: conv + BatchNorm(scale:false)
 * + ReLU, a conv with its own ReLU followed by a BatchNorm that cannot be folded, a 1×7 kernel, Add,
 * 'same' max and average pools with stride 2, Concatenate, an even-sized strided 'valid' conv, and a head
 * the dream trunk must leave out.
 */
function buildModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [37, 45, 3], name: 'image' });
  const bn = (name: string, scale: boolean) => tfl.layers.batchNormalization({ name, scale, epsilon: 1e-3 });
  let x = tfl.layers.conv2d({ name: 'stem', filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false }).apply(input) as tfl.SymbolicTensor;
  x = bn('stem_bn', false).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.activation({ name: 'stem_relu', activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  let a = tfl.layers.conv2d({ name: 'a', filters: 8, kernelSize: 1, activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  a = bn('a_bn', true).apply(a) as tfl.SymbolicTensor;
  let b = tfl.layers.conv2d({ name: 'b', filters: 8, kernelSize: [1, 7], padding: 'same', useBias: false }).apply(x) as tfl.SymbolicTensor;
  b = bn('b_bn', true).apply(b) as tfl.SymbolicTensor;
  b = tfl.layers.reLU({ name: 'b_relu' }).apply(b) as tfl.SymbolicTensor;
  const sum = tfl.layers.add({ name: 'sum' }).apply([a, b]) as tfl.SymbolicTensor;
  const m = tfl.layers.maxPooling2d({ name: 'max', poolSize: 3, strides: 2, padding: 'same' }).apply(sum) as tfl.SymbolicTensor;
  const v = tfl.layers.averagePooling2d({ name: 'avg', poolSize: 3, strides: 2, padding: 'same' }).apply(sum) as tfl.SymbolicTensor;
  const block = tfl.layers.concatenate({ name: 'block', axis: -1 }).apply([m, v]) as tfl.SymbolicTensor;
  const deep = tfl.layers.conv2d({ name: 'deep', filters: 6, kernelSize: 2, strides: 2, activation: 'relu' }).apply(block) as tfl.SymbolicTensor;
  const pooled = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(deep) as tfl.SymbolicTensor;
  const head = tfl.layers.dense({ name: 'head', units: 2, activation: 'softmax' }).apply(pooled) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: head });
  // Non-trivial BatchNorm statistics, so folding them in is really tested.
  for (const layer of model.layers.filter((l) => l.name.endsWith('_bn'))) {
    layer.setWeights(layer.getWeights().map((w, i) => (i === layer.getWeights().length - 1 ? tf.randomUniform(w.shape, 0.5, 2, 'float32', i) : tf.randomNormal(w.shape, 0, 0.5, 'float32', i))));
  }
  return model;
}

async function saveAsFolder(model: tfl.LayersModel, dir: string, manifest: object): Promise<void> {
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weights = Buffer.from(artifacts.weightData as ArrayBuffer);
      await writeFile(path.join(dir, 'weights.bin'), weights);
      await writeFile(path.join(dir, 'model.json'), JSON.stringify({ modelTopology: artifacts.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }] }));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
}

describe('compiling a tfjs LayersModel folder', () => {
  let dir: string;
  let model: tfl.LayersModel;
  const manifest = {
    name: 'tiny',
    title: 'Tiny test network',
    source: { type: 'layers', path: 'model.json' },
    input: { range: [-1, 1], channels: 'rgb', minSide: 16 },
    dreamLayers: ['block', 'deep'],
    defaultLayers: ['deep'],
  };

  beforeAll(async () => {
    await initBackend('auto');
    dir = await mkdtemp(path.join(os.tmpdir(), 'dream-model-'));
    model = buildModel();
    await saveAsFolder(model, dir, manifest);
  });
  afterAll(async () => {
    model.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('folds the network into fewer ops that compute the same activations', async () => {
    const { graph, fromCache } = await loadCompiledModel(dir, { cacheDir: path.join(dir, 'cache') });
    expect(fromCache).toBe(false);
    // The 14 layers up to 'deep' become 10 ops: two BatchNorms and two ReLUs are folded into their convs.
    expect(graph.nodes.map((n) => n.op).sort()).toEqual(['add', 'affine', 'avgPool', 'concat', 'conv', 'conv', 'conv', 'conv', 'input', 'maxPool']);
    expect(graph.nodes.some((n) => n.name === 'head')).toBe(false);

    const network = new DreamNetwork(graph, [-1, 1]);
    const image = tf.randomUniform([1, 37, 45, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const reference = tfl.model({ inputs: model.inputs, outputs: ['block', 'deep'].map((n) => model.getLayer(n).output as tfl.SymbolicTensor) });
    const expected = reference.predict(tf.sub(tf.mul(image, 2), 1)) as tf.Tensor[];
    const actual = network.activations(image, ['block', 'deep']);
    for (let i = 0; i < 2; i++) {
      expect(actual[i].shape).toEqual(expected[i].shape);
      expect(relativeError(actual[i], expected[i])).toBeLessThan(1e-5);
    }

    const autodiff = await onCpu(() => tf.tidy(() => withExactAvgPoolGradient(() => tf.grad((x) => network.loss(x as tf.Tensor4D, ['block', 'deep']))(image).dataSync())));
    const { gradient } = network.lossAndGradient(image, ['block', 'deep']);
    expect(relativeError(gradient, autodiff)).toBeLessThan(1e-4);
    network.dispose();
  });

  it('reads the compiled weights back from its cache on the second load', async () => {
    const cacheDir = path.join(dir, 'cache2');
    const first = await loadCompiledModel(dir, { cacheDir });
    const second = await loadCompiledModel(dir, { cacheDir });
    expect([first.fromCache, second.fromCache]).toEqual([false, true]);
    expect(second.graph.nodes).toEqual(first.graph.nodes);
    expect(Buffer.from(second.graph.weights.buffer).equals(Buffer.from(first.graph.weights.buffer))).toBe(true);
  });

  it('refuses layers it cannot compile, naming them', async () => {
    const bad = path.join(dir, 'bad');
    const input = tfl.input({ shape: [16, 16, 3], name: 'in' });
    const out = tfl.layers.conv2d({ name: 'soft', filters: 2, kernelSize: 3, activation: 'softmax' }).apply(input) as tfl.SymbolicTensor;
    await import('node:fs/promises').then((fs) => fs.mkdir(bad));
    await saveAsFolder(tfl.model({ inputs: input, outputs: out }), bad, { ...manifest, dreamLayers: ['soft'], defaultLayers: ['soft'] });
    await expect(loadCompiledModel(bad, { cacheDir: path.join(dir, 'cache3') })).rejects.toThrow(ModelError);
    await expect(loadCompiledModel(bad, { cacheDir: path.join(dir, 'cache3') })).rejects.toThrow(/soft.*softmax/);
  });

  it('explains a missing or broken manifest', async () => {
    await expect(loadCompiledModel(path.join(dir, 'nope'))).rejects.toThrow(/no manifest/);
    const broken = path.join(dir, 'broken');
    await import('node:fs/promises').then((fs) => fs.mkdir(broken));
    await writeFile(path.join(broken, 'manifest.json'), JSON.stringify({ ...manifest, defaultLayers: ['mixed9'] }));
    await expect(loadCompiledModel(broken)).rejects.toThrow(/defaultLayers/);
  });
});
