// Times one second-stage training step of `--fine-tune` (mixed5 + head, a batch of 16 cached mixed4 activations of
// 160 px images: 8×8×768): forward, gradients of stage 2's loss (fine-tune.ts) for the block's convolutions and the
// head, and an Adam update. Engines: tfjs autodiff (tf.variableGrads) on wasm or cpu, as the trainer runs it; or one
// weight-gradient ONNX graph (src/engine/onnx/train-step.ts) on ONNX Runtime with Adam in JavaScript ('onnx'; 'onnx-conv'
// builds the kernel gradients as the textbook Conv with batch and channels swapped instead of MatMuls).
// The trainer runs 'onnx' when its backend is onnx, tfjs elsewhere. Each ONNX engine's gradients are first checked
// against the tfjs-wasm step on a batch of 4 (relative L2 error, the worst weight).
// Usage: node --import tsx scripts/fine-tune-step.ts [steps=5] [engines=wasm,cpu] [--threads 2] [--batch 16]
// e.g.   flock /tmp/cpu-heavy.lock node --import tsx scripts/fine-tune-step.ts 5 wasm,onnx,onnx-conv
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.ts';
import { planBlocks, readBlockWeights, type BlockPlan, type BlockWeights } from '../src/engine/model/blocks.ts';
import { loadCompiledModel } from '../src/engine/model/load.ts';
import { createTrainStep, TRAIN_STEP_INPUTS, type TrainStepFeeds } from '../src/engine/onnx/train-step.ts';
import { Adam } from '../src/engine/style/adam.ts';
import { BlockModel, registerGradients } from '../src/engine/style/block-model.ts';
import { stageTwoLogits, stageTwoLoss } from '../src/engine/style/fine-tune.ts';
// The suite's ||a − b|| / ||b||, so the script and the tests measure agreement alike.
import { relativeError } from '../test/helpers/model.ts';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  args.splice(i, 2);
  return v;
};
const threads = option('--threads', 2);
const batch = option('--batch', 16);
const steps = Number(args[0] ?? 5);
const engines = (args[1] ?? 'wasm,cpu').split(',');
const [H, W, C0, CLASSES, L2, SMOOTH, LR] = [8, 8, 768, 2, 1e-3, 0.1, 1e-4];

const { graph, manifest } = await loadCompiledModel('inception_v3');
const plan = planBlocks(graph, manifest.dreamLayers, 'mixed5') as BlockPlan;
/** Fresh copies of the stock block weights. */
const stock = () => readBlockWeights(graph, plan.convs);
await registerGradients();

/** A batch of n: ReLU-like block inputs, alternating smoothed labels, and a head that reaches the block. */
function batchOf(n: number): Omit<TrainStepFeeds, 'weights'> {
  const x = Float32Array.from({ length: n * H * W * C0 }, (_, i) => Math.max(0, Math.sin(i * 0.37)));
  const labels = new Float32Array(n * CLASSES).fill(SMOOTH / CLASSES);
  for (let i = 0; i < n; i++) labels[i * CLASSES + (i % CLASSES)] += 1 - SMOOTH;
  const kernel = Float32Array.from({ length: C0 * CLASSES }, (_, i) => Math.sin(i * 1.3) * 0.05);
  const bias = Float32Array.of(0.1, -0.1);
  const mean = Float32Array.from({ length: C0 }, (_, i) => 0.3 + 0.2 * Math.sin(i));
  const std = Float32Array.from({ length: C0 }, (_, i) => 0.5 + 0.25 * Math.cos(i));
  return { x, labels, kernel, bias, mean, std };
}

/** The trainer's step on tfjs: the block model, head variables and Adam, as trainStageTwo builds them. */
function tfjsStep(name: string) {
  const b = batchOf(batch);
  const model = new BlockModel(plan, stock(), name);
  const head = { kernel: tf.variable(tf.tensor2d(b.kernel, [C0, CLASSES]), true, `k-${name}`), bias: tf.variable(tf.tensor1d(b.bias), true, `b-${name}`), mean: tf.tensor1d(b.mean), std: tf.tensor1d(b.std) };
  const optimizer = tf.train.adam(LR);
  const trainable = [head.kernel, head.bias, ...model.variables.values()];
  return {
    async step() {
      const x = tf.tensor4d(b.x, [batch, H, W, C0]);
      const y = tf.tensor2d(b.labels, [batch, CLASSES]);
      const { value, grads } = tf.variableGrads(() => stageTwoLoss(stageTwoLogits(head, model.pooled(x)), y, head.kernel, L2), trainable);
      optimizer.applyGradients(Object.entries(grads).map(([n, t]) => ({ name: n, tensor: t })));
      await value.data();
      tf.dispose([x, y, value, ...Object.values(grads)]);
    },
    dispose() {
      model.dispose();
      tf.dispose([head.kernel, head.bias, head.mean, head.std]);
      optimizer.dispose();
    },
  };
}

async function onnxStep(weightGradient: 'matmul' | 'conv') {
  const b = batchOf(batch);
  const step = await createTrainStep(plan, { inputShape: [H, W, C0], classes: CLASSES, l2: L2, weightGradient }, threads);
  const weights: BlockWeights = stock();
  const params = new Map([...weights, [TRAIN_STEP_INPUTS.kernel, b.kernel], [TRAIN_STEP_INPUTS.bias, b.bias]]);
  const adam = new Adam(LR);
  return {
    async step() {
      const out = await step.run({ ...b, weights });
      adam.apply(params, out.grads);
    },
    dispose: () => step.release(),
  };
}

/** Relative L2 error of the ONNX gradients against the trainer's tfjs-wasm ones, the worst weight, on a batch of 4. */
async function check(weightGradient: 'matmul' | 'conv'): Promise<void> {
  const n = 4;
  const b = batchOf(n);
  await initBackend('wasm');
  const model = new BlockModel(plan, stock(), `check-${weightGradient}`);
  const head = { kernel: tf.variable(tf.tensor2d(b.kernel, [C0, CLASSES])), bias: tf.variable(tf.tensor1d(b.bias)), mean: tf.tensor1d(b.mean), std: tf.tensor1d(b.std) };
  const x = tf.tensor4d(b.x, [n, H, W, C0]);
  const y = tf.tensor2d(b.labels, [n, CLASSES]);
  const named = new Map<string, tf.Variable>([[TRAIN_STEP_INPUTS.kernel, head.kernel], [TRAIN_STEP_INPUTS.bias, head.bias], ...model.variables]);
  const { value, grads } = tf.variableGrads(() => stageTwoLoss(stageTwoLogits(head, model.pooled(x)), y, head.kernel, L2), [...named.values()]);
  const step = await createTrainStep(plan, { inputShape: [H, W, C0], classes: CLASSES, l2: L2, weightGradient }, threads);
  const out = await step.run({ ...b, weights: stock() });
  let worst = { name: '', error: 0 };
  for (const [name, v] of named) {
    const ref = grads[v.name].dataSync() as Float32Array;
    const error = relativeError(out.grads.get(name)!, ref);
    if (error >= worst.error) worst = { name, error };
  }
  const lossError = Math.abs(out.loss - value.dataSync()[0]) / Math.abs(value.dataSync()[0]);
  console.log(`onnx (${weightGradient}) vs tfjs wasm, batch ${n}: ${named.size} gradients, worst relative error ${worst.error.toExponential(2)} (${worst.name}); loss ${lossError.toExponential(2)}`);
  await step.release();
  model.dispose();
  tf.dispose([head.kernel, head.bias, head.mean, head.std, x, y, value, ...Object.values(grads)]);
}

for (const engine of engines) {
  if (engine.startsWith('onnx')) await check(engine === 'onnx-conv' ? 'conv' : 'matmul');
  if (!engine.startsWith('onnx')) await initBackend(engine === 'wasm' ? 'wasm' : 'cpu');
  const runner = engine.startsWith('onnx') ? await onnxStep(engine === 'onnx-conv' ? 'conv' : 'matmul') : tfjsStep(engine);
  const times: number[] = [];
  for (let s = 0; s <= steps; s++) {
    const t0 = performance.now();
    await runner.step();
    if (s > 0) times.push(performance.now() - t0); // the first step warms up
  }
  await runner.dispose();
  const sorted = [...times].sort((a, b) => a - b);
  const detail = engine.startsWith('onnx') ? `, ${threads} intra-op thread${threads === 1 ? '' : 's'}` : '';
  console.log(`${engine}: median ${sorted[Math.floor(sorted.length / 2)].toFixed(0)} ms per step of ${batch} images (${steps} steps after a warm-up: ${times.map((t) => t.toFixed(0)).join(', ')} ms${detail})`);
}
