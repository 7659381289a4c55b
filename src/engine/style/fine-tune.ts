// Fine-tuning, the second stage of TensorFlow's transfer-learning recipe: after the head alone, the trunk's top
// blocks and the head train together at a lower learning rate. Everything below the blocks stays frozen, so its
// output (the block input, e.g. mixed4) is computed once per augmented image on the running backend and cached;
// only the blocks and the head then run, as tfjs ops with autodiff (block-model.ts).
import * as tf from '@tensorflow/tfjs-core';
import { loadArtifacts, modelConfigOf } from '../model/artifacts.ts';
import { planBlocks, type BlockPlan, type BlockWeights } from '../model/blocks.ts';
import type { CompiledGraph } from '../model/graph.ts';
import type { ModelManifest } from '../model/manifest.ts';
import { shuffle, StyleDataError } from './dataset.ts';
import type { BlockModel } from './block-model.ts';

export const FINE_TUNE_DEFAULTS = {
  /** Epochs of the second stage (blocks + head). */
  epochs: 6,
  /** Adam's learning rate in the second stage: a tenth of the head's, as the tutorial lowers it. */
  learningRate: 1e-4,
  /** Readable images every class needs before a second stage is worth running (a few go to validation). */
  minPerClass: 8,
} as const;

/**
 * Refuses a block that is not one of the trunk's dream layers in one line: one above the model's cut (a layer the
 * full model has, past the last dream layer), or an unknown name; both list the valid blocks.
 */
export async function checkBlock(trunk: ModelManifest, block: string): Promise<void> {
  const layers = trunk.dreamLayers;
  if (layers.includes(block)) return;
  const cut = layers[layers.length - 1];
  let names: string[] = [];
  try {
    names = modelConfigOf((await loadArtifacts(trunk)).modelTopology).layers.map((l) => l.name);
  } catch {
    // The full topology is only read to word the refusal.
  }
  if (names.includes(block) && names.indexOf(block) > names.indexOf(cut)) {
    throw new StyleDataError(`Block ${block} is above ${trunk.name}'s cut (${cut}): the trunk stops there. Fine-tune one of ${layers.join(', ')}.`);
  }
  throw new StyleDataError(`Unknown block "${block}" for --fine-tune: valid blocks are ${layers.join(', ')} (the block and those above it up to ${cut} are trained).`);
}

/** Refuses data too small for a second stage: every class needs FINE_TUNE_DEFAULTS.minPerClass readable images. */
export function checkFineTuneData(counts: Record<string, number>): void {
  const min = FINE_TUNE_DEFAULTS.minPerClass;
  const short = Object.entries(counts).find(([, n]) => n < min);
  if (short) {
    throw new StyleDataError(`Too few images for a second stage: class "${short[0]}" has ${short[1]}, fine-tuning needs at least ${min} per class (or train without --fine-tune).`);
  }
}

/** The blocks a `--fine-tune` trains on this compiled trunk. */
export function fineTunePlan(graph: CompiledGraph, trunk: ModelManifest, block: string): BlockPlan {
  const plan = planBlocks(graph, trunk.dreamLayers, block);
  if (typeof plan === 'string') throw new StyleDataError(`Cannot fine-tune ${block}: ${plan}.`);
  if (plan.convs.length === 0) throw new StyleDataError(`Cannot fine-tune ${block}: it has no convolutions to train.`);
  return plan;
}

/** What the second stage works on: the cached block inputs, labels, and the head stage 1 left. */
export interface StageTwoInput {
  block: BlockModel;
  /** Head variables (dense kernel on standardised features, and bias), continued from stage 1's best epoch. */
  kernel: tf.Variable;
  bias: tf.Variable;
  /** Feature standardisation from stage 1 (kept fixed). */
  mean: tf.Tensor1D;
  std: tf.Tensor1D;
  /** The block input of training image `i` in the augmented view for `epoch` (1-based), `[h, w, c]` floats. */
  trainInput: (epoch: number) => Promise<Float32Array[]>;
  labels: number[];
  valInputs: Float32Array[];
  valLabels: number[];
  /** Shape of one block input. */
  inputShape: [number, number, number];
  classes: number;
  epochs: number;
  learningRate: number;
  batchSize: number;
  l2: number;
  labelSmoothing: number;
  /** A generator per (stream, index), as stage 1 uses. */
  random: (stream: number, index: number) => () => number;
  onEpoch: (stats: StageEpoch) => void;
  /** Throws when the run was cancelled. */
  cancelled: () => void;
}

export interface StageEpoch {
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss: number;
  valAccuracy: number;
  best: boolean;
}

export interface StageTwoResult {
  bestEpoch: number;
  valAccuracy: number;
  valLoss: number;
  /** The best epoch's head (on standardised features) and blocks. */
  kernel: Float32Array;
  bias: Float32Array;
  weights: BlockWeights;
  /** The best epoch's pooled features of the validation images (for the saved head's probabilities). */
  valFeatures: Float32Array;
}

/** The head's logits on the blocks' pooled features, standardised as stage 1 fixed them. */
export function headLogits(head: Pick<StageTwoInput, 'kernel' | 'bias' | 'mean' | 'std'>, features: tf.Tensor2D): tf.Tensor2D {
  return tf.add(tf.matMul(tf.div(tf.sub(features, head.mean), head.std), head.kernel), head.bias) as tf.Tensor2D;
}

function crossEntropy(logits: tf.Tensor2D, y: tf.Tensor2D): tf.Scalar {
  return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(logits)), 1))) as tf.Scalar;
}

/** A stage-2 batch's loss: cross-entropy against the smoothed labels, plus the head's L2 as stage 1 applies it (its gradient l2 · W). */
export function stageTwoLoss(logits: tf.Tensor2D, y: tf.Tensor2D, kernel: tf.Tensor, l2: number): tf.Scalar {
  return tf.add(crossEntropy(logits, y), tf.mul(tf.sum(tf.square(kernel)), l2 / 2)) as tf.Scalar;
}

/** Stage 2: blocks + head with Adam at a low learning rate; the epoch best on validation is kept. */
export async function trainStageTwo(s: StageTwoInput): Promise<StageTwoResult> {
  const [h, w, c] = s.inputShape;
  const C = s.classes;
  const eps = s.labelSmoothing;
  const optimizer = tf.train.adam(s.learningRate);
  const oneHot = (labels: number[]) => tf.tidy(() => tf.add(tf.mul(tf.oneHot(tf.tensor1d(labels, 'int32'), C), 1 - eps), eps / C) as tf.Tensor2D);
  const batchOf = (inputs: Float32Array[]) => {
    const data = new Float32Array(inputs.length * h * w * c);
    inputs.forEach((x, j) => data.set(x, j * h * w * c));
    return tf.tensor4d(data, [inputs.length, h, w, c]);
  };
  const logitsOf = (features: tf.Tensor2D) => headLogits(s, features);
  const right = (logits: tf.Tensor2D, labels: number[]) => {
    const guess = tf.tidy(() => tf.argMax(logits, 1).dataSync());
    return labels.filter((l, i) => guess[i] === l).length;
  };
  const trainable = [s.kernel, s.bias, ...s.block.variables.values()];

  /** Validation loss, accuracy and pooled features, in batches. */
  const validate = async () => {
    const features: Float32Array[] = [];
    for (let i = 0; i < s.valInputs.length; i += s.batchSize) {
      s.cancelled();
      const x = batchOf(s.valInputs.slice(i, i + s.batchSize));
      const f = tf.tidy(() => s.block.pooled(x));
      features.push((await f.data()) as Float32Array);
      tf.dispose([x, f]);
    }
    const F = features[0].length / Math.min(s.batchSize, s.valInputs.length);
    const all = new Float32Array(s.valInputs.length * F);
    let at = 0;
    for (const f of features) {
      all.set(f, at);
      at += f.length;
    }
    const [loss, n] = tf.tidy(() => {
      const logits = logitsOf(tf.tensor2d(all, [s.valInputs.length, F]));
      return [crossEntropy(logits, oneHot(s.valLabels)).dataSync()[0], right(logits, s.valLabels)] as const;
    });
    return { loss, accuracy: n / s.valLabels.length, features: all };
  };

  let best: StageTwoResult | undefined;
  try {
    for (let e = 0; e < s.epochs; e++) {
      const inputs = await s.trainInput(e + 1);
      const order = shuffle(s.labels.map((_, i) => i), s.random(2000, e));
      let lossSum = 0;
      let rightSum = 0;
      for (let at = 0; at < order.length; at += s.batchSize) {
        s.cancelled();
        const idx = order.slice(at, at + s.batchSize);
        const x = batchOf(idx.map((i) => inputs[i]));
        const labels = idx.map((i) => s.labels[i]);
        const y = oneHot(labels);
        let logits: tf.Tensor2D | undefined;
        const { value, grads } = tf.variableGrads(() => {
          const z = logitsOf(s.block.pooled(x));
          logits = tf.keep(z);
          return stageTwoLoss(z, y, s.kernel, s.l2);
        }, trainable);
        lossSum += (await value.data())[0] * idx.length;
        rightSum += right(logits!, labels);
        optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
        tf.dispose([x, y, value, logits!, ...Object.values(grads)]);
        // Let progress and signals through between batches.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      const val = await validate();
      const isBest = !best || val.accuracy > best.valAccuracy || (val.accuracy === best.valAccuracy && val.loss < best.valLoss);
      if (isBest) {
        best = {
          bestEpoch: e + 1,
          valAccuracy: val.accuracy,
          valLoss: val.loss,
          kernel: new Float32Array(s.kernel.dataSync()),
          bias: new Float32Array(s.bias.dataSync()),
          weights: s.block.weights(),
          valFeatures: val.features,
        };
      }
      s.onEpoch({ epoch: e + 1, loss: lossSum / order.length, accuracy: rightSum / order.length, valLoss: val.loss, valAccuracy: val.accuracy, best: isBest });
    }
  } finally {
    optimizer.dispose();
  }
  if (!best) throw new Error('internal: no second-stage epoch ran');
  return best;
}
