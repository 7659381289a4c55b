import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
// The union package registers tfjs' autodiff gradients, used here as the reference.
import '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { relativeError, stockLayersModel, stockNetwork, withExactAvgPoolGradient } from './helpers/model.ts';

/** Where tfjs-layers' activations are kept between runs, by exactly what produced them (see layersActivations). */
const REFERENCE_CACHE = path.resolve('models/.cache/tfjs-layers-activations');
const REFERENCE_PACKAGES = ['nsfwjs', '@tensorflow/tfjs-core', '@tensorflow/tfjs-layers', '@tensorflow/tfjs-backend-wasm'];

interface Activation {
  shape: number[];
  values: Float32Array;
}

/**
 * The stock Keras model's activations at `layers` for `image`, by tfjs-layers itself (the model as nsfwjs ships it,
 * read by src/engine/model/artifacts.ts, on the backend in use).
 *
 * Loading that model cost ~1.5 s of CPU a run for the same numbers every time: they are kept under a hash of the exact
 * image, the layers, the backend, the versions of nsfwjs and tfjs and the loader's source, as test/screen.test.ts
 * keeps nsfwjs's scores; a fresh clone, another input or any of those changed computes them again.
 */
async function layersActivations(image: tf.Tensor4D, layers: string[]): Promise<Activation[]> {
  const versions = await Promise.all(REFERENCE_PACKAGES.map(async (name) => `${name}@${JSON.parse(await readFile(path.resolve('node_modules', name, 'package.json'), 'utf8')).version}`));
  const loader = await readFile(path.resolve('src/engine/model/artifacts.ts'));
  const pixels = image.dataSync() as Float32Array;
  const key = createHash('sha256')
    .update(JSON.stringify([versions, tf.getBackend(), layers, image.shape]))
    .update(loader)
    .update(new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength))
    .digest('hex');
  const file = path.join(REFERENCE_CACHE, `${key.slice(0, 24)}.json`);
  const kept = await readFile(file, 'utf8').then((t) => JSON.parse(t) as { shapes?: number[][]; values?: string }, () => undefined);
  if (kept?.shapes && kept.values) {
    const bytes = Buffer.from(kept.values, 'base64');
    const all = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    const sizes = kept.shapes.map((shape) => shape.reduce((a, b) => a * b, 1));
    if (kept.shapes.length === layers.length && sizes.reduce((a, b) => a + b, 0) === all.length) {
      let at = 0;
      return kept.shapes.map((shape, i) => ({ shape, values: all.slice(at, (at += sizes[i])) }));
    }
  }
  const model = await stockLayersModel();
  try {
    const trunk = tfl.model({ inputs: model.inputs, outputs: layers.map((n) => model.getLayer(n).output as tfl.SymbolicTensor) });
    // apply(), not predict(): the Keras model declares 299 × 299, but its layers compute at any size.
    const outputs = trunk.apply(image) as tf.Tensor[];
    const computed = outputs.map((t) => ({ shape: t.shape, values: t.dataSync() as Float32Array }));
    tf.dispose(outputs);
    const all = new Float32Array(computed.reduce((n, a) => n + a.values.length, 0));
    computed.reduce((at, a) => (all.set(a.values, at), at + a.values.length), 0);
    // Best effort, written whole or not at all: without it the next run only computes again.
    const tmp = `${file}.tmp-${process.pid}`;
    await mkdir(REFERENCE_CACHE, { recursive: true })
      .then(() => writeFile(tmp, JSON.stringify({ shapes: computed.map((a) => a.shape), values: Buffer.from(all.buffer).toString('base64') })))
      .then(() => rename(tmp, file))
      .catch(() => undefined);
    return computed;
  } finally {
    model.dispose();
  }
}

describe('compiled InceptionV3 trunk', () => {
  it('matches the tfjs-layers model at mixed3 and mixed5', async () => {
    const network = await stockNetwork();
    // An odd, non-square picture (every padding case of the trunk's convolutions and pools, at a third of 299²'s cost).
    const image = tf.randomUniform([1, 139, 171, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const expected = await layersActivations(image, ['mixed3', 'mixed5']);
    const actual = network.activations(image, ['mixed3', 'mixed5']);
    for (let i = 0; i < 2; i++) {
      expect(actual[i].shape).toEqual(expected[i].shape);
      // Folding BatchNorm reorders float maths: agreement to float precision, not bit for bit.
      expect(relativeError(actual[i], expected[i].values)).toBeLessThan(1e-4);
    }
    tf.dispose([image, ...actual]);
  });

  it('computes the input gradient that tfjs autodiff computes, on an odd, non-square image', async () => {
    const network = await stockNetwork();
    // The smallest such image: 75 rows is the least the network takes, and 91 the fewest columns that keep every map
    // non-square up to mixed5 (mixed0–mixed2 are 7×9, mixed3–mixed5 3×4; 89 columns would make them 7×8 and 3×3).
    const image = tf.randomUniform([1, 75, 91, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    for (const layers of [['mixed3', 'mixed5'], ['mixed0']]) {
      // The reference: tfjs autodiff through the same ops, with the average pools' border fix (without it the two
      // differ by 6-18% here) and tfjs' cpu MaxPoolGrad kernel (src/engine/max-pool-grad.ts finds wasm's own wrong on
      // non-square inputs). The hand-written backward pass runs inside the same tape, where tfjs does not fuse a
      // convolution with its ReLU: both then see the very same forward values and must agree to float precision
      // (measured 4e-7 and 2e-7). This used to run on tfjs' plain-JavaScript cpu backend, where fused and separate
      // ops round alike (4e-7 and 3e-7 there), at five times the cost; test/gradient.test.ts checks the backward pass
      // of each of these ops on the cpu backend against float64 finite differences.
      let ours: tf.TypedArray = new Float32Array();
      const autodiff = tf.tidy(() =>
        withCpuMaxPoolGradient(() =>
          withExactAvgPoolGradient(() =>
            tf.grad((x) => {
              ours = network.lossAndGradient(x as tf.Tensor4D, layers).gradient.dataSync();
              return network.loss(x as tf.Tensor4D, layers);
            })(image).dataSync(),
          ),
        ),
      );
      expect(Math.max(...autodiff.map(Math.abs))).toBeGreaterThan(0);
      expect(ours).toHaveLength(autodiff.length);
      expect(relativeError(ours, autodiff)).toBeLessThan(1e-5);
      // The backend in use, as a dream runs it (wasm's fused convolutions round otherwise), agrees with it up to float
      // rounding, which can flip a ReLU or max-pool choice (measured 2e-3 and 3e-4).
      const { loss, gradient } = network.lossAndGradient(image, layers);
      expect(gradient.shape).toEqual([1, 75, 91, 3]);
      expect(relativeError(gradient, autodiff)).toBeLessThan(1e-2);
      expect(loss.dataSync()[0]).toBeCloseTo(network.loss(image, layers).dataSync()[0], 5);
      tf.dispose([loss, gradient]);
    }
    image.dispose();
  });
});

/**
 * Runs `f` with tfjs' MaxPool gradient computed by tfjs' cpu backend's MaxPoolGrad kernel, whatever backend runs the
 * rest: the values go to the cpu backend and the result comes back as a tensor of the current one.
 */
function withCpuMaxPoolGradient<T>(f: () => T): T {
  const original = tf.getGradient(tf.MaxPool);
  if (!original) throw new Error('tfjs registers no MaxPool gradient');
  const cpu = tf.findBackend('cpu');
  const { kernelFunc } = tf.getKernel(tf.MaxPoolGrad, 'cpu');
  tf.registerGradient({
    kernelName: tf.MaxPool,
    inputsToSave: ['x'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => ({
      x: () => {
        const inputs = { dy: dy as tf.Tensor, input: saved[0], output: saved[1] };
        const onCpuBackend = Object.fromEntries(Object.entries(inputs).map(([name, t]) => [name, { dataId: cpu.write(t.dataSync(), t.shape, t.dtype), shape: t.shape, dtype: t.dtype }]));
        const out = kernelFunc({ inputs: onCpuBackend, backend: cpu, attrs: attrs as unknown as tf.NamedAttrMap }) as tf.TensorInfo;
        const values = cpu.readSync(out.dataId) as Float32Array;
        for (const t of [...Object.values(onCpuBackend), out]) cpu.disposeData(t.dataId);
        return tf.tensor(values, out.shape, out.dtype);
      },
    }),
  });
  try {
    return f();
  } finally {
    tf.registerGradient(original);
  }
}
