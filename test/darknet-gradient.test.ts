import * as tf from '@tensorflow/tfjs-core';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/backend.ts';
import { loadClassifier } from '../src/engine/explain/classifier.ts';
import { imageNetClassTerm } from '../src/engine/grow.ts';
import { loadManifest } from '../src/engine/model/manifest.ts';
import { loadCompiledModel, type LoadedModel } from '../src/engine/model/load.ts';
import { DreamNetwork } from '../src/engine/network.ts';
import { meanTerm } from '../src/engine/objective.ts';
import { emitDreamModel } from '../src/engine/onnx/emit.ts';
import { createOnnxNetwork } from '../src/engine/onnx/index.ts';
import { seededRandom } from '../src/engine/random.ts';
import { relativeError } from './helpers/model.ts';

// Issue 19's cost: Darknet's gradient graph without a scatter (its 2×2 pools' gradient placed by MaxUnpool, the
// LeakyReLU slopes in ORT's blocked layout or on the pooled side). Checked against tfjs autodiff on the same weights.

/** A picture with flat blocks (exact ties in every 2×2 pool window over them) beside noise. */
function flatAndNoisy(h: number, w: number): Float32Array {
  const random = seededRandom(19);
  const data = new Float32Array(h * w * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) {
    const flat = x < w / 3 ? 1 : y < h / 2 && x > (2 * w) / 3 ? 0.25 : undefined;
    data[(y * w + x) * 3 + c] = flat ?? random();
  }
  return data;
}

describe("Darknet's gradient on ONNX", () => {
  let model: LoadedModel;
  beforeAll(async () => {
    await initBackend('wasm');
    model = await loadCompiledModel('darknet_tiny');
  });
  afterAll(() => tf.disposeVariables());

  it("equals tfjs autodiff for a class's logit, on flat regions (tied pool windows) and odd sizes", async () => {
    const classifier = await loadClassifier(await loadManifest('darknet_tiny'));
    const goldfish = imageNetClassTerm(classifier, classifier.labels.labels.indexOf('goldfish'));
    const tfjs = new DreamNetwork(model.graph, [0, 1]);
    // The class dream's session: every dream layer feeding the cut has a (here zero) weight input.
    const onnx = await createOnnxNetwork(model.graph, { inputRange: [0, 1], threads: 1, dreamLayers: model.manifest.dreamLayers });
    try {
      for (const [h, w, terms] of [
        [66, 90, [goldfish]],
        [75, 83, [goldfish, meanTerm('leaky_re_lu_6', 128)]],
      ] as const) {
        const data = flatAndNoisy(h, w);
        const ours = await onnx.lossAndGradient({ data, width: w, height: h }, [...terms]);
        const x = tf.tensor4d(data, [1, h, w, 3]);
        const { loss, gradient } = tfjs.lossAndGradient(x, [], terms.map((t) => ({ ...t, scale: 1 })));
        expect(ours.loss).toBeCloseTo(loss.dataSync()[0], 4);
        const expected = gradient.dataSync();
        expect(relativeError(ours.gradient, expected)).toBeLessThan(1e-4);
        // The flat white block's gradient is not zero (the test reaches the ties) and matches there too.
        const block = (g: ArrayLike<number>) => Float32Array.from({ length: h * 20 * 3 }, (_, i) => g[(Math.floor(i / 60) * w + (Math.floor(i / 3) % 20)) * 3 + (i % 3)]);
        expect(Math.max(...block(expected).map(Math.abs))).toBeGreaterThan(0);
        expect(relativeError(block(ours.gradient), block(expected))).toBeLessThan(1e-4);
        tf.dispose([x, loss, gradient]);
      }
    } finally {
      tfjs.dispose();
      await onnx.dispose();
    }
  });

  it('places its pools\' gradient without a scatter-add, and leaves each LeakyReLU its input alone (fused into the conv)', () => {
    const terms = model.manifest.dreamLayers;
    const bytes = emitDreamModel(model.graph, { inputRange: [0, 1], cutLayer: 'leaky_re_lu_15', terms, gradient: true });
    const nodes = onnxProto.onnx.ModelProto.decode(bytes).graph?.node ?? [];
    const count = (op: string) => nodes.filter((n) => n.opType === op).length;
    expect(count('ScatterElements')).toBe(0);
    expect(count('MaxUnpool')).toBe(4);
    for (const leaky of nodes.filter((n) => n.opType === 'LeakyRelu')) {
      expect(nodes.filter((n) => n.input?.includes(leaky.input![0]))).toHaveLength(1);
    }
  });
});
