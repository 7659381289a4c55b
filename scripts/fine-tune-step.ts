// Times one second-stage training step of `--fine-tune` (mixed5 + head, a batch of 16 cached mixed4 activations of
// 160 px images: 8×8×768) with tfjs autodiff on the wasm and cpu backends: forward, tf.variableGrads, Adam update.
// Usage: node --import tsx scripts/fine-tune-step.ts [steps=5] [backends=wasm,cpu]
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.ts';
import { planBlocks, readBlockWeights, type BlockPlan } from '../src/engine/model/blocks.ts';
import { loadCompiledModel } from '../src/engine/model/load.ts';
import { BlockModel, registerGradients } from '../src/engine/style/block-model.ts';

const steps = Number(process.argv[2] ?? 5);
const backends = (process.argv[3] ?? 'wasm,cpu').split(',');
const { graph, manifest } = await loadCompiledModel('inception_v3');
const plan = planBlocks(graph, manifest.dreamLayers, 'mixed5') as BlockPlan;
const weights = readBlockWeights(graph, plan.convs);
await registerGradients();
const input = Float32Array.from({ length: 16 * 8 * 8 * 768 }, (_, i) => Math.max(0, Math.sin(i * 0.37)));
for (const name of backends) {
  await initBackend(name === 'wasm' ? 'wasm' : 'cpu');
  const model = new BlockModel(plan, weights, name);
  const head = tf.variable(tf.zeros([768, 2]), true, `head-${name}`);
  const optimizer = tf.train.adam(1e-4);
  const times: number[] = [];
  for (let s = 0; s <= steps; s++) {
    const t0 = performance.now();
    const x = tf.tensor4d(input, [16, 8, 8, 768]);
    const y = tf.oneHot(tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 2), 'int32'), 2);
    const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, tf.matMul(model.pooled(x), head)) as tf.Scalar, [head, ...model.variables.values()]);
    optimizer.applyGradients(Object.entries(grads).map(([n, t]) => ({ name: n, tensor: t })));
    await value.data();
    tf.dispose([x, y, value, ...Object.values(grads)]);
    if (s > 0) times.push(performance.now() - t0); // the first step warms up
  }
  times.sort((a, b) => a - b);
  console.log(`${name}: median ${times[Math.floor(times.length / 2)].toFixed(0)} ms per step of 16 images (${steps} steps after a warm-up)`);
  model.dispose();
  head.dispose();
  optimizer.dispose();
}
