import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
// The union package registers tfjs' autodiff gradients, used here as the reference.
import '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/backend.ts';
import { DreamParamsError } from '../src/engine/dream.ts';
import { softmax } from '../src/engine/explain/cam.ts';
import { closeLabels, createExplainer, explainLabels, type Explainer } from '../src/engine/index.ts';
import { loadArtifacts } from '../src/engine/model/artifacts.ts';
import type { CompiledGraph } from '../src/engine/model/graph.ts';
import { loadCompiledModel } from '../src/engine/model/load.ts';
import { DreamNetwork } from '../src/engine/network.ts';
import { meanTerm } from '../src/engine/objective.ts';
import { createOnnxNetwork } from '../src/engine/onnx/index.ts';
import { seededRandom } from '../src/engine/random.ts';
import { TfjsGradientNetwork } from '../src/engine/tfjs-network.ts';
import { overlayHeatmap, sideBySide, textRenderingAvailable, turbo, type Heatmap, type RgbImage } from '../src/imaging/index.ts';
import { cliInProcess } from './helpers/dream-cli.ts';
import { halves } from './helpers/heat.ts';
import { onCpu, relativeError } from './helpers/model.ts';
import { ReferenceNet, slope, type Values } from './helpers/reference-net.ts';
import { RandomWeights } from './helpers/synthetic-graph.ts';

const run = promisify(execFile);
const SIZE = 224;

/** samples/landscape.jpg squashed to the classifier's 224×224 (so the explainer's own resize is the identity). */
async function landscape224(): Promise<RgbImage> {
  const data = await sharp('samples/landscape.jpg').resize(SIZE, SIZE, { fit: 'fill' }).removeAlpha().raw().toBuffer();
  return { data: new Uint8Array(data), width: SIZE, height: SIZE };
}

/**
 * A procedurally drawn coil (a black-and-white spiral, which Darknet calls "coil" at 60–80 %) in a 96 px wide
 * strip at the left or right of a grey 224×224 picture.
 */
function coilPicture(left: boolean): RgbImage {
  const strip = 96;
  const data = new Uint8Array(SIZE * SIZE * 3).fill(128);
  const x0 = left ? 0 : SIZE - strip;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < strip; x++) {
      const dx = x - strip / 2;
      const dy = y - strip / 2;
      const turn = (Math.atan2(dy, dx) / (2 * Math.PI)) * 12 + Math.hypot(dx, dy) / 8;
      data.fill(Math.floor(turn) % 2 ? 0 : 255, (y * SIZE + x0 + x) * 3, (y * SIZE + x0 + x) * 3 + 3);
    }
  }
  return { data, width: SIZE, height: SIZE };
}

function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('explaining Darknet tiny (Grad-CAM)', () => {
  let explainer: Explainer;
  let layers: tfl.LayersModel;
  let reference: Promise<{ logits: Float32Array; features: tf.Tensor4D }> | undefined;
  /**
   * The tfjs-layers model on tfjs' reference cpu backend, run once on the landscape: its logits, and the feature map
   * the head reads (leaky_re_lu_15), from the same forward pass.
   */
  const referenceOnLandscape = () =>
    (reference ??= (async () => {
      const image = await landscape224();
      const both = tfl.model({ inputs: layers.inputs, outputs: [layers.getLayer('leaky_re_lu_15').output as tfl.SymbolicTensor, layers.outputs[0]] });
      // A forward pass only: tfjs' wasm kernels are an implementation independent of ONNX Runtime's, and a tenth of
      // the plain-JavaScript cpu backend's time (autodiff, below, stays on cpu).
      await initBackend('wasm');
      return tf.tidy(() => {
        const [features, logits] = both.predict(tf.div(tf.tensor4d(image.data, [1, SIZE, SIZE, 3], 'float32'), 255)) as tf.Tensor[];
        return { logits: logits.dataSync() as Float32Array, features: features as tf.Tensor4D };
      });
    })());

  beforeAll(async () => {
    explainer = await createExplainer({ backend: 'auto' });
    const artifacts = await loadArtifacts(explainer.manifest);
    layers = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
  });
  afterAll(async () => {
    (await reference)?.features.dispose();
    layers?.dispose();
    await explainer?.dispose();
  });

  it("gives the tfjs-layers model's logits, in its label order", async () => {
    expect(explainer.labels).toHaveLength(1000);
    expect(explainer.labels.slice(0, 3)).toEqual(['kit fox', 'English setter', 'Siberian husky']);
    expect(new Set(explainer.labels.map((l) => l.toLowerCase())).size).toBe(1000);
    const image = await landscape224();
    const result = await explainer.explain(image);
    const expected = (await referenceOnLandscape()).logits;
    expect(result.logits).toHaveLength(1000);
    expect(argmax(result.logits)).toBe(argmax(expected));
    expect(result.top[0].index).toBe(argmax(expected));
    // float32 through different kernels (and BatchNorm folded): measured 7e-7 of the logits' spread.
    expect(maxAbsDiff(result.logits, expected)).toBeLessThan(1e-5 * (Math.max(...expected) - Math.min(...expected)));
  });

  it('is Grad-CAM: tfjs autodiff through the head, from plain ops, gives the same heatmap', async () => {
    const image = await landscape224();
    const a = (await referenceOnLandscape()).features;
    const [kernel, bias] = layers.getLayer('conv2d_16').getWeights();
    /** Real Grad-CAM of class k: d logit_k / dA by autodiff, averaged over space, weighted sum, ReLU, / max. */
    const gradCam = (k: number) =>
      onCpu(() =>
        tf.tidy(() => {
          // Logit k reads only the head's column k: the 1×1 convolution with that column alone (one output channel
          // instead of 1000, the same function of A) keeps autodiff on the cpu backend cheap.
          const column = tf.slice(kernel as tf.Tensor4D, [0, 0, 0, k], [-1, -1, -1, 1]);
          const logit = (x: tf.Tensor) => tf.squeeze(tf.mean(tf.add(tf.conv2d(x as tf.Tensor4D, column, 1, 'same'), tf.slice(bias, [k], [1])), [1, 2]));
          const grads = tf.grad(logit)(a);
          const cam = tf.relu(tf.sum(tf.mul(a, tf.mean(grads, [0, 1, 2])), 3));
          return tf.div(cam, tf.max(cam)).dataSync();
        }),
      );
    const first = await explainer.explain(image);
    const second = await explainer.explain(image, { target: first.top[1].index });
    expect([first.heatmap.width, first.heatmap.height]).toEqual([14, 14]);
    const [ref1, ref2] = [await gradCam(first.target.index), await gradCam(second.target.index)];
    // Measured 3e-6 (heat in [0, 1]).
    expect(maxAbsDiff(first.heatmap.data, ref1)).toBeLessThan(1e-4);
    expect(maxAbsDiff(second.heatmap.data, ref2)).toBeLessThan(1e-4);
    // The comparison can tell classes apart: another class's Grad-CAM is far from this one.
    expect(maxAbsDiff(first.heatmap.data, ref2)).toBeGreaterThan(0.2);
  });

  it('puts the heat where the object is, and moves it with the object', async () => {
    const left = await explainer.explain(coilPicture(true));
    const right = await explainer.explain(coilPicture(false));
    expect(left.top[0].label).toBe('coil');
    expect(right.top[0].label).toBe('coil');
    expect(Math.min(left.top[0].probability, right.top[0].probability)).toBeGreaterThan(0.4);
    const column = (h: Heatmap) => argmax(h.data) % h.width;
    expect(column(left.heatmap)).toBeLessThan(7);
    expect(column(right.heatmap)).toBeGreaterThanOrEqual(7);
    const [l1, r1] = halves(left.heatmap);
    const [l2, r2] = halves(right.heatmap);
    expect(l1).toBeGreaterThan(5 * r1);
    expect(r2).toBeGreaterThan(5 * l2);
  });

  it('gives probabilities that sum to 1, sorted, even from huge logits', async () => {
    const all = await explainer.explain(await landscape224(), { top: 1000 });
    expect(all.top).toHaveLength(1000);
    expect(all.top.reduce((s, t) => s + t.probability, 0)).toBeCloseTo(1, 5);
    for (let i = 1; i < all.top.length; i++) expect(all.top[i].probability).toBeLessThanOrEqual(all.top[i - 1].probability);
    expect(new Set(all.top.map((t) => t.index)).size).toBe(1000);
    const p = softmax([1000, 1001, -1e4]);
    expect(Array.from(p, (v) => Number.isFinite(v))).toEqual([true, true, true]);
    expect(p[0] + p[1] + p[2]).toBeCloseTo(1, 6);
    expect(p[1] / p[0]).toBeCloseTo(Math.E, 4);
  });

  it('takes targets by label, duplicate-name qualifier, WordNet id or index, and lists close matches for unknown ones', async () => {
    const image = coilPicture(true);
    expect(explainer.resolveTarget('Siberian Husky')).toBe(2);
    expect(explainer.resolveTarget('crane (bird)')).toBe(428);
    expect(explainer.resolveTarget('n03126707')).toBe(544);
    expect(explainer.resolveTarget(428)).toBe(428);
    expect(explainer.resolveTarget('976')).toBe(976);
    expect((await explainer.explain(image, { target: 'crane (machine)' })).target).toMatchObject({ index: 544, label: 'crane (machine)' });
    const reject = async (target: string | number, pattern: RegExp) => {
      const err = await explainer.explain(image, { target }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DreamParamsError);
      expect((err as Error).message).toMatch(pattern);
      expect((err as Error).message).not.toContain('\n');
      return (err as Error).message;
    };
    const message = await reject('siberian huskey', /Unknown class "siberian huskey" for darknet_tiny\. Close matches: Siberian husky/);
    expect(message.split(': ')[1].split(', ').length).toBeLessThanOrEqual(5);
    await reject('crane', /ambiguous.*"crane \(bird\)" or "crane \(machine\)"/);
    await reject('cardigan', /"Cardigan \(corgi\)" or "cardigan \(sweater\)"/);
    await reject(1000, /out of range.*0 to 999/);
    await reject('qqqqqqqqqq', /No class has a similar name/);
    expect(closeLabels(explainer.labels, 'terrier', 5).every((l) => /terrier/i.test(l))).toBe(true);
    expect(await explainLabels('darknet_tiny')).toEqual(explainer.labels);
  });
});


/** input 9×11 → conv → LeakyReLU 0.1 → 2×2/2 'same' max pool (odd sizes: TF pads after) → conv → LeakyReLU −0.2 → same pool. */
function leakyGraph(seed: number): CompiledGraph {
  const w = new RandomWeights(seed);
  return w.graph([
    { op: 'input', name: 'input' },
    w.conv('c1', 'input', 3, 3, 4),
    { op: 'leakyRelu', name: 'l1', input: 'c1', alpha: 0.1 },
    { op: 'maxPool', name: 'p1', input: 'l1', size: [2, 2], strides: [2, 2], padding: 'same' },
    w.conv('c2', 'p1', 3, 4, 5),
    // A negative slope: its gradient must be read from the input's sign, not the output's.
    { op: 'leakyRelu', name: 'l2', input: 'c2', alpha: -0.2 },
    { op: 'maxPool', name: 'p2', input: 'l2', size: [2, 2], strides: [2, 2], padding: 'same' },
  ]);
}

describe('LeakyReLU and strided same max pools in the compiled network', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('has exact input gradients on tfjs (wasm) and ONNX, against float64 finite differences', async () => {
    const graph = leakyGraph(3);
    const ref = new ReferenceNet(graph);
    const [h, w] = [9, 11];
    const layers = ['l1', 'p2'];
    const pixels = Float32Array.from({ length: h * w * 3 }, seededRandom(8));
    const base = ref.forward(pixels, h, w, layers);
    const fd: number[] = [];
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) fd.push(slope(ref, base, layers, y, x, c));
    const terms = [meanTerm('l1', 4), meanTerm('p2', 5)];
    const tfjs = new TfjsGradientNetwork(graph, [0, 1]);
    const onnx = await createOnnxNetwork(graph, { inputRange: [0, 1], threads: 1 });
    try {
      for (const net of [tfjs, onnx]) {
        const { loss, gradient } = await net.lossAndGradient({ data: pixels, width: w, height: h }, terms);
        expect(loss).toBeCloseTo(ref.loss(base, layers), 5);
        expect(relativeError(gradient, fd)).toBeLessThan(1e-5);
      }
      // Both backends' activations, HWC, at the reference's odd-sized pooled shape (5×6, then 3×3).
      const expected = base.get('p2')!;
      for (const net of [tfjs, onnx]) {
        const act = await net.activations({ data: pixels, width: w, height: h }, 'p2');
        expect([act.height, act.width, act.channels]).toEqual([expected.h, expected.w, expected.c]);
        expect(maxAbsDiff(act.data, expected.data)).toBeLessThan(1e-5);
      }
    } finally {
      await Promise.all([tfjs.dispose(), onnx.dispose()]);
    }
  });

  it('runs Darknet on ONNX as on tfjs at sizes whose pools pad (activations and dream gradients)', async () => {
    const { graph } = await loadCompiledModel('darknet_tiny');
    expect(graph.nodes.filter((n) => n.op === 'leakyRelu')).toHaveLength(15);
    const tfjs = new DreamNetwork(graph, [0, 1]);
    const onnx = await createOnnxNetwork(graph, { inputRange: [0, 1], threads: 1 });
    try {
      const [h, w] = [75, 83];
      const image = { data: Float32Array.from({ length: h * w * 3 }, seededRandom(4)), width: w, height: h };
      const x = tf.tensor4d(image.data, [1, h, w, 3]);
      const act = await onnx.activations(image, 'leaky_re_lu_15');
      const expected = tfjs.activations(x, ['leaky_re_lu_15'])[0];
      expect([1, act.height, act.width, act.channels]).toEqual(expected.shape);
      expect(relativeError(act.data, expected.dataSync())).toBeLessThan(1e-5);
      const terms = [meanTerm('leaky_re_lu_10', 256), meanTerm('leaky_re_lu_15', 128)];
      const ours = await onnx.lossAndGradient(image, terms);
      const { loss, gradient } = tfjs.lossAndGradient(x, [], terms.map((t) => ({ ...t, scale: 1 })));
      expect(ours.loss).toBeCloseTo(loss.dataSync()[0], 4);
      expect(relativeError(ours.gradient, gradient.dataSync())).toBeLessThan(1e-4);
      tf.dispose([x, expected, loss, gradient]);
    } finally {
      tfjs.dispose();
      await onnx.dispose();
    }
  });
});

// Grad-CAM on a trained style (each class's heat on its half of a half-striped, half-dotted picture) is checked in
// test/train.test.ts, on the style that file trains anyway: a training of its own here cost about a second of CPU.
describe('explaining another model', () => {
  it('refuses a model that is not a classifier, in one line', async () => {
    await expect(createExplainer({ model: 'inception_v3' })).rejects.toThrow(/inception_v3 cannot explain pictures/);
  });
});

describe('heatmap imaging', () => {
  it('paints hot cells red and cold cells blue, upsampled over the picture', async () => {
    const [cold, warm, hot] = [turbo(0.15), turbo(0.5), turbo(1)];
    expect(cold[2]).toBe(Math.max(...cold));
    expect(warm[1]).toBe(Math.max(...warm));
    expect(hot[0]).toBeGreaterThan(100);
    expect(hot[0]).toBeGreaterThan(3 * Math.max(hot[1], hot[2]));
    const grey: RgbImage = { data: new Uint8Array(40 * 20 * 3).fill(128), width: 40, height: 20 };
    const out = overlayHeatmap(grey, { data: Float32Array.of(0.15, 1), width: 2, height: 1 }, { alpha: 0.6 });
    expect([out.width, out.height]).toEqual([40, 20]);
    const px = (x: number) => Array.from(out.data.subarray((10 * 40 + x) * 3, (10 * 40 + x) * 3 + 3));
    expect(px(39)[0]).toBeGreaterThan(px(39)[2] + 50);
    expect(px(0)[2]).toBeGreaterThan(px(0)[0] + 20);
    // Bilinear: the middle is between the two.
    expect(px(20)[1]).toBeGreaterThan(Math.max(px(0)[1], px(39)[1]));
  });

  it('sets panels side by side with captions and a legend (text only when a font is installed)', async () => {
    const a: RgbImage = { data: new Uint8Array(60 * 40 * 3).fill(200), width: 60, height: 40 };
    const b: RgbImage = { data: new Uint8Array(30 * 20 * 3).fill(50), width: 30, height: 20 };
    const noCaption = await sideBySide([{ image: a, caption: [] }, { image: b, caption: [] }], { height: 80 });
    const out = await sideBySide([{ image: a, caption: ['seashore 31.2%', 'sandbar <&> 12%'] }, { image: b, caption: ['x'] }], { height: 80, legend: true });
    expect(out.data.length).toBe(out.width * out.height * 3);
    expect(out.width).toBe(noCaption.width);
    expect(out.height).toBeGreaterThan(noCaption.height);
    if (await textRenderingAvailable()) {
      expect(out.height).toBeGreaterThan(noCaption.height + 30);
      // Light text pixels under the first picture.
      let light = 0;
      for (let y = noCaption.height; y < out.height - 20; y++) for (let x = 0; x < 120; x++) light += out.data[(y * out.width + x) * 3] > 180 ? 1 : 0;
      expect(light).toBeGreaterThan(20);
    }
  });
});

describe('npm run explain', () => {
  let dir: string;
  let photo: string;
  const cli = async (args: string[]) => {
    try {
      const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx/esm', path.resolve('src/bin/explain.ts'), ...args], { env: { ...process.env, DEBUG: '' }, timeout: 60_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'dream-explain-cli-'));
    photo = path.join(dir, 'coil.png');
    const img = coilPicture(false);
    await writeFile(photo, await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer());
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('prints the top 5 labels with percentages and writes the overlay as a PNG', async () => {
    const r = await cli([photo]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(6);
    for (const line of lines.slice(0, 5)) expect(line).toMatch(/^\s*(\d+\.\d|<0\.1)%  \S/);
    expect(lines[0]).toMatch(/%  coil$/);
    expect(lines[5]).toMatch(/^Wrote .*coil-explain\.png: where "coil" \(\d+\.\d%\) comes from, darknet_tiny, backend \w+$/);
    const meta = await sharp(await readFile(path.join(dir, 'coil-explain.png'))).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', SIZE, SIZE]);
  });

  // The process above shows how the command prints and exits; its refusals are the same main and reportError in here.
  it('refuses an unknown target (exit 1) and a bad flag (exit 2) in one line', async () => {
    const unknown = await cliInProcess('explain', [photo, '--target', 'siberian huskey', '-o', path.join(dir, 'x.png')]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^explain: Unknown class "siberian huskey" .*Siberian husky/)]);
    const usage = await cliInProcess('explain', [photo, '--top', 'many']);
    expect(usage.code).toBe(2);
    expect(usage.stderr.trim()).toBe('explain: --top needs a whole number, not "many".');
  });
});
