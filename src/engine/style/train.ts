// Transfer learning for custom styles: a dense head on the frozen trunk's pooled mixed5 features.
// The trunk only runs forward (the network's pooled features), so training needs no convolution filter gradients
// and works on every backend; the head's gradient is written out by hand and applied with tf.train.adam.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, tfjsForTraining, type BackendChoice } from '../backend.ts';
import { CancelledError } from '../../errors.ts';
import type { GradientNetwork } from '../gradient-network.ts';
import { biasName, graphDigest, kernelName, readBlockWeights, withBlockWeights, type BlockPlan, type BlockWeights } from '../model/blocks.ts';
import { DEFAULT_CACHE_DIR, loadCompiledModel } from '../model/load.ts';
import { MODELS_DIR, type ModelManifest, loadManifest } from '../model/manifest.ts';
import { createGradientNetwork } from '../networks.ts';
import { meanTerm } from '../objective.ts';
import { randomSeed, seededRandom } from '../random.ts';
import { readDataset, scanDataset, shuffle, splitDataset, StyleDataError, type DatasetImage, type SkippedFile } from './dataset.ts';
import { augmentedInput, headInput, randomAugmentation } from './features.ts';
import { encodeHeadWeights, headLogits, softmaxRows, type StyleHead } from './head.ts';
import { BLOCK_WEIGHTS_FILE, HEAD_WEIGHTS_FILE, STYLE_KIND, STYLE_NAME, type FineTuneStage, type StyleFile } from './spec.ts';
import { BlockModel, registerGradients } from './block-model.ts';
import { trainStepHandles } from '../onnx/train-step.ts';
import { checkBlock, checkFineTuneData, FINE_TUNE_DEFAULTS, fineTunePlan, onnxStageTwo, tfjsStageTwo, trainStageTwo, type StageTwoResult } from './fine-tune.ts';
import { ownTrunkCacheDir } from './own-trunk.ts';
import { encodeWeights } from './weights-file.ts';

export const TRAIN_DEFAULTS = {
  epochs: 20,
  valSplit: 0.2,
  /** Side of the square training images: small enough to be quick on a CPU (mixed5 is then 8×8). */
  inputSize: 160,
  /** Augmented views per training image; epoch e trains on view e mod views (features are computed once per view). */
  views: 4,
  batchSize: 16,
  learningRate: 0.001,
  /** L2 penalty on the (standardised-feature) kernel. */
  l2: 1e-3,
  /** Label smoothing: targets are 1 − ε + ε/C and ε/C, so the head stays calibrated instead of saturating. */
  labelSmoothing: 0.1,
  trunk: 'inception_v3',
  featureLayer: 'mixed5',
} as const;

/**
 * The class term's weight w is set so that on the validation images the image gradient of w · logit_target is
 * this many times as large (L2 norm) as the gradient of the layers' loss: the class then visibly shapes the
 * dream while the layers keep their DeepDream look.
 */
export const CLASS_GRADIENT_RATIO = 1;

export interface TrainOptions {
  /** Folder with one sub-folder of images per class. */
  data: string;
  /** Style name: the folder under `modelsDir` it is saved to. */
  name: string;
  epochs?: number;
  /** Share of each class held out to pick the best epoch (0 < valSplit < 1). */
  valSplit?: number;
  /** Seed of the split, augmentation and shuffling; random when not given (it is saved in the manifest). */
  seed?: number;
  inputSize?: number;
  views?: number;
  batchSize?: number;
  learningRate?: number;
  /**
   * A dream layer (block) of the trunk: that block and every one above it up to the cut are fine-tuned in a second
   * stage, after the head alone (TensorFlow's transfer-learning recipe). Default: the head only.
   */
  fineTune?: string;
  /** Epochs of the second stage (default FINE_TUNE_DEFAULTS.epochs). */
  fineTuneEpochs?: number;
  /** Adam's learning rate in the second stage (default FINE_TUNE_DEFAULTS.learningRate). */
  fineTuneLearningRate?: number;
  /** Where the style is saved (default: the project's models/). */
  modelsDir?: string;
  backend?: BackendChoice;
  /** CPU threads for the network on onnx (default 1). */
  threads?: number;
  cacheDir?: string;
  maxInputPixels?: number;
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
  onEpoch?: (e: EpochStats) => void;
  onWarning?: (message: string) => void;
}

export interface TrainProgress {
  phase: 'reading' | 'features' | 'training';
  /** With fine-tuning: 1 (the head alone) or 2 (blocks + head); `epoch` and `epochs` count within the stage. */
  stage?: 1 | 2;
  /** 1-based epoch, while features or training run. */
  epoch?: number;
  epochs: number;
  /** Share of the whole run done: 0..1. */
  fraction: number;
  elapsedMs: number;
  etaSeconds: number;
}

export interface EpochStats {
  epoch: number;
  epochs: number;
  loss: number;
  accuracy: number;
  valLoss: number;
  valAccuracy: number;
  /** This epoch is the best so far on the validation images (its weights are the ones kept). */
  best: boolean;
  /** With fine-tuning: the stage (1: head alone, 2: blocks + head); `best` is within the stage. */
  stage?: 1 | 2;
}

export interface TrainResult {
  manifest: ModelManifest;
  /** Folder the style was written to. */
  dir: string;
  head: StyleHead;
  classes: string[];
  valAccuracy: number;
  bestEpoch: number;
  history: EpochStats[];
  images: { train: number; val: number; perClass: Record<string, number> };
  skipped: SkippedFile[];
  /** The saved head's probabilities on each validation image. */
  validation: { file: string; label: number; probabilities: number[] }[];
  classWeight: number;
  seed: number;
  backend: string;
  seconds: number;
  /** Set when blocks were fine-tuned: which, each stage's summary, and the saved style's size in bytes. */
  fineTune?: { blocks: string[]; stages: FineTuneStage[]; bytes: number };
}

function checkOptions(o: TrainOptions) {
  const bad = (msg: string): never => {
    throw new StyleDataError(msg);
  };
  if (!STYLE_NAME.test(o.name)) bad(`The style name "${o.name}" must be 1–40 characters: lower-case letters, digits, "-" or "_", starting with a letter or digit.`);
  const epochs = o.epochs ?? TRAIN_DEFAULTS.epochs;
  if (!Number.isInteger(epochs) || epochs < 1 || epochs > 1000) bad('Epochs must be a whole number from 1 to 1000.');
  const valSplit = o.valSplit ?? TRAIN_DEFAULTS.valSplit;
  if (!(valSplit > 0 && valSplit < 1)) bad('The validation split must be above 0 and below 1.');
  const seed = o.seed ?? randomSeed();
  if (!Number.isInteger(seed)) bad('The seed must be a whole number.');
  const inputSize = o.inputSize ?? TRAIN_DEFAULTS.inputSize;
  if (!Number.isInteger(inputSize) || inputSize < 96 || inputSize > 512) bad('The training size must be a whole number of pixels from 96 to 512.');
  const views = o.views ?? TRAIN_DEFAULTS.views;
  if (!Number.isInteger(views) || views < 1 || views > 64) bad('Views must be a whole number from 1 to 64.');
  const batchSize = o.batchSize ?? TRAIN_DEFAULTS.batchSize;
  if (!Number.isInteger(batchSize) || batchSize < 1) bad('The batch size must be a whole number of at least 1.');
  const learningRate = o.learningRate ?? TRAIN_DEFAULTS.learningRate;
  if (!(learningRate > 0 && learningRate < 1)) bad('The learning rate must be above 0 and below 1.');
  const fineTuneEpochs = o.fineTuneEpochs ?? FINE_TUNE_DEFAULTS.epochs;
  if (!Number.isInteger(fineTuneEpochs) || fineTuneEpochs < 1 || fineTuneEpochs > 1000) bad('Fine-tuning epochs must be a whole number from 1 to 1000.');
  const fineTuneLearningRate = o.fineTuneLearningRate ?? FINE_TUNE_DEFAULTS.learningRate;
  if (!(fineTuneLearningRate > 0 && fineTuneLearningRate < 1)) bad('The fine-tuning learning rate must be above 0 and below 1.');
  return { epochs, valSplit, seed, inputSize, views, batchSize, learningRate, fineTuneEpochs, fineTuneLearningRate };
}

/** A generator per (seed, stream, index), so each view's augmentation is the same whenever it is computed. */
function streamRandom(seed: number, stream: number, index: number): () => number {
  return seededRandom((Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(stream + 1, 0xc2b2ae35) + Math.imul(index + 1, 0x27d4eb2f)) | 0);
}

/** Refuses to overwrite anything in models/ that is not a style (the stock model, say). */
async function checkTarget(dir: string, name: string): Promise<void> {
  const file = path.join(dir, 'manifest.json');
  if (!existsSync(dir)) return;
  let kind: unknown;
  try {
    kind = (JSON.parse(await readFile(file, 'utf8')) as { kind?: unknown }).kind;
  } catch {
    kind = undefined;
  }
  if (kind !== STYLE_KIND) throw new StyleDataError(`${dir} exists and is not a style: choose another --name than "${name}".`);
}

/** Trains a style's head on a folder of class folders and saves it under `modelsDir/<name>/`. */
export async function trainStyle(opts: TrainOptions): Promise<TrainResult> {
  const started = Date.now();
  const o = checkOptions(opts);
  const modelsDir = path.resolve(opts.modelsDir ?? MODELS_DIR);
  const outDir = path.join(modelsDir, opts.name);
  await checkTarget(outDir, opts.name);
  const cancelled = () => {
    if (opts.signal?.aborted) throw new CancelledError();
  };

  const trunkRef = existsSync(path.join(modelsDir, TRAIN_DEFAULTS.trunk, 'manifest.json')) ? path.join(modelsDir, TRAIN_DEFAULTS.trunk) : path.join(MODELS_DIR, TRAIN_DEFAULTS.trunk);
  const fineTuning = opts.fineTune !== undefined;
  if (opts.fineTune !== undefined) await checkBlock(await loadManifest(trunkRef), opts.fineTune);

  // Data first: bad data is reported before the (slower) model load.
  const scan = await scanDataset(opts.data);
  /** The stage running (fine-tuning only); progress and epochs count within it. */
  let stage: 1 | 2 | undefined = fineTuning ? 1 : undefined;
  const report = (phase: TrainProgress['phase'], fraction: number, epoch?: number) => {
    const elapsedMs = Date.now() - started;
    const eta = fraction > 0 ? ((elapsedMs / fraction) * (1 - fraction)) / 1000 : 0;
    const epochs = stage === 2 ? o.fineTuneEpochs : o.epochs;
    opts.onProgress?.({ phase, epoch, epochs, fraction, elapsedMs, etaSeconds: eta, ...(stage ? { stage } : {}) });
  };
  const { images, skipped } = await readDataset(scan, {
    inputSize: o.inputSize,
    maxInputPixels: opts.maxInputPixels ?? 40_000_000,
    signal: opts.signal,
    onFile: (done, total) => report('reading', 0.05 * (done / total)),
  });
  cancelled();
  const { train, val } = splitDataset(images, scan.classes.length, o.valSplit, o.seed);
  const perClass = Object.fromEntries(scan.classes.map((c, k) => [c, images.filter((im) => im.label === k).length]));
  if (fineTuning) checkFineTuneData(perClass);

  const backend = await initBackend(opts.backend ?? 'auto', opts.threads);
  const trunk = await loadCompiledModel(trunkRef, { cacheDir: opts.cacheDir, onWarning: opts.onWarning });
  const layer = TRAIN_DEFAULTS.featureLayer;
  if (trunk.manifest.style || !trunk.manifest.dreamLayers.includes(layer)) throw new StyleDataError(`The trunk model ${trunk.manifest.name} has no layer ${layer}.`);
  const plan: BlockPlan | undefined = opts.fineTune !== undefined ? fineTunePlan(trunk.graph, trunk.manifest, opts.fineTune) : undefined;
  const net = await createGradientNetwork(backend, trunk);
  const classes = scan.classes;
  const C = classes.length;
  const uid = `${process.pid}-${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
  let block: BlockModel | undefined;
  if (plan) {
    await registerGradients();
    // The blocks as tfjs ops give stage 1 its features (and train off onnx): on wasm where it starts (also beside
    // onnx, which runs the frozen part and, in stage 2, the blocks' training graph).
    await tfjsForTraining(backend);
    block = new BlockModel(plan, readBlockWeights(trunk.graph, plan.convs), uid);
  }

  // Work units for the progress bar: one per forward pass, a little per epoch of head training, and (fine-tuning)
  // about two forward passes' worth per image per second-stage epoch.
  const views = plan ? Math.min(o.views, o.epochs + o.fineTuneEpochs) : Math.min(o.views, o.epochs);
  const forwards = val.length + train.length * views;
  const epochUnits = 1 + 0.01 * train.length;
  const stageTwoUnits = plan ? 2 * train.length + 0.5 * val.length : 0;
  const totalUnits = forwards + o.epochs * epochUnits + (plan ? o.fineTuneEpochs * stageTwoUnits : 0);
  let unitsDone = 0;
  const advance = (units: number, phase: TrainProgress['phase'], epoch?: number) => {
    unitsDone += units;
    report(phase, 0.05 + 0.95 * Math.min(1, unitsDone / totalUnits), epoch);
  };

  /** Block inputs (fine-tuning) by 'val' or view number: the frozen part's output, computed once per image. */
  const blockInputs = new Map<string, Float32Array[]>();
  let blockInputShape: [number, number, number] = [0, 0, 0];
  /** With fine-tuning: the frozen part runs to the blocks' input on the backend, then the blocks (tfjs) pool. */
  const blockFeaturesOf = async (key: string, items: DatasetImage[], input: (it: DatasetImage, i: number) => tf.Tensor4D, epoch?: number): Promise<Float32Array> => {
    const p = plan!;
    const inputs: Float32Array[] = [];
    const [lo, hi] = trunk.manifest.input.range;
    for (const [i, it] of items.entries()) {
      cancelled();
      const x = input(it, i);
      const pixels = (await x.data()) as Float32Array;
      x.dispose();
      if (p.fromNode === trunk.graph.nodes[0].name) {
        inputs.push(Float32Array.from(pixels, (v) => lo + (hi - lo) * v));
        blockInputShape = [o.inputSize, o.inputSize, 3];
      } else {
        const acts = await net.activations({ data: pixels, width: o.inputSize, height: o.inputSize }, p.from);
        inputs.push(acts.data);
        blockInputShape = [acts.height, acts.width, acts.channels];
      }
      advance(1, 'features', epoch);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    blockInputs.set(key, inputs);
    const [h, w, c] = blockInputShape;
    const out: Float32Array[] = [];
    for (let i = 0; i < inputs.length; i += o.batchSize) {
      const part = inputs.slice(i, i + o.batchSize);
      const data = new Float32Array(part.length * h * w * c);
      part.forEach((a, j) => data.set(a, j * h * w * c));
      const pooled = tf.tidy(() => block!.pooled(tf.tensor4d(data, [part.length, h, w, c])));
      out.push((await pooled.data()) as Float32Array);
      pooled.dispose();
    }
    return concatRows(out);
  };

  /** Pooled features of many images, a few per forward pass. */
  const featuresOf = async (key: string, items: DatasetImage[], input: (it: DatasetImage, i: number) => tf.Tensor4D, epoch?: number): Promise<Float32Array> => {
    if (plan) return blockFeaturesOf(key, items, input, epoch);
    const out: Float32Array[] = [];
    for (let i = 0; i < items.length; i += 8) {
      cancelled();
      const part = items.slice(i, i + 8);
      const batch = tf.tidy(() => tf.concat4d(part.map((it, j) => input(it, i + j)), 0));
      try {
        out.push(await net.pooledFeatures((await batch.data()) as Float32Array, part.length, o.inputSize, o.inputSize, layer));
      } finally {
        batch.dispose();
      }
      advance(part.length, 'features', epoch);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return concatRows(out);
  };

  /** Tensors that live for the whole training, disposed at the end whatever happens. */
  const owned: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(t: T): T => {
    owned.push(t);
    return t;
  };
  const optimizer = tf.train.adam(o.learningRate);
  try {
    const valFeatures = await featuresOf('val', val, (it) => headInput(it.image, o.inputSize));
    const F = valFeatures.length / val.length;
    const viewFeatures: Float32Array[] = [];
    const viewOf = async (v: number, epoch: number) => {
      viewFeatures[v] ??= await featuresOf(`view${v}`, train, (it, i) => augmentedInput(it.image, o.inputSize, randomAugmentation(streamRandom(o.seed, v, i))), epoch);
      return viewFeatures[v];
    };

    // Standardise features with the first view's statistics (folded into the saved kernel at the end).
    const first = await viewOf(0, 1);
    const mean = new Float32Array(F);
    const std = new Float32Array(F);
    for (let r = 0; r < train.length; r++) for (let i = 0; i < F; i++) mean[i] += first[r * F + i] / train.length;
    for (let r = 0; r < train.length; r++) for (let i = 0; i < F; i++) std[i] += (first[r * F + i] - mean[i]) ** 2 / train.length;
    for (let i = 0; i < F; i++) std[i] = Math.max(Math.sqrt(std[i]), 1e-3);
    const meanT = keep(tf.tensor1d(mean));
    const stdT = keep(tf.tensor1d(std));
    const standardise = (rows: Float32Array, n: number) => tf.tidy(() => tf.div(tf.sub(tf.tensor2d(rows, [n, F]), meanT), stdT) as tf.Tensor2D);
    const eps = TRAIN_DEFAULTS.labelSmoothing;
    const oneHot = (labels: number[]) => tf.tidy(() => tf.add(tf.mul(tf.oneHot(tf.tensor1d(labels, 'int32'), C), 1 - eps), eps / C) as tf.Tensor2D);

    const W = keep(tf.tidy(() => tf.variable(tf.zeros([F, C]), true, `style-head-kernel-${uid}`)));
    const b = keep(tf.tidy(() => tf.variable(tf.zeros([C]), true, `style-head-bias-${uid}`)));
    const xVal = keep(standardise(valFeatures, val.length));
    const yVal = keep(oneHot(val.map((it) => it.label)));

    /** Cross-entropy and the number right, for standardised features x and (smoothed) one-hot y. */
    const evaluate = (x: tf.Tensor2D, y: tf.Tensor2D) =>
      tf.tidy(() => {
        const logits = tf.add(tf.matMul(x, W), b);
        const loss = tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(logits)), 1)));
        const right = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(y, 1)), 'float32'));
        return [loss.dataSync()[0], right.dataSync()[0]] as const;
      });

    const history: EpochStats[] = [];
    let best = { epoch: 0, valAccuracy: -1, valLoss: Infinity, kernel: new Float32Array(F * C), bias: new Float32Array(C) };
    for (let e = 0; e < o.epochs; e++) {
      const feats = await viewOf(e % o.views, e + 1);
      const order = shuffle(train.map((_, i) => i), streamRandom(o.seed, 1000, e));
      let lossSum = 0;
      let right = 0;
      for (let s = 0; s < order.length; s += o.batchSize) {
        cancelled();
        const idx = order.slice(s, s + o.batchSize);
        const rows = new Float32Array(idx.length * F);
        idx.forEach((r, j) => rows.set(feats.subarray(r * F, (r + 1) * F), j * F));
        const x = standardise(rows, idx.length);
        const y = oneHot(idx.map((r) => train[r].label));
        const [batchLoss, batchRight] = evaluate(x, y);
        lossSum += batchLoss * idx.length;
        right += batchRight;
        // Softmax cross-entropy: d(loss)/d(logits) = (softmax − y) / n; dense layer: dW = xᵀ·that (+ L2), db = Σ rows.
        const grads = tf.tidy(() => {
          const dLogits = tf.div(tf.sub(tf.softmax(tf.add(tf.matMul(x, W), b)), y), idx.length);
          return [
            { name: W.name, tensor: tf.add(tf.matMul(x, dLogits, true, false), tf.mul(W, TRAIN_DEFAULTS.l2)) },
            { name: b.name, tensor: tf.sum(dLogits, 0) },
          ];
        });
        optimizer.applyGradients(grads);
        tf.dispose([x, y, ...grads.map((g) => g.tensor)]);
      }
      const [valLoss, valRight] = evaluate(xVal, yVal);
      const stats: EpochStats = {
        epoch: e + 1,
        epochs: o.epochs,
        loss: lossSum / train.length,
        accuracy: right / train.length,
        valLoss,
        valAccuracy: valRight / val.length,
        best: false,
        ...(stage ? { stage } : {}),
      };
      if (stats.valAccuracy > best.valAccuracy || (stats.valAccuracy === best.valAccuracy && valLoss < best.valLoss)) {
        stats.best = true;
        best = { epoch: e + 1, valAccuracy: stats.valAccuracy, valLoss, kernel: new Float32Array(W.dataSync()), bias: new Float32Array(b.dataSync()) };
      }
      history.push(stats);
      advance(epochUnits, 'training', e + 1);
      opts.onEpoch?.(stats);
    }

    // Stage 2 (fine-tuning): the blocks and the head from stage 1's best epoch, at the lower learning rate.
    let two: StageTwoResult | undefined;
    if (plan && block) {
      stage = 2;
      // On onnx, one weight-gradient graph on ONNX Runtime (13× a tfjs-wasm step on 2 cores) where it can express
      // the blocks (not a reduction block's max pool); tfjs ops elsewhere.
      const head = { kernel: best.kernel, bias: best.bias, mean, std };
      const engineOptions = { inputShape: blockInputShape, classes: C, learningRate: o.fineTuneLearningRate, l2: TRAIN_DEFAULTS.l2 };
      const engine =
        backend.name === 'onnx' && trainStepHandles(plan)
          ? await onnxStageTwo(plan, readBlockWeights(trunk.graph, plan.convs), head, { ...engineOptions, threads: backend.threads })
          : tfjsStageTwo(block, head, engineOptions);
      two = await trainStageTwo({
        engine,
        mean,
        std,
        trainInput: async (epoch) => {
          const v = (o.epochs + epoch - 1) % o.views;
          await viewOf(v, epoch);
          return blockInputs.get(`view${v}`)!;
        },
        labels: train.map((it) => it.label),
        valInputs: blockInputs.get('val')!,
        valLabels: val.map((it) => it.label),
        inputShape: blockInputShape,
        classes: C,
        epochs: o.fineTuneEpochs,
        batchSize: o.batchSize,
        labelSmoothing: eps,
        random: (stream, index) => streamRandom(o.seed, stream, index),
        cancelled,
        onEpoch: (e) => {
          const stats: EpochStats = { ...e, epochs: o.fineTuneEpochs, stage: 2 };
          history.push(stats);
          advance(stageTwoUnits, 'training', e.epoch);
          opts.onEpoch?.(stats);
        },
      });
    }

    const { kernel, bias } = foldHead(two?.kernel ?? best.kernel, two?.bias ?? best.bias, mean, std, C);
    const head: StyleHead = { name: opts.name, classes, featureLayer: layer, inputSize: o.inputSize, features: F, kernel, bias, classWeight: 0 };
    const valProbs = softmaxRows(headLogits(head, two?.valFeatures ?? valFeatures, val.length), C);
    const validation = val.map((it, r) => ({ file: it.file, label: it.label, probabilities: Array.from(valProbs.subarray(r * C, (r + 1) * C)) }));
    const valAccuracy = validation.filter((v) => argmax(v.probabilities) === v.label).length / val.length;
    // Up to 4 validation images, spread over the (class-ordered) list so that every class is seen.
    const probes = Array.from({ length: Math.min(4, val.length) }, (_, k) => val[Math.floor((k * val.length) / Math.min(4, val.length))].image);
    // A fine-tuned style's class term is weighed against its own blocks' layers, on its own trunk (whose ONNX models
    // are emitted into the cache folder its dreams will read).
    const trunkDigest = plan ? graphDigest(trunk.graph) : '';
    const dreamDefaults = plan ? plan.blocks : trunk.manifest.defaultLayers;
    if (two) {
      const cacheDir = ownTrunkCacheDir(opts.cacheDir ?? DEFAULT_CACHE_DIR, trunk.manifest.name, trunkDigest, two.weights);
      const own = await createGradientNetwork(backend, { ...trunk, graph: withBlockWeights(trunk.graph, two.weights), cacheDir });
      try {
        head.classWeight = await calibrateClassWeight(own, head, probes, dreamDefaults);
      } finally {
        await own.dispose();
      }
    } else {
      head.classWeight = await calibrateClassWeight(net, head, probes, dreamDefaults);
    }

    const seconds = (Date.now() - started) / 1000;
    const stages: FineTuneStage[] = [];
    let blocksFile: { data: Buffer; weightsManifest: ReturnType<typeof encodeWeights>['weightsManifest'] } | undefined;
    if (plan && two) {
      const stageOne = history.filter((h) => h.stage === 1);
      stages.push(
        { stage: 1, trains: 'head', optimizer: 'adam', learningRate: o.learningRate, epochs: o.epochs, bestEpoch: best.epoch, valAccuracy: round(stageOne[best.epoch - 1]?.valAccuracy ?? best.valAccuracy) },
        { stage: 2, trains: `${plan.blocks.join(' + ')} + head`, optimizer: 'adam', learningRate: o.fineTuneLearningRate, epochs: o.fineTuneEpochs, bestEpoch: two.bestEpoch, valAccuracy: round(two.valAccuracy) },
      );
      blocksFile = encodeWeights(BLOCK_WEIGHTS_FILE, blockWeightList(plan, two.weights));
    }
    const file: StyleFile = {
      kind: STYLE_KIND,
      name: opts.name,
      title: `Style ${opts.name}: ${classes.join(', ')}`,
      description: plan
        ? `A ${C}-class head (global average pooling of ${layer}, then dense) and ${trunk.manifest.name}'s ${plan.blocks.join(', ')} fine-tuned with npm run train --fine-tune ${opts.fineTune}.`
        : `A ${C}-class head (global average pooling of ${layer}, then dense) trained with npm run train on the frozen ${trunk.manifest.name} trunk.`,
      trunk: trunk.manifest.name,
      classes,
      input: trunk.manifest.input,
      valAccuracy,
      dreamLayers: trunk.manifest.dreamLayers,
      defaultLayers: dreamDefaults,
      date: new Date().toISOString(),
      head: { featureLayer: layer, pooling: 'global-average', inputSize: o.inputSize, features: F, weightsManifest: [] },
      objective: {
        classWeight: head.classWeight,
        rule:
          `loss = Σ mean(layer activations) + classWeight · logit_target(GAP(${layer})); classWeight gives the class term's image gradient ` +
          `${CLASS_GRADIENT_RATIO}× the norm of the layers' (${dreamDefaults.join('+')}), averaged over ${Math.min(4, val.length)} validation images and all classes`,
      },
      ...(plan && blocksFile
        ? {
            fineTune: {
              blocks: plan.blocks,
              from: plan.from,
              trunkDigest,
              weightsManifest: blocksFile.weightsManifest,
              stages,
            },
          }
        : {}),
      training: {
        data: path.resolve(opts.data),
        seed: o.seed,
        epochs: o.epochs,
        bestEpoch: two?.bestEpoch ?? best.epoch,
        valSplit: o.valSplit,
        images: { train: train.length, val: val.length, perClass },
        skipped: skipped.length,
        views: o.views,
        augmentation: 'random crop of 60–100% per side (aspect ±15%), horizontal flip p=0.5, brightness ±0.15',
        optimizer: `adam, learning rate ${o.learningRate}, batch ${o.batchSize}, L2 ${TRAIN_DEFAULTS.l2}, label smoothing ${eps}, features standardised (folded into the kernel)`,
        backend: backend.name,
        seconds: Math.round(seconds * 10) / 10,
        history: history.map((h) => ({ ...(h.stage ? { stage: h.stage } : {}), epoch: h.epoch, loss: round(h.loss), accuracy: round(h.accuracy), valLoss: round(h.valLoss), valAccuracy: round(h.valAccuracy) })),
        ...(plan ? { batchNorm: 'frozen: folded into the convolutions as a fixed affine (moving statistics, gamma and beta)' } : {}),
      },
    };
    const manifest = await saveStyle(outDir, file, head, blocksFile?.data);
    return {
      manifest,
      dir: outDir,
      head,
      classes,
      valAccuracy,
      bestEpoch: two?.bestEpoch ?? best.epoch,
      history,
      images: { train: train.length, val: val.length, perClass },
      skipped,
      validation,
      classWeight: head.classWeight,
      seed: o.seed,
      backend: backend.name,
      seconds,
      ...(plan ? { fineTune: { blocks: plan.blocks, stages, bytes: await styleBytes(outDir) } } : {}),
    };
  } finally {
    tf.dispose(owned);
    optimizer.dispose();
    block?.dispose();
    await net.dispose();
  }
}

/** Rows of several batches, one after the other. */
function concatRows(parts: Float32Array[]): Float32Array {
  const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return all;
}

/** The fine-tuned convolutions' weights in graph order, as saved in blocks.bin. */
function blockWeightList(plan: BlockPlan, weights: BlockWeights) {
  return plan.convs.flatMap((c) => [
    { name: kernelName(c.name), shape: c.kernel.shape, data: weights.get(kernelName(c.name))! },
    { name: biasName(c.name), shape: c.bias.shape, data: weights.get(biasName(c.name))! },
  ]);
}

/** Bytes of the files in a saved style's folder. */
async function styleBytes(dir: string): Promise<number> {
  const names = await readdir(dir);
  const sizes = await Promise.all(names.map(async (n) => (await stat(path.join(dir, n))).size));
  return sizes.reduce((a, b) => a + b, 0);
}

const round = (x: number) => Math.round(x * 1e4) / 1e4;
const argmax = (xs: number[]) => xs.indexOf(Math.max(...xs));

/**
 * The head on raw pooled features: the standardisation folded into the kernel and bias, then the columns
 * centred (subtracting one vector from every column leaves the softmax unchanged), so that a class's logit
 * gradient W[:, k] says what sets the class apart from the others.
 */
export function foldHead(kernel: Float32Array, bias: Float32Array, mean: Float32Array, std: Float32Array, classes: number): { kernel: Float32Array; bias: Float32Array } {
  const F = mean.length;
  const k = new Float32Array(F * classes);
  const b = Float64Array.from(bias);
  for (let i = 0; i < F; i++) {
    let rowMean = 0;
    for (let c = 0; c < classes; c++) {
      const w = kernel[i * classes + c] / std[i];
      k[i * classes + c] = w;
      b[c] -= mean[i] * w;
      rowMean += w / classes;
    }
    for (let c = 0; c < classes; c++) k[i * classes + c] -= rowMean;
  }
  const biasMean = b.reduce((s, x) => s + x, 0) / classes;
  return { kernel: k, bias: Float32Array.from(b, (x) => x - biasMean) };
}

/**
 * classWeight such that ‖∇image (classWeight · logit_k)‖ = CLASS_GRADIENT_RATIO · ‖∇image Σ mean(layers)‖,
 * averaged over the given images and all classes k.
 */
export async function calibrateClassWeight(net: GradientNetwork, head: StyleHead, images: DatasetImage['image'][], layers: string[]): Promise<number> {
  let layerNorm = 0;
  let classNorm = 0;
  const C = head.classes.length;
  const norm = (xs: Float32Array) => Math.sqrt(xs.reduce((s, x) => s + x * x, 0));
  for (const img of images) {
    const x = headInput(img, head.inputSize);
    const image = { data: (await x.data()) as Float32Array, width: head.inputSize, height: head.inputSize };
    x.dispose();
    layerNorm += norm((await net.lossAndGradient(image, layers.map((l) => meanTerm(l, net.channels(l))))).gradient);
    for (let k = 0; k < C; k++) {
      const column = new Float32Array(head.features);
      for (let i = 0; i < head.features; i++) column[i] = head.kernel[i * C + k];
      classNorm += norm((await net.lossAndGradient(image, [{ layer: head.featureLayer, channelWeights: column }])).gradient) / C;
    }
  }
  const w = classNorm > 0 ? (CLASS_GRADIENT_RATIO * layerNorm) / classNorm : 0;
  return Number(w.toPrecision(4));
}

/** Writes manifest.json and head.bin to a fresh folder, then swaps it in place of any older version. */
async function saveStyle(outDir: string, file: StyleFile, head: StyleHead, blocks?: Buffer): Promise<ModelManifest> {
  const { weightsManifest, data } = encodeHeadWeights(head.kernel, head.bias, head.features);
  const tmp = `${outDir}.tmp-${process.pid}`;
  const old = `${outDir}.old-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await writeFile(path.join(tmp, HEAD_WEIGHTS_FILE), data);
  if (blocks) await writeFile(path.join(tmp, BLOCK_WEIGHTS_FILE), blocks);
  await writeFile(path.join(tmp, 'manifest.json'), `${prettyJson({ ...file, head: { ...file.head, weightsManifest } })}\n`);
  const had = existsSync(outDir);
  if (had) await rename(outDir, old);
  await rename(tmp, outDir);
  if (had) await rm(old, { recursive: true, force: true });
  return loadManifest(outDir);
}

/** JSON with two-space indents, but arrays of plain values on one line (JSON strings hold no raw newlines). */
function prettyJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/\[\n\s*([^[\]{}]*?)\n\s*\]/g, (_, inner: string) => `[${inner.split(/,\n\s*/).join(', ')}]`);
}
