// Fine-tuning, the second stage of TensorFlow's transfer-learning recipe: after the head alone, the trunk's top
// blocks and the head train together at a lower learning rate. Everything below the blocks stays frozen, so its
// output (the block input, e.g. mixed4) is computed once per augmented image on the running backend and cached;
// only the blocks and the head then run: on onnx as one weight-gradient graph on ONNX Runtime (onnx/train-step.ts),
// elsewhere as tfjs ops with autodiff (block-model.ts).
import * as tf from '@tensorflow/tfjs-core';
import { loadTopology, modelConfigOf } from '../model/artifacts.ts';
import { planBlocks, type BlockPlan, type BlockWeights } from '../model/blocks.ts';
import type { CompiledGraph } from '../model/graph.ts';
import type { ModelManifest } from '../model/manifest.ts';
import { shuffle, StyleDataError } from './dataset.ts';
import { createTrainStep, TRAIN_STEP_INPUTS } from '../onnx/train-step.ts';
import { Adam } from './adam.ts';
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
    names = modelConfigOf(await loadTopology(trunk)).layers.map((l) => l.name);
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

/**
 * How stage 2 computes, on ONNX Runtime (one weight-gradient graph, Adam in JavaScript) or as tfjs ops with autodiff.
 * Batches are block inputs `[n, h, w, c]` (NHWC, flat) and smoothed one-hot labels `[n, classes]`.
 */
export interface StageTwoEngine {
  /** One training step; the batch's loss and logits are those before the update. */
  step(x: Float32Array, y: Float32Array): Promise<{ loss: number; logits: Float32Array }>;
  /** The blocks' pooled output `[n, channels]`. */
  pooled(x: Float32Array): Promise<Float32Array>;
  /** The head (dense kernel on standardised features, and bias) as it is now. */
  head(): { kernel: Float32Array; bias: Float32Array };
  /** The blocks' weights as they are now. */
  weights(): BlockWeights;
  dispose(): Promise<void>;
}

/** The head stage 1 left: its kernel `[features, classes]` and bias, and the fixed feature standardisation. */
export interface StageOneHead {
  kernel: Float32Array;
  bias: Float32Array;
  mean: Float32Array;
  std: Float32Array;
}

interface EngineOptions {
  inputShape: [number, number, number];
  classes: number;
  learningRate: number;
  l2: number;
}

/**
 * Stage 2 on ONNX Runtime: 13× faster a step than tfjs-wasm on 2 cores (README, scripts/fine-tune-step.ts); the
 * graph's gradients agree with tfjs autodiff's (test/fine-tune.test.ts).
 */
export async function onnxStageTwo(plan: BlockPlan, weights: BlockWeights, head: StageOneHead, o: EngineOptions & { threads: number }): Promise<StageTwoEngine> {
  const step = await createTrainStep(plan, { inputShape: o.inputShape, classes: o.classes, l2: o.l2 }, o.threads);
  const blocks: BlockWeights = new Map([...weights].map(([name, w]) => [name, Float32Array.from(w)]));
  const kernel = Float32Array.from(head.kernel);
  const bias = Float32Array.from(head.bias);
  const params = new Map([...blocks, [TRAIN_STEP_INPUTS.kernel, kernel], [TRAIN_STEP_INPUTS.bias, bias]]);
  const adam = new Adam(o.learningRate);
  return {
    async step(x, y) {
      const out = await step.run({ x, labels: y, kernel, bias, mean: head.mean, std: head.std, weights: blocks });
      adam.apply(params, out.grads);
      return { loss: out.loss, logits: out.logits };
    },
    pooled: (x) => step.features(x, blocks),
    head: () => ({ kernel: Float32Array.from(kernel), bias: Float32Array.from(bias) }),
    weights: () => new Map([...blocks].map(([name, w]) => [name, Float32Array.from(w)])),
    dispose: () => step.release(),
  };
}

/** Stage 2 as tfjs ops (the block model's variables and the head's) under tf.variableGrads, with tfjs's Adam. */
export function tfjsStageTwo(block: BlockModel, head: StageOneHead, o: EngineOptions): StageTwoEngine {
  const [h, w, c] = o.inputShape;
  const C = o.classes;
  const vars = {
    kernel: tf.variable(tf.tensor2d(head.kernel, [head.kernel.length / C, C])),
    bias: tf.variable(tf.tensor1d(head.bias)),
    mean: tf.tensor1d(head.mean),
    std: tf.tensor1d(head.std),
  };
  const optimizer = tf.train.adam(o.learningRate);
  const trainable = [vars.kernel, vars.bias, ...block.variables.values()];
  const batch = (x: Float32Array) => tf.tensor4d(x, [x.length / (h * w * c), h, w, c]);
  return {
    async step(xs, ys) {
      const x = batch(xs);
      const y = tf.tensor2d(ys, [x.shape[0], C]);
      let logits: tf.Tensor2D | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const z = stageTwoLogits(vars, block.pooled(x));
        logits = tf.keep(z);
        return stageTwoLoss(z, y, vars.kernel, o.l2);
      }, trainable);
      const loss = (await value.data())[0];
      const out = (await logits!.data()) as Float32Array;
      optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
      tf.dispose([x, y, value, logits!, ...Object.values(grads)]);
      return { loss, logits: out };
    },
    async pooled(xs) {
      const x = batch(xs);
      const f = tf.tidy(() => block.pooled(x));
      const out = (await f.data()) as Float32Array;
      tf.dispose([x, f]);
      return out;
    },
    head: () => ({ kernel: Float32Array.from(vars.kernel.dataSync()), bias: Float32Array.from(vars.bias.dataSync()) }),
    weights: () => block.weights(),
    async dispose() {
      optimizer.dispose();
      tf.dispose([vars.kernel, vars.bias, vars.mean, vars.std]);
    },
  };
}

/** What the second stage works on: the cached block inputs, labels, and the engine holding the head and blocks. */
export interface StageTwoInput {
  engine: StageTwoEngine;
  /** Feature standardisation from stage 1 (kept fixed). */
  mean: Float32Array;
  std: Float32Array;
  /** The block input of training image `i` in the augmented view for `epoch` (1-based), `[h, w, c]` floats. */
  trainInput: (epoch: number) => Promise<Float32Array[]>;
  labels: number[];
  valInputs: Float32Array[];
  valLabels: number[];
  /** Shape of one block input. */
  inputShape: [number, number, number];
  classes: number;
  epochs: number;
  batchSize: number;
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
export function stageTwoLogits(head: { kernel: tf.Tensor; bias: tf.Tensor; mean: tf.Tensor; std: tf.Tensor }, features: tf.Tensor2D): tf.Tensor2D {
  return tf.add(tf.matMul(tf.div(tf.sub(features, head.mean), head.std), head.kernel as tf.Tensor2D), head.bias) as tf.Tensor2D;
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
  const oneHot = (labels: number[]) => {
    const y = new Float32Array(labels.length * C).fill(eps / C);
    labels.forEach((l, i) => (y[i * C + l] = 1 - eps + eps / C));
    return y;
  };
  const batchOf = (inputs: Float32Array[]) => {
    const data = new Float32Array(inputs.length * h * w * c);
    inputs.forEach((x, j) => data.set(x, j * h * w * c));
    return data;
  };
  const right = (logits: Float32Array, labels: number[]) => labels.filter((l, i) => argmaxRow(logits, i, C) === l).length;

  /** Validation loss, accuracy and pooled features, in batches. */
  const validate = async () => {
    const features: Float32Array[] = [];
    for (let i = 0; i < s.valInputs.length; i += s.batchSize) {
      s.cancelled();
      features.push(await s.engine.pooled(batchOf(s.valInputs.slice(i, i + s.batchSize))));
    }
    const F = s.mean.length;
    const all = new Float32Array(s.valInputs.length * F);
    let at = 0;
    for (const f of features) {
      all.set(f, at);
      at += f.length;
    }
    const head = s.engine.head();
    const [loss, logits] = tf.tidy(() => {
      const t = { kernel: tf.tensor2d(head.kernel, [F, C]), bias: tf.tensor1d(head.bias), mean: tf.tensor1d(s.mean), std: tf.tensor1d(s.std) };
      const z = stageTwoLogits(t, tf.tensor2d(all, [s.valInputs.length, F]));
      return [crossEntropy(z, tf.tensor2d(oneHot(s.valLabels), [s.valLabels.length, C])).dataSync()[0], z.dataSync() as Float32Array] as const;
    });
    return { loss, accuracy: right(logits, s.valLabels) / s.valLabels.length, features: all };
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
        const labels = idx.map((i) => s.labels[i]);
        const { loss, logits } = await s.engine.step(batchOf(idx.map((i) => inputs[i])), oneHot(labels));
        lossSum += loss * idx.length;
        rightSum += right(logits, labels);
        // Let progress and signals through between batches.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      const val = await validate();
      const isBest = !best || val.accuracy > best.valAccuracy || (val.accuracy === best.valAccuracy && val.loss < best.valLoss);
      if (isBest) {
        best = { bestEpoch: e + 1, valAccuracy: val.accuracy, valLoss: val.loss, ...s.engine.head(), weights: s.engine.weights(), valFeatures: val.features };
      }
      s.onEpoch({ epoch: e + 1, loss: lossSum / order.length, accuracy: rightSum / order.length, valLoss: val.loss, valAccuracy: val.accuracy, best: isBest });
    }
  } finally {
    await s.engine.dispose();
  }
  if (!best) throw new Error('internal: no second-stage epoch ran');
  return best;
}

/** The first largest value's index in row `r` of a `[n, cols]` matrix (as tf.argMax picks). */
function argmaxRow(m: Float32Array, r: number, cols: number): number {
  let k = 0;
  for (let j = 1; j < cols; j++) if (m[r * cols + j] > m[r * cols + k]) k = j;
  return k;
}
