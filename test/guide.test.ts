// Guided dreams and the guide objective, then the dream command's --zoom-frames and --guide flags end to end. The
// zoom itself is test/zoom.test.ts (the two files run side by side).
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/backend.ts';
import { toFloatImage } from '../src/engine/float-image.ts';
import type { GradientNetwork } from '../src/engine/gradient-network.ts';
import { DreamParamsError, resolveParams, type Dreamer } from '../src/engine/index.ts';
import { loadCompiledModel } from '../src/engine/model/load.ts';
import { guideTerm, meanTerm, type ObjectiveTerm } from '../src/engine/objective.ts';
import { createOnnxNetwork, type OnnxNetwork } from '../src/engine/onnx/index.ts';
import { seededRandom } from '../src/engine/random.ts';
import { TfjsGradientNetwork } from '../src/engine/tfjs-network.ts';
import type { RgbImage } from '../src/imaging/index.ts';
import { makeStripesRgb } from './helpers/dataset.ts';
import { dreamInProcess, expectOneLineError } from './helpers/dream-cli.ts';
import { makePhotoLike, makePhotoLikeRgb, meanAbsDiff } from './helpers/images.ts';
import { relativeError, stockDreamer } from './helpers/model.ts';

const same = (a: RgbImage, b: RgbImage) => Buffer.from(a.data).equals(Buffer.from(b.data));

/** Strong texture to steer with: diagonal stripes in two far-apart colours (the style tests' pattern). */
const stripes = makeStripesRgb(128, 128, seededRandom(4));

/**
 * The stock model's ONNX network emitted afresh (no cache: the guide objective's numerics are checked on what the
 * emitter makes now), one for the file: the guided dream's reference measure and the objective tests share its
 * sessions. One thread, as every dream in the tests (a second one would spin between runs on a shared core).
 */
let compiled: ReturnType<typeof loadCompiledModel> | null = null;
const compiledModel = () => (compiled ??= loadCompiledModel('inception_v3'));
let freshOnnx: Promise<OnnxNetwork> | null = null;
const onnxNetwork = () =>
  (freshOnnx ??= compiledModel().then((model) =>
    createOnnxNetwork(model.graph, { inputRange: model.manifest.input.range, threads: 1, dreamLayers: model.manifest.dreamLayers }),
  ));
afterAll(async () => {
  await (await freshOnnx)?.dispose();
});

describe('guided dream', () => {
  const photo = makePhotoLikeRgb(128, 96);
  let dreamer: Dreamer;

  beforeAll(async () => {
    dreamer = await stockDreamer();
  });

  /** Cosine similarity of two vectors. */
  const cosine = (a: Float32Array, b: Float32Array) => {
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let i = 0; i < a.length; i++) {
      ab += a[i] * b[i];
      aa += a[i] * a[i];
      bb += b[i] * b[i];
    }
    return ab / Math.sqrt(aa * bb);
  };

  it('differs from the unguided dream and moves the picture toward the guide', async () => {
    const base = resolveParams(dreamer.manifest, { intensity: 'low', seed: 2026, steps: 8 });
    const plain = await dreamer.dream(photo, base);
    const guided = await dreamer.dream(photo, resolveParams(dreamer.manifest, { intensity: 'low', seed: 2026, steps: 8, guide: stripes }));
    expect(meanAbsDiff(plain, guided)).toBeGreaterThan(3);

    // At the guide layer, the guided dream's features are closer to the guide's than the unguided one's (and the
    // input's): by the global feature direction and by the mean best-match cosine of each position.
    const layer = 'mixed4';
    const target = await dreamer.pooledFeatures(stripes, layer);
    const [p0, p1, p2] = await Promise.all([photo, plain, guided].map((img) => dreamer.pooledFeatures(img, layer)));
    const [c0, c1, c2] = [p0, p1, p2].map((p) => cosine(p, target));
    // Measured on onnx, seeds 2026, 1, 2: input 0.57, unguided 0.43–0.48, guided 0.61–0.63.
    expect(c2).toBeGreaterThan(c1 + 0.05);
    expect(c2).toBeGreaterThan(c0 + 0.02);

    const net = await onnxNetwork();
    const guideActs = await net.activations(toFloatImage(stripes), layer);
    const c = guideActs.channels;
    const bestMatch = async (img: RgbImage) => {
      const acts = await net.activations(toFloatImage(img), layer);
      let total = 0;
      for (let p = 0; p < acts.height * acts.width; p++) {
        const x = acts.data.subarray(p * c, (p + 1) * c);
        let best = -1;
        for (let j = 0; j < guideActs.height * guideActs.width; j++) best = Math.max(best, cosine(x, guideActs.data.subarray(j * c, (j + 1) * c)));
        total += best;
      }
      return total / (acts.height * acts.width);
    };
    const [m0, m1, m2] = [await bestMatch(photo), await bestMatch(plain), await bestMatch(guided)];
    // Measured: input 0.43, unguided 0.37–0.40, guided 0.53–0.54.
    expect(m2).toBeGreaterThan(m1 + 0.05);
    expect(m2).toBeGreaterThan(m0 + 0.05);
  });

  it('guides at any dream layer, deterministically, and refuses another layer in one sentence', async () => {
    const params = resolveParams(dreamer.manifest, { intensity: 'low', seed: 5, octaves: 1, steps: 2, guide: stripes, guideLayer: 'mixed2' });
    expect(params.guide?.layer).toBe('mixed2');
    const a = await dreamer.dream(photo, params);
    const b = await dreamer.dream(photo, params);
    expect(same(a, b)).toBe(true);
    for (const layer of ['mixed9', 'conv2d_1']) {
      const bad = () => resolveParams(dreamer.manifest, { guide: stripes, guideLayer: layer });
      expect(bad).toThrow(DreamParamsError);
      expect(bad).toThrow(new RegExp(`^Unknown guide layer "${layer}" for model inception_v3\\. Valid layers: mixed0, .*mixed5\\.$`));
      // Params that skipped resolveParams (e.g. sent to a worker) are checked by the dreamer too.
      await expect(dreamer.dream(photo, { ...params, guide: { image: stripes, layer } })).rejects.toThrow(DreamParamsError);
    }
    // The default guide layer is the notebook's middle layer.
    expect(resolveParams(dreamer.manifest, { guide: stripes }).guide?.layer).toBe('mixed4');
  });
});

describe('the guide objective', () => {
  let onnx: GradientNetwork;
  let tfjs: GradientNetwork;
  let term: ObjectiveTerm;
  const rand = seededRandom(3);
  const image = { data: Float32Array.from({ length: 112 * 96 * 3 }, rand), width: 96, height: 112 };

  beforeAll(async () => {
    await initBackend('wasm');
    const model = await compiledModel();
    onnx = await onnxNetwork();
    tfjs = new TfjsGradientNetwork(model.graph, model.manifest.input.range);
    const acts = await onnx.activations(toFloatImage(stripes), 'mixed4');
    term = guideTerm('mixed4', acts.data, acts.channels);
  });
  afterAll(async () => {
    await tfjs?.dispose();
  });

  it('has the same loss and gradient on onnx and tfjs, alone and with mean terms', async () => {
    for (const terms of [[term], [meanTerm('mixed3', onnx.channels('mixed3')), term], [term, meanTerm('mixed5', onnx.channels('mixed5'))]]) {
      const a = await onnx.lossAndGradient(image, terms);
      const b = await tfjs.lossAndGradient(image, terms);
      expect(a.loss).toBeCloseTo(b.loss, 5);
      // Measured 5e-7; a near-tied max-pool window or guide match could route a little elsewhere.
      expect(relativeError(a.gradient, b.gradient)).toBeLessThan(2e-3);
    }
  });

  it('pulls about as hard as a plain mean term (comparable gradient norms)', async () => {
    const norm = (g: Float32Array) => Math.hypot(...g);
    const guided = norm((await onnx.lossAndGradient(image, [term])).gradient);
    const mean = norm((await onnx.lossAndGradient(image, [meanTerm('mixed4', onnx.channels('mixed4'))])).gradient);
    expect(guided / mean).toBeGreaterThan(0.33);
    expect(guided / mean).toBeLessThan(3);
  });

  it('has a gradient that agrees with a directional finite difference of its own loss', async () => {
    const { gradient } = await onnx.lossAndGradient(image, [term]);
    // As for the mean terms (onnx.test.ts): a 16×16 patch along sign(g), small ε.
    const v = new Float32Array(image.data.length);
    for (let y = 48; y < 64; y++) for (let x = 40; x < 56; x++) for (let c = 0; c < 3; c++) v[(y * 96 + x) * 3 + c] = Math.sign(gradient[(y * 96 + x) * 3 + c]);
    let gv = 0;
    for (let i = 0; i < v.length; i++) gv += gradient[i] * v[i];
    const eps = 1e-4;
    const at = async (s: number) => (await onnx.lossAndGradient({ ...image, data: image.data.map((x, i) => x + s * eps * v[i]) }, [term])).loss;
    const fd = ((await at(1)) - (await at(-1))) / (2 * eps);
    expect(gv).toBeGreaterThan(0);
    expect(Math.abs(fd - gv)).toBeLessThan(0.05 * gv);
  });

  it('never sends a guide to an unguided session, and refuses an empty guide', async () => {
    const plain = [meanTerm('mixed4', onnx.channels('mixed4'))];
    const before = await onnx.lossAndGradient(image, plain);
    await onnx.lossAndGradient(image, [term]);
    expect(await onnx.lossAndGradient(image, plain)).toEqual(before);
    await expect(onnx.lossAndGradient(image, [{ layer: 'mixed4', guide: new Float32Array(0) }])).rejects.toThrow(/whole number/);
  });
});

// In-process (dreamInProcess: the dreamMain and reportError that src/bin/dream.ts runs, so the same exit code and
// output); cli.test.ts runs the real process for a whole dream and for refusals' exit codes.

describe('npm run dream with --zoom-frames and --guide', () => {
  let dir: string;
  let photo: string;
  let square: string;
  let guide: string;
  const dream = dreamInProcess;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'dream-zoom-'));
    photo = path.join(dir, 'photo.jpg');
    guide = path.join(dir, 'guide.png');
    await writeFile(photo, await makePhotoLike(120, 80, 'jpeg'));
    square = path.join(dir, 'square.jpg');
    await writeFile(square, await makePhotoLike(80, 80, 'jpeg'));
    await sharp(stripes.data, { raw: { width: 128, height: 128, channels: 3 } }).png().toFile(guide);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes a looping 24-frame GIF under 10 MiB, and the last frame as a still', async () => {
    const out = path.join(dir, 'zoom.gif');
    const still = path.join(dir, 'last.png');
    // Frames of 75×75, the fewest pixels the network takes (a smaller picture is dreamed upscaled to it): 24 frames of
    // 3 steps each are most of this test's time.
    const r = await dream([square, '-o', out, '--zoom-frames', '24', '--intensity', 'low', '--max-side', '75', '--seed', '3', '--still', still]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Wrote .*zoom\.gif \(75×75, 24 frames, [\d.]+ MiB\) and .*last\.png in .*: zoom 1\.05 × 24 frames, inception_v3 mixed3\+mixed5, low, 2×3 steps a frame, .*seed 3, backend/);
    const meta = await sharp(out).metadata();
    expect([meta.format, meta.pages, meta.loop, meta.width]).toEqual(['gif', 24, 0, 75]);
    expect((await stat(out)).size).toBeLessThan(10 * 2 ** 20);
    const frames = await Promise.all([0, 1, 22, 23].map((page) => sharp(out, { page }).removeAlpha().raw().toBuffer()));
    for (let i = 1; i < frames.length; i++) expect(frames[i].equals(frames[i - 1])).toBe(false);
    expect((await sharp(still).metadata()).width).toBe(75);
  });

  it('writes a guided still and names the guide in the summary', async () => {
    const out = path.join(dir, 'guided.png');
    const r = await dream([photo, '-o', out, '--guide', guide, '--octaves', '1', '--steps', '2', '--seed', '4']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/inception_v3 guide guide\.png at mixed4, medium, 1×2 steps, .*seed 4/);
    expect((await sharp(out).metadata()).width).toBe(120);
  });

  it('refuses zoom and guide flags that do not fit, in one line', async () => {
    const cases: [string[], RegExp][] = [
      [[photo, '-o', path.join(dir, 'a.gif')], /is a still picture, so a \.gif output would be one frame.*--zoom-frames N/],
      [[photo, '-o', path.join(dir, 'a.png'), '--zoom-frames', '8'], /must end in \.gif or \.webp/],
      [[photo, '-o', path.join(dir, 'a.gif'), '--zoom-frames', '200'], /--zoom-frames must be from 2 to 90/],
      [[photo, '-o', path.join(dir, 'a.gif'), '--zoom', '0.9'], /--zoom must be from/],
      [[photo, '--guide-layer', 'mixed3'], /--guide-layer needs --guide/],
      [[photo, '--still', path.join(dir, 'b.png')], /--still is the last frame of a zoom/],
      [[photo, '--guide', path.join(dir, 'nope.png')], /Guide file not found/],
      [[photo, '-o', path.join(dir, 'c.png'), '--guide', guide, '--guide-layer', 'mixed9'], /Unknown guide layer "mixed9".*Valid layers: mixed0/],
    ];
    for (const [args, pattern] of cases) expectOneLineError(await dream(args), pattern);
  });
});
