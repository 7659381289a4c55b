import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import sharp, { type Sharp } from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { initBackend } from '../src/engine/backend.ts';
import { createScreener, DEFAULT_NSFW_THRESHOLD, NSFW_CLASSES, type Screener, type ScreenResult } from '../src/engine/index.ts';
import { resizeBilinearAlignCorners, screenInput } from '../src/engine/screen/resize.ts';
import type { RgbImage } from '../src/imaging/index.ts';
import { makePhotoLikeRgb } from './helpers/images.ts';

const SIZE = 299;

async function rgbOf(pipeline: Sharp): Promise<RgbImage> {
  const { data, info } = await pipeline.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const rgb = info.channels === 3 ? new Uint8Array(data) : Uint8Array.from({ length: info.width * info.height * 3 }, (_, i) => data[Math.floor(i / 3)]);
  return { data: rgb, width: info.width, height: info.height };
}

/** samples/landscape.jpg as an ink drawing (edges, thresholded): nsfwjs calls it a Drawing. */
function inkDrawing(width: number): Promise<RgbImage> {
  const laplacian = { width: 3, height: 3, kernel: [-1, -1, -1, -1, 8, -1, -1, -1, -1] };
  return rgbOf(sharp('samples/landscape.jpg').resize(width).greyscale().convolve(laplacian).negate().normalise().threshold(200));
}

interface Picture {
  name: string;
  image: RgbImage;
  /** nsfwjs's probabilities, in NSFW_CLASSES order. */
  reference?: number[];
}

const scoresOf = (r: ScreenResult) => NSFW_CLASSES.map((c) => r.scores[c]);
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Where nsfwjs's scores are kept between runs, by exactly what produced them (see nsfwjsScores). */
const REFERENCE_CACHE = path.resolve('models/.cache/nsfwjs-scores');
const REFERENCE_PACKAGES = ['nsfwjs', '@tensorflow/tfjs-core', '@tensorflow/tfjs-layers', '@tensorflow/tfjs-backend-wasm'];

/**
 * nsfwjs itself (tfjs-layers on wasm): on the picture when no side shrinks (nsfwjs's own resize then runs), else on
 * the screener's 299 × 299 input (nsfwjs's bilinear shrink would read only 2 of every side / 299 pixels).
 *
 * Loading nsfwjs and classifying five pictures on wasm cost ~6 s of CPU a run, for the same numbers every time: a
 * score is kept under a hash of the exact input nsfwjs was given and the versions of nsfwjs and tfjs that computed
 * it, so only a new picture, a changed preprocessing or another version runs nsfwjs again (and a fresh clone runs
 * it for all of them).
 */
async function nsfwjsScores(pictures: Picture[]): Promise<void> {
  const versions = await Promise.all(REFERENCE_PACKAGES.map(async (name) => `${name}@${JSON.parse(await readFile(path.resolve('node_modules', name, 'package.json'), 'utf8')).version}`));
  const inputs = pictures.map((p) => {
    const own = p.image.width <= SIZE && p.image.height <= SIZE;
    const base = own ? { ...p.image, data: Float32Array.from(p.image.data, (v) => v / 255) } : screenInput(p.image, SIZE);
    const key = createHash('sha256').update(JSON.stringify([versions, base.width, base.height])).update(new Uint8Array(base.data.buffer, base.data.byteOffset, base.data.byteLength)).digest('hex');
    return { p, base, file: path.join(REFERENCE_CACHE, `${key.slice(0, 24)}.json`) };
  });
  const missing: typeof inputs = [];
  for (const input of inputs) {
    const kept = await readFile(input.file, 'utf8').then((t) => JSON.parse(t) as unknown, () => undefined);
    if (Array.isArray(kept) && kept.length === NSFW_CLASSES.length) input.p.reference = kept as number[];
    else missing.push(input);
  }
  if (missing.length === 0) return;
  await initBackend('wasm');
  const info = vi.spyOn(console, 'info').mockImplementation(() => undefined); // nsfwjs logs on every load
  const { load } = await import('nsfwjs/core');
  const { InceptionV3Model } = await import('nsfwjs/models/inception_v3');
  const nsfw = await load('InceptionV3', { modelDefinitions: [InceptionV3Model] });
  info.mockRestore();
  try {
    await mkdir(REFERENCE_CACHE, { recursive: true });
    for (const { p, base, file } of missing) {
      // nsfwjs divides by 255 first.
      const x = tf.tidy(() => tf.mul(tf.tensor3d(base.data, [base.height, base.width, 3]), 255) as tf.Tensor3D);
      const top = await nsfw.classify(x as unknown as Parameters<typeof nsfw.classify>[0], 5);
      x.dispose();
      p.reference = NSFW_CLASSES.map((c) => top.find((t) => t.className.toLowerCase() === c)!.probability);
      await writeFile(file, JSON.stringify(p.reference));
    }
  } finally {
    nsfw.dispose();
  }
}

describe('the resize nsfwjs does, and the guard in front of it', () => {
  it('is tf.image.resizeBilinear with aligned corners', async () => {
    await initBackend('cpu');
    const src = makePhotoLikeRgb(37, 23);
    const float = { data: Float32Array.from(src.data, (v) => v / 255), width: 37, height: 23 };
    for (const [w, h] of [[13, 11], [80, 61], [1, 5]]) {
      const ours = resizeBilinearAlignCorners(float, w, h).data;
      const theirs = tf.tidy(() => tf.image.resizeBilinear(tf.tensor3d(float.data, [23, 37, 3]), [h, w], true).dataSync());
      expect(maxAbsDiff(ours, theirs)).toBeLessThan(1e-6);
    }
    // The manifest's "resize": "nsfwjs" is that at every size: x / 255, then the bilinear resize.
    const big = makePhotoLikeRgb(700, 450);
    const exact = screenInput(big, SIZE, 'nsfwjs').data;
    const nsfwjs = tf.tidy(() => tf.image.resizeBilinear(tf.div(tf.tensor3d(big.data, [450, 700, 3], 'float32'), 255) as tf.Tensor3D, [SIZE, SIZE], true).dataSync());
    expect(maxAbsDiff(exact, nsfwjs)).toBeLessThan(1e-6);
  });

  it('reads every pixel of a picture it shrinks, so a picture hidden in the pixels bilinear reads stays hidden', () => {
    // 4 × 299 px: plain bilinear reads 2 of every 4 rows and columns. Those are white, the rest black.
    const side = 4 * SIZE;
    const read = new Set<number>();
    for (let o = 0; o < SIZE; o++) {
      const at = (o * (side - 1)) / (SIZE - 1);
      read.add(Math.floor(at)).add(Math.min(side - 1, Math.ceil(at)));
    }
    const data = new Uint8Array(side * side * 3);
    const float = new Float32Array(data.length);
    for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) if (read.has(x) && read.has(y)) {
      data.fill(255, (y * side + x) * 3, (y * side + x) * 3 + 3);
      float.fill(1, (y * side + x) * 3, (y * side + x) * 3 + 3);
    }
    const image = { data, width: side, height: side };
    const mean = (f: Float32Array) => {
      let sum = 0;
      for (let i = 0; i < f.length; i++) sum += f[i];
      return sum / f.length;
    };
    const truth = mean(float);
    expect(truth).toBeLessThan(0.3);
    const plain = resizeBilinearAlignCorners({ data: float, width: side, height: side }, SIZE, SIZE);
    expect(mean(plain.data)).toBeGreaterThan(0.99);
    const guarded = screenInput(image, SIZE);
    expect([guarded.width, guarded.height]).toEqual([SIZE, SIZE]);
    expect(Math.abs(mean(guarded.data) - truth)).toBeLessThan(0.01);
    // Nothing of the hidden picture's pattern either: no pixel is near white.
    expect(guarded.data.reduce((a, b) => Math.max(a, b), 0)).toBeLessThan(0.5);
  });

  it('grows a small side exactly as nsfwjs does, and shrinks a large one', () => {
    const img = makePhotoLikeRgb(620, 150);
    const x = screenInput(img, SIZE);
    expect([x.width, x.height]).toEqual([SIZE, SIZE]);
    // Rows: nsfwjs's aligned corners, so the first and last rows are the picture's own, filtered along x only.
    const top = screenInput({ data: img.data.subarray(0, 620 * 3), width: 620, height: 1 }, SIZE);
    expect(maxAbsDiff(x.data.subarray(0, SIZE * 3), top.data.subarray(0, SIZE * 3))).toBeLessThan(1e-6);
  });
});

describe('screening with nsfwjs\'s classifier compiled like the dream trunk', () => {
  const pictures: Picture[] = [];
  let onnx: Screener;
  /** Each picture's screening on onnx (a screen is deterministic: the last test checks that), for the test after. */
  const onnxResults = new Map<Picture, ScreenResult>();

  beforeAll(async () => {
    pictures.push(
      { name: 'photo-like 240×180 (nsfwjs resizes it)', image: makePhotoLikeRgb(240, 180) },
      { name: 'photo-like 1024×768', image: makePhotoLikeRgb(1024, 768) },
      { name: 'samples/landscape.jpg 768×512', image: await rgbOf(sharp('samples/landscape.jpg')) },
      { name: 'ink drawing 480×320', image: await inkDrawing(480) },
      { name: 'ink drawing 280×187 (nsfwjs resizes it)', image: await inkDrawing(280) },
    );
    await nsfwjsScores(pictures);
  });

  afterAll(async () => {
    await onnx?.dispose();
  });

  it('gives nsfwjs\'s own scores on wasm, and leaks no tensors', async () => {
    // The backend's numerics, on one picture of each path to the network (grown, as nsfwjs resizes it; shrunk by the
    // guard); the onnx test below covers every picture.
    const [grown, shrunk] = [pictures[0], pictures[3]];
    const wasm = await createScreener({ backend: 'wasm' });
    try {
      expect(wasm.backend.name).toBe('wasm');
      // Every screen after the first (which may set things up once: createScreener's own, on a blank 299 × 299
      // picture, through the same tensors as every picture's 299 × 299 input) gives back all it allocated.
      const before = tf.memory();
      expect(maxAbsDiff(scoresOf(await wasm.screen(grown.image)), grown.reference!), grown.name).toBeLessThan(1e-3);
      expect(maxAbsDiff(scoresOf(await wasm.screen(shrunk.image)), shrunk.reference!), shrunk.name).toBeLessThan(1e-3);
      expect(tf.memory().numTensors).toBe(before.numTensors);
      expect(tf.memory().numBytes).toBe(before.numBytes);
    } finally {
      await wasm.dispose();
    }
  });

  it('gives nsfwjs\'s own scores on onnx, the default here', async () => {
    onnx = await createScreener({ backend: 'auto' });
    expect(onnx.backend.name).toBe('onnx');
    expect(onnx.loadInfo.ms).toBeGreaterThan(0);
    for (const p of pictures) {
      onnxResults.set(p, await onnx.screen(p.image));
      expect(maxAbsDiff(scoresOf(onnxResults.get(p)!), p.reference!), p.name).toBeLessThan(1e-3);
    }
  });

  it('scores sum to 1; ordinary pictures are far below the threshold; the drawing is a Drawing', async () => {
    for (const p of pictures) {
      const r = onnxResults.get(p)!;
      const s = scoresOf(r);
      expect(s.reduce((a, b) => a + b, 0), p.name).toBeCloseTo(1, 6);
      expect(s.every((v) => v >= 0 && v <= 1)).toBe(true);
      expect(r.explicit).toBeCloseTo(r.scores.porn + r.scores.hentai + r.scores.sexy, 9);
      expect(r.explicit, p.name).toBeLessThan(DEFAULT_NSFW_THRESHOLD / 5);
    }
    for (const d of [pictures[3], pictures[4]]) {
      const drawing = onnxResults.get(d)!;
      expect(Math.max(...scoresOf(drawing)), d.name).toBe(drawing.scores.drawing);
    }
    expect(onnxResults.get(pictures[2])!.scores.neutral).toBeGreaterThan(0.95);
  });

  it('screens concurrently and repeatedly without growing', async () => {
    const image = pictures[2].image;
    // Its screen in the test before, between other pictures' screens.
    const first = onnxResults.get(pictures[2])!;
    const again = await Promise.all([onnx.screen(image), onnx.screen(pictures[0].image), onnx.screen(image)]);
    expect(again[0]).toEqual(first);
    expect(again[2]).toEqual(first);
    // Each screen allocates ~6 MB (resampling, input tensors): were that kept, 10 screens would show (~60 MB).
    const rss = () => process.memoryUsage().rss / 1e6;
    for (let i = 0; i < 3; i++) await onnx.screen(image);
    const start = rss();
    for (let i = 0; i < 10; i++) await onnx.screen(image);
    expect(rss() - start).toBeLessThan(30);
  });
});
