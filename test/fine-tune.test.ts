// Fine-tuning a style's top block (`npm run train -- --fine-tune mixed5`): tiny images and one epoch per stage, so
// the checks are about what the run changes and saves, not how well it learns (the README's recipe measures that).
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDreamer, loadManifest, resolveClass, resolveParams, type Dreamer } from '../src/engine/index.ts';
import { initBackend } from '../src/engine/backend.ts';
import { planBlocks, readBlockWeights, type BlockPlan, type ConvNode } from '../src/engine/model/blocks.ts';
import { weightView, type GraphNode } from '../src/engine/model/graph.ts';
import { loadCompiledModel, type LoadedModel } from '../src/engine/model/load.ts';
import { createOnnxNetwork } from '../src/engine/onnx/index.ts';
import { createTrainStep, TRAIN_STEP_INPUTS, trainStepHandles } from '../src/engine/onnx/train-step.ts';
import { BlockModel, registerGradients } from '../src/engine/style/block-model.ts';
import { onnxStageTwo, stageTwoLogits, stageTwoLoss, tfjsStageTwo } from '../src/engine/style/fine-tune.ts';
import { listStyles, readTrainingImage, StyleDataError, trainStyle, type TrainResult } from '../src/engine/style/index.ts';
import { messagesFor } from '../src/i18n/index.ts';
import { TfjsGradientNetwork } from '../src/engine/tfjs-network.ts';
import { toFloatImage } from '../src/engine/float-image.ts';
import { makePatternDataset } from './helpers/dataset.ts';
import { dreamInProcess } from './helpers/dream-cli.ts';
import { relativeError } from './helpers/model.ts';

const SIZE = 96;

describe('fine-tuning a style (--fine-tune)', () => {
  let root: string;
  let data: string;
  let models: string;
  let trained: TrainResult;
  /** The saved style loaded back (compiled trunk with its fine-tuned block): loaded once, read by the tests below. */
  let reloaded: Promise<LoadedModel> | undefined;
  const ownModel = () => (reloaded ??= loadCompiledModel(trained.dir));
  /** The saved style as a dream model, on the backend it trained on (auto: onnx, as beforeAll checks): classifies and dreams below. */
  let asModel: Promise<Dreamer> | undefined;
  const styleDreamer = () => (asModel ??= createDreamer({ model: trained.dir }));
  const quick = () => ({ data, modelsDir: models, seed: 5, epochs: 2, views: 1, inputSize: SIZE, fineTune: 'mixed5', fineTuneEpochs: 1, fineTuneLearningRate: 1e-3 });

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'dream-finetune-'));
    data = path.join(root, 'patterns');
    models = path.join(root, 'models');
    await makePatternDataset(data, { perClass: 8, seed: 21 });
    const stages: string[] = [];
    trained = await trainStyle({ ...quick(), name: 'tuned', onEpoch: (e) => stages.push(`${e.stage}:${e.epoch}/${e.epochs}`) });
    expect(stages).toEqual(['1:1/2', '1:2/2', '2:1/1']);
    // Stage 2 ran on ONNX Runtime (the weight-gradient graph); the tfjs engine is checked against it below.
    expect(trained.backend).toBe('onnx');
  });
  afterAll(async () => {
    await (await asModel)?.dispose();
    await rm(root, { recursive: true, force: true });
  });

  it('changes the chosen block only, and saves just that block beside the head', async () => {
    const stock = await loadCompiledModel('inception_v3');
    const own = await ownModel();
    expect(own.manifest.style?.fineTune).toMatchObject({ blocks: ['mixed5'], from: 'mixed4', stages: [{ stage: 1, trains: 'head' }, { stage: 2, trains: 'mixed5 + head', learningRate: 1e-3 }] });
    expect(own.manifest.defaultLayers).toEqual(['mixed5']);
    const plan = planBlocks(stock.graph, stock.manifest.dreamLayers, 'mixed5') as BlockPlan;
    const inBlock = new Set(plan.nodes.map((n) => n.name));
    const changed: string[] = [];
    for (const node of stock.graph.nodes) {
      if (node.op !== 'conv') continue;
      const same = equal(weightView(stock.graph, node.kernel), weightView(own.graph, node.kernel)) && equal(weightView(stock.graph, node.bias), weightView(own.graph, node.bias));
      if (!same) changed.push(node.name);
    }
    expect(changed.length).toBeGreaterThan(0);
    expect(changed.every((n) => inBlock.has(n))).toBe(true);
    expect(changed).toEqual(plan.convs.map((c) => c.name).filter((n) => changed.includes(n)));
    // Everything else (the graph and the frozen weights) is the stock trunk's.
    expect(own.graph.nodes).toEqual(stock.graph.nodes);
    const manifest = JSON.parse(await readFile(path.join(trained.dir, 'manifest.json'), 'utf8'));
    const saved = manifest.fineTune.weightsManifest[0].weights.map((w: { name: string }) => w.name.replace(/\/(kernel|bias)$/, ''));
    expect(new Set(saved)).toEqual(new Set(plan.convs.map((c) => c.name)));
    expect(trained.fineTune?.bytes).toBeGreaterThan(4 * 1_600_000);
    expect(trained.fineTune?.bytes).toBeLessThan(4 * 1_800_000);
    // /styles says so, in both languages.
    const listed = (await listStyles(models)).find((s) => s.name === 'tuned');
    expect(listed?.fineTuned).toEqual(['mixed5']);
    const entry = { classes: listed!.classes, accuracy: listed!.valAccuracy, fineTuned: listed!.fineTuned };
    expect(messagesFor('en-US').styles.entry(entry)).toMatch(/\nfine-tuned: mixed5 /);
    expect(messagesFor('ja').styles.entry(entry)).toMatch(/\n微調整済み：mixed5/);
  });

  it('reloads to the same activations on onnx and wasm, and the same predictions as training saved', async () => {
    const own = await ownModel();
    const stock = await loadCompiledModel('inception_v3');
    const image = toFloatImage(await readTrainingImage(path.join(data, trained.validation[0].file), SIZE));
    const onnxOf = (m: typeof own) => createOnnxNetwork(m.graph, { inputRange: [0, 1], threads: 1, cacheDir: m.cacheDir, cacheKey: path.basename(m.cacheDir) });
    const onnx = await onnxOf(own);
    const stockOnnx = await onnxOf(stock);
    await initBackend('wasm');
    const wasm = new TfjsGradientNetwork(own.graph, [0, 1]);
    try {
      const a = await onnx.activations(image, 'mixed5');
      const b = await wasm.activations(image, 'mixed5');
      expect(relativeError(a.data, b.data)).toBeLessThan(1e-4);
      // And they are the fine-tuned block's: the stock trunk's mixed5 on the same backend (its ONNX model, from its own
      // cache folder) is far from them. (The stock trunk on wasm as well would only repeat the check above, at the
      // cost of loading its weights into a second tfjs network.)
      expect(relativeError((await stockOnnx.activations(image, 'mixed5')).data, a.data)).toBeGreaterThan(1e-3);
    } finally {
      await Promise.all([onnx.dispose(), stockOnnx.dispose(), wasm.dispose()]);
    }
    const dreamer = await styleDreamer();
    for (const v of trained.validation) {
      const { probabilities } = await dreamer.classify(await readTrainingImage(path.join(data, v.file), SIZE));
      for (let k = 0; k < 2; k++) expect(probabilities[k]).toBeCloseTo(v.probabilities[k], 3);
    }
  });

  it('dreams its own block by default, on its own trunk, as a model or as /dream style: does', async () => {
    const own = await loadManifest(trained.dir);
    const image = { data: new Uint8Array(96 * 96 * 3).map((_, i) => (i * 37) % 251), width: 96, height: 96 };
    const fixed = { octaves: 1, steps: 2, seed: 3 };
    expect(resolveParams(own, fixed).layers).toEqual(['mixed5']);
    const stock = await createDreamer({ stylesDir: models });
    const asModel = await styleDreamer();
    try {
      // What the bot does with style:tuned and no target: the style alone, its class left out.
      expect(await resolveClass(stock.manifest, 'tuned', undefined, { stylesDir: models })).toEqual({ style: 'tuned' });
      const viaStyle = await stock.dream(image, resolveParams(own, { ...fixed, style: 'tuned' }));
      const viaModel = await asModel.dream(image, resolveParams(own, fixed));
      const plain = await stock.dream(image, resolveParams(stock.manifest, { ...fixed, layers: ['mixed5'] }));
      expect(Buffer.from(viaStyle.data).equals(Buffer.from(viaModel.data))).toBe(true);
      expect(meanAbsDiff(viaModel.data, plain.data)).toBeGreaterThan(0.5);
      // A target adds the class logit: another picture.
      const grown = await asModel.dream(image, resolveParams(own, { ...fixed, ...(await resolveClass(own, undefined, 'dots', {})) }));
      expect(meanAbsDiff(grown.data, viaModel.data)).toBeGreaterThan(0.1);
    } finally {
      await stock.dispose();
    }
  });

  it('gives the same weights when trained again with the same seed', async () => {
    const again = await trainStyle({ ...quick(), name: 'tuned-again' });
    for (const file of ['blocks.bin', 'head.bin']) {
      expect((await readFile(path.join(again.dir, file))).equals(await readFile(path.join(trained.dir, file)))).toBe(true);
    }
  });

  it('trains the blocks with the gradients tfjs itself computes (filter gradients on cpu)', async () => {
    await registerGradients();
    const { plan, weights, convs } = littleBlock();
    const x = wave(2 * 11 * 11 * 4, 3);
    const grads = async (backend: string, f: (v: Map<string, tf.Variable>) => tf.Scalar, vars: () => Map<string, tf.Variable>) => {
      await tf.setBackend(backend);
      const v = vars();
      const g = tf.variableGrads(() => f(v));
      const out = new Map([...v].map(([name, variable]) => [name, g.grads[variable.name].dataSync() as Float32Array]));
      tf.dispose([g.value, ...Object.values(g.grads)]);
      v.forEach((variable) => variable.dispose());
      return out;
    };
    const probe = (y: tf.Tensor4D) => tf.sum(tf.mul(y, tf.tensor4d(wave(y.size, 4), y.shape))) as tf.Scalar;
    let model: BlockModel | undefined;
    const mine = await grads('wasm', () => probe(model!.forward(tf.tensor4d(x, [2, 11, 11, 4]))), () => (model = new BlockModel(plan, weights, 'test')).variables);
    // The reference: plain tf ops and tfjs's own gradients on cpu (which has Conv2DBackpropFilter). The pool's
    // border windows count their inputs as tf.avgPool does: no padding in the divisor (AvgPoolGrad would be wrong).
    const reference = await grads(
      'cpu',
      (v) => {
        let y = tf.tensor4d(x, [2, 11, 11, 4]);
        for (const c of convs) {
          y = tf.add(tf.conv2d(y, v.get(`${c.name}/kernel`) as tf.Tensor4D, c.strides, c.padding), v.get(`${c.name}/bias`)!);
          if (c.relu) y = tf.relu(y);
        }
        const ones = tf.onesLike(y);
        return probe(tf.div(tf.depthwiseConv2d(y, tf.ones([3, 3, y.shape[3], 1]), 1, 'same'), tf.depthwiseConv2d(ones, tf.ones([3, 3, y.shape[3], 1]), 1, 'same')) as tf.Tensor4D);
      },
      () => new Map([...weights].map(([name, w]) => [name, tf.variable(tf.tensor(w, name.endsWith('kernel') ? convs.find((c) => name.startsWith(`${c.name}/`))!.kernel.shape : undefined), true, `ref-${name}`)])),
    );
    await tf.setBackend('wasm');
    for (const [name, g] of reference) expect(relativeError(mine.get(name)!, g), name).toBeLessThan(1e-5);
  });

  it('trains on ONNX Runtime with the gradients tfjs autodiff gives for stage 2 (mixed5, and a little block with a strided convolution)', async () => {
    await registerGradients();
    await initBackend('wasm');
    await tf.setBackend('wasm');
    const stock = await loadCompiledModel('inception_v3');
    const mixed5 = planBlocks(stock.graph, stock.manifest.dreamLayers, 'mixed5') as BlockPlan;
    // A reduction block's max pool has no gradient in the step's graph: from mixed3 down the trainer keeps tfjs.
    expect(trainStepHandles(mixed5)).toBe(true);
    expect(trainStepHandles(planBlocks(stock.graph, stock.manifest.dreamLayers, 'mixed4') as BlockPlan)).toBe(true);
    expect(trainStepHandles(planBlocks(stock.graph, stock.manifest.dreamLayers, 'mixed3') as BlockPlan)).toBe(false);
    const little = littleBlock();
    const cases = [
      { plan: mixed5, weights: readBlockWeights(stock.graph, mixed5.convs), shape: [4, 4, 768] as [number, number, number], features: 768 },
      // 12×12: the strided 3×3's kernel gradient is cropped (the textbook Conv gives 4×4).
      { plan: little.plan, weights: little.weights, shape: [12, 12, 4] as [number, number, number], features: 4 },
    ];
    const [n, C, l2] = [3, 2, 1e-3];
    for (const { plan, weights, shape, features: F } of cases) {
      const x = Float32Array.from(wave(n * shape[0] * shape[1] * shape[2], 3), (v) => Math.max(0, v));
      const labels = Float32Array.from({ length: n * C }, (_, i) => (i % C === Math.floor(i / C) % C ? 0.95 : 0.05));
      const head = { kernel: wave(F * C, 5), bias: Float32Array.of(0.1, -0.2), mean: wave(F, 6).map((v) => v * 0.2), std: wave(F, 7).map((v) => 1 + v) };
      // The reference: the trainer's tfjs stage-2 loss on the block model, its gradients by tf.variableGrads.
      const model = new BlockModel(plan, weights, `onnx-ref-${F}`);
      const vars = { kernel: tf.variable(tf.tensor2d(head.kernel, [F, C])), bias: tf.variable(tf.tensor1d(head.bias)), mean: tf.tensor1d(head.mean), std: tf.tensor1d(head.std) };
      const xt = tf.tensor4d(x, [n, ...shape]);
      const named = new Map<string, tf.Variable>([[TRAIN_STEP_INPUTS.kernel, vars.kernel], [TRAIN_STEP_INPUTS.bias, vars.bias], ...model.variables]);
      const { value, grads } = tf.variableGrads(() => stageTwoLoss(stageTwoLogits(vars, model.pooled(xt)), tf.tensor2d(labels, [n, C]), vars.kernel, l2), [...named.values()]);
      const pooled = tf.tidy(() => model.pooled(xt).dataSync() as Float32Array);
      for (const weightGradient of ['matmul', 'conv'] as const) {
        const step = await createTrainStep(plan, { inputShape: shape, classes: C, l2, weightGradient }, 1);
        try {
          const out = await step.run({ x, labels, ...head, weights });
          expect(Math.abs(out.loss - value.dataSync()[0])).toBeLessThan(1e-5);
          expect([...out.grads.keys()].sort()).toEqual([...named.keys()].sort());
          for (const [name, v] of named) expect(relativeError(out.grads.get(name)!, grads[v.name]), `${weightGradient} ${name}`).toBeLessThan(1e-4);
          expect(relativeError(await step.features(x, weights), pooled)).toBeLessThan(1e-5);
        } finally {
          await step.release();
        }
      }
      model.dispose();
      tf.dispose([vars.kernel, vars.bias, vars.mean, vars.std, xt, value, ...Object.values(grads)]);
    }

    // The trainer's two engines take the same two steps (off onnx, stage 2 runs on tfjs).
    const { plan, weights } = little;
    const shape: [number, number, number] = [12, 12, 4];
    const x = Float32Array.from(wave(n * 12 * 12 * 4, 8), (v) => Math.max(0, v));
    const labels = Float32Array.of(0.95, 0.05, 0.05, 0.95, 0.95, 0.05);
    const head = { kernel: wave(4 * C, 9), bias: Float32Array.of(0, 0), mean: new Float32Array(4), std: new Float32Array(4).fill(1) };
    const options = { inputShape: shape, classes: C, learningRate: 1e-3, l2 };
    const block = new BlockModel(plan, weights, 'engine-tfjs');
    const engines = [tfjsStageTwo(block, head, options), await onnxStageTwo(plan, weights, head, { ...options, threads: 1 })];
    try {
      for (let step = 0; step < 2; step++) {
        const [a, b] = await Promise.all(engines.map((e) => e.step(x, labels)));
        expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-5);
        expect(relativeError(a.logits, b.logits)).toBeLessThan(1e-5);
      }
      const [ta, tb] = engines.map((e) => e.weights());
      for (const [name, w] of weights) expect(relativeError(tb.get(name)!.map((v, i) => v - w[i]), ta.get(name)!.map((v, i) => v - w[i])), name).toBeLessThan(1e-3);
      expect(relativeError(engines[1].head().kernel, engines[0].head().kernel)).toBeLessThan(1e-5);
      expect(relativeError(await engines[1].pooled(x), await engines[0].pooled(x))).toBeLessThan(1e-5);
    } finally {
      await Promise.all(engines.map((e) => e.dispose()));
      block.dispose();
    }
  });

  it('refuses, in one line: an unknown block, one above the cut, too few images, a style fine-tuned on another trunk', async () => {
    const refusal = (p: Promise<unknown>) => p.then(() => '', (err: Error) => (err instanceof StyleDataError || err.name === 'ModelError' ? err.message : `unexpected ${err.stack}`));
    const unknown = await refusal(trainStyle({ ...quick(), name: 'x', fineTune: 'mixed9x' }));
    expect(unknown).toMatch(/^Unknown block "mixed9x" for --fine-tune: valid blocks are mixed0, mixed1, mixed2, mixed3, mixed4, mixed5 /);
    expect(await refusal(trainStyle({ ...quick(), name: 'x', fineTune: 'mixed7' }))).toMatch(/^Block mixed7 is above inception_v3's cut \(mixed5\).*mixed0, .*mixed5\.$/);
    const few = path.join(root, 'few');
    await makePatternDataset(few, { perClass: 5, seed: 22 });
    expect(await refusal(trainStyle({ ...quick(), data: few, name: 'x' }))).toMatch(/^Too few images for a second stage: class "dots" has 5, fine-tuning needs at least 8 per class/);

    const other = path.join(models, 'other');
    await cp(trained.dir, other, { recursive: true });
    const manifest = JSON.parse(await readFile(path.join(other, 'manifest.json'), 'utf8'));
    await writeFile(path.join(other, 'manifest.json'), JSON.stringify({ ...manifest, name: 'other', fineTune: { ...manifest.fineTune, trunkDigest: '0123456789abcdef' } }));
    expect(await refusal(loadCompiledModel(other))).toMatch(/^Style other was fine-tuned on another inception_v3 \(weights 0123456789abcdef, installed [0-9a-f]{16}\): train it again\.$/);
    // The command line says it in one line and fails (the dream command's code and output, without a process).
    const cli = await dreamInProcess(['--info', '--model', other]);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^dream: Style other was fine-tuned on another inception_v3/)]);
  });
});

const wave = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.5);

/** A little block shaped like Inception's: 1×1, 1×3 and 3×1 'same' convolutions, a strided one, a 'same' average pool. */
function littleBlock() {
  const conv = (name: string, input: string, kh: number, kw: number, ci: number, co: number, s: number, padding: 'same' | 'valid', relu = true): ConvNode => ({
    op: 'conv',
    name,
    input,
    kernel: { offset: 0, shape: [kh, kw, ci, co] },
    bias: { offset: 0, shape: [co] },
    strides: [s, s],
    padding,
    relu,
  });
  const convs = [conv('a', 'x', 1, 3, 4, 5, 1, 'same'), conv('b', 'a', 3, 3, 5, 6, 2, 'valid'), conv('c', 'b', 3, 1, 6, 3, 1, 'same'), conv('d', 'c', 1, 1, 3, 4, 1, 'same', false)];
  const nodes: GraphNode[] = [...convs, { op: 'avgPool', name: 'p', input: 'd', size: [3, 3], strides: [1, 1], padding: 'same' }];
  const plan: BlockPlan = { blocks: ['p'], from: 'x', fromNode: 'x', nodes: [...nodes], convs: [...convs], outputNode: 'p' };
  const weights = new Map<string, Float32Array>();
  for (const c of convs) {
    weights.set(`${c.name}/kernel`, wave(c.kernel.shape.reduce((x, y) => x * y, 1), 1));
    weights.set(`${c.name}/bias`, wave(c.kernel.shape[3], 2));
  }
  return { plan, weights, convs };
}

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

function equal(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
