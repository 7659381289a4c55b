import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../../src/engine/backend.ts';
import { createDreamer, type Dreamer } from '../../src/engine/index.ts';
import { loadArtifacts } from '../../src/engine/model/artifacts.ts';
import { loadCompiledModel } from '../../src/engine/model/load.ts';
import { loadManifest } from '../../src/engine/model/manifest.ts';
import { DreamNetwork } from '../../src/engine/network.ts';
import type { RgbImage } from '../../src/imaging/index.ts';

let dreamer: Promise<Dreamer> | null = null;

/** The stock model on the auto-selected backend, loaded once per test file. */
export function stockDreamer(): Promise<Dreamer> {
  dreamer ??= createDreamer({ backend: 'auto' });
  return dreamer;
}

let network: Promise<DreamNetwork> | null = null;

/**
 * The stock model's compiled network as tfjs ops on wasm (tensors in, tensors out), loaded once per worker. Files
 * that ran before in the same worker (isolate: false) may have left tfjs on another backend: the network is put back
 * on wasm on every call (on tfjs's plain-JavaScript cpu backend network.test took 64 s instead of 8).
 */
export async function stockNetwork(): Promise<DreamNetwork> {
  await initBackend('wasm');
  if (tf.getBackend() !== 'wasm') await tf.setBackend('wasm');
  network ??= loadCompiledModel('inception_v3').then(({ graph, manifest }) => new DreamNetwork(graph, manifest.input.range));
  return network;
}

/** The DeepDream loss of an image (sum of the layers' mean activations), by the tfjs network. */
export async function lossOf(img: RgbImage, layers: string[]): Promise<number> {
  const net = await stockNetwork();
  return tf.tidy(() => {
    const x = tf.div(tf.tensor4d(img.data, [1, img.height, img.width, 3], 'float32'), 255) as tf.Tensor4D;
    return net.loss(x, layers).dataSync()[0];
  });
}

/** The same weights through tfjs-layers, as the reference the compiled network must match. */
export async function stockLayersModel(): Promise<tfl.LayersModel> {
  const artifacts = await loadArtifacts(await loadManifest('inception_v3'));
  return tfl.loadLayersModel(tf.io.fromMemory(artifacts));
}

/** Runs `f` on tfjs' reference cpu backend (tensors move over lazily), then returns to the current one. */
export async function onCpu<T>(f: () => T): Promise<T> {
  const previous = tf.getBackend();
  await tf.setBackend('cpu');
  try {
    return f();
  } finally {
    await tf.setBackend(previous);
  }
}

/** ||a - b|| / ||b||: robust to the rare max-pool near-tie that routes a gradient to a neighbouring pixel. */
export function relativeError(a: ArrayLike<number> | tf.Tensor, b: ArrayLike<number> | tf.Tensor): number {
  const x = a instanceof tf.Tensor ? a.dataSync() : a;
  const y = b instanceof tf.Tensor ? b.dataSync() : b;
  let num = 0;
  let den = 0;
  for (let i = 0; i < y.length; i++) {
    num += (x[i] - y[i]) ** 2;
    den += y[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/**
 * Runs `f` with tfjs' AvgPool gradient replaced by the exact one. tfjs' own (AvgPoolGrad on cpu and wasm) divides
 * by the full window even where 'same' padding made the forward average fewer inputs, so autodiff through it is
 * wrong at feature-map borders, where the hand-written backward pass is right (test/gradient.test.ts checks it
 * against finite differences). The replacement divides dy by each window's share of real inputs (an average of
 * ones over the explicitly zero-padded input) before that kernel: every other op keeps tfjs' own gradient.
 */
export function withExactAvgPoolGradient<T>(f: () => T): T {
  const original = tf.getGradient(tf.AvgPool);
  if (!original) throw new Error('tfjs registers no AvgPool gradient');
  tf.registerGradient({
    kernelName: tf.AvgPool,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved as [tf.Tensor4D];
      const { filterSize, strides, pad } = attrs as unknown as tf.AvgPoolAttrs;
      const info = tf.backend_util.computePool2DInfo(x.shape, filterSize, strides, 1, pad);
      const { top, bottom, left, right } = info.padInfo;
      const padded = tf.pad(tf.ones([1, info.inHeight, info.inWidth, 1]), [[0, 0], [top, bottom], [left, right], [0, 0]]) as tf.Tensor4D;
      const share = tf.avgPool(padded, [info.filterHeight, info.filterWidth], strides, 'valid');
      return { x: () => tf.engine().runKernel(tf.AvgPoolGrad, { dy: tf.div(dy as tf.Tensor, share), input: x }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor };
    },
  });
  try {
    return f();
  } finally {
    tf.registerGradient(original);
  }
}
