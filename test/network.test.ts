import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
// The union package registers tfjs' autodiff gradients, used here as the reference.
import '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { onCpu, relativeError, stockLayersModel, stockNetwork, withExactAvgPoolGradient } from './helpers/model.ts';

describe('compiled InceptionV3 trunk', () => {
  it('matches the tfjs-layers model at mixed3 and mixed5', async () => {
    const network = await stockNetwork();
    const model = await stockLayersModel();
    const trunk = tfl.model({ inputs: model.inputs, outputs: ['mixed3', 'mixed5'].map((n) => model.getLayer(n).output as tfl.SymbolicTensor) });
    // An odd, non-square picture (every padding case of the trunk's convolutions and pools, at a third of 299²'s cost).
    const image = tf.randomUniform([1, 139, 171, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    // apply(), not predict(): the Keras model declares 299 × 299, but its layers compute at any size.
    const expected = trunk.apply(image) as tf.Tensor[];
    const actual = network.activations(image, ['mixed3', 'mixed5']);
    for (let i = 0; i < 2; i++) {
      expect(actual[i].shape).toEqual(expected[i].shape);
      // Folding BatchNorm reorders float maths: agreement to float precision, not bit for bit.
      expect(relativeError(actual[i], expected[i])).toBeLessThan(1e-4);
    }
    tf.dispose([image, ...expected, ...actual]);
    model.dispose();
  });

  it('computes the input gradient that tfjs autodiff computes, on an odd, non-square image', async () => {
    const network = await stockNetwork();
    // The smallest such image: 75 rows is the least the network takes, and 91 the fewest columns that keep every map
    // non-square up to mixed5 (mixed0–mixed2 are 7×9, mixed3–mixed5 3×4; 89 columns would make them 7×8 and 3×3).
    const image = tf.randomUniform([1, 75, 91, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    for (const layers of [['mixed3', 'mixed5'], ['mixed0']]) {
      // On tfjs' reference cpu backend the hand-written backward pass must equal autodiff through the same ops
      // (wasm's own MaxPoolGrad kernel is wrong on non-square inputs, so it cannot be the reference), with the
      // average pools' border fix applied to autodiff too (without it the two differ by 6-18% here).
      const [ours, autodiff] = await onCpu(() =>
        tf.tidy(() => [
          network.lossAndGradient(image, layers).gradient.dataSync(),
          withExactAvgPoolGradient(() => tf.grad((x) => network.loss(x as tf.Tensor4D, layers))(image).dataSync()),
        ]),
      );
      expect(Math.max(...autodiff.map(Math.abs))).toBeGreaterThan(0);
      expect(relativeError(ours, autodiff)).toBeLessThan(1e-5);
      // The backend in use agrees with it up to float rounding (which can flip a ReLU or max-pool choice).
      const { loss, gradient } = network.lossAndGradient(image, layers);
      expect(gradient.shape).toEqual([1, 75, 91, 3]);
      expect(relativeError(gradient, autodiff)).toBeLessThan(1e-2);
      expect(loss.dataSync()[0]).toBeCloseTo(network.loss(image, layers).dataSync()[0], 5);
      tf.dispose([loss, gradient]);
    }
    image.dispose();
  });
});
