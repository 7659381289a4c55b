import * as tf from '@tensorflow/tfjs-core';
import type { RgbImage } from '../imaging/rgb-image.ts';
import type { DreamNetwork, ExtraObjective } from './network.ts';
import { seededRandom } from './random.ts';

/** Everything that decides the pixels of a dream (with the model and backend). */
export interface DreamParams {
  /** Layers whose mean activation is maximised. */
  layers: string[];
  octaves: number;
  /** Size ratio between successive octaves (1.3 in the TensorFlow tutorial). */
  octaveScale: number;
  /** Gradient-ascent steps per octave. */
  steps: number;
  /** Step size in image units (pixels in [0, 1]). */
  stepSize: number;
  seed: number;
  /** Images larger than this (px) have their gradient computed tile by tile, bounding memory. */
  tileSize: number;
  /**
   * A custom style (a model trained with `npm run train`) whose class is grown into the image: the objective
   * adds `classWeight · logit_target` of the style's head. Default: the dreamer's model when it is a style.
   */
  style?: string;
  /** The style's class to grow (default: its first class). */
  target?: string;
  /** Weight of the class logit in the objective (default: the style manifest's `objective.classWeight`). */
  classWeight?: number;
}

export interface DreamProgress {
  octave: number;
  octaves: number;
  step: number;
  steps: number;
  /** Share of the total work done, weighted by pixels: 0..1. */
  fraction: number;
  elapsedMs: number;
  /** Estimated seconds left, from the time the work so far took. */
  etaSeconds: number;
  /** The DeepDream loss of this step, averaged over tiles. */
  loss: number;
  /** The image at the end of an octave, when previews were asked for. */
  preview?: RgbImage;
}

export interface DreamRunOptions {
  signal?: AbortSignal;
  onProgress?: (p: DreamProgress) => void;
  /** Attach the image to the progress event that ends each octave. */
  previews?: boolean;
  /** Smallest side the network accepts; smaller octaves are skipped, smaller images processed upscaled. */
  minSide?: number;
  /** Extra objective terms (a style's class logit), added to the layers' loss at every step. */
  extra?: ExtraObjective[];
}

export class DreamCancelledError extends Error {
  override name = 'DreamCancelledError';
  constructor() {
    super('The dream was cancelled.');
  }
}

export class DreamParamsError extends Error {
  override name = 'DreamParamsError';
}

type Size = [number, number];

/** Sizes to dream at, smallest first, ending at the full size; octaves below `minSide` are dropped. */
export function octaveSizes([h, w]: Size, octaves: number, scale: number, minSide: number): Size[] {
  const sizes: Size[] = [];
  for (let i = octaves - 1; i >= 0; i--) {
    const f = scale ** -i;
    const size: Size = [Math.round(h * f), Math.round(w * f)];
    if (Math.min(...size) < minSide && i > 0) continue;
    if (sizes.some((s) => s[0] === size[0] && s[1] === size[1])) continue;
    sizes.push(size);
  }
  return sizes;
}

/** Even split of `length` into pieces of at most `tile` px: no sliver tiles at the edge. */
function tileEdges(length: number, tile: number): number[] {
  const n = Math.max(1, Math.ceil(length / tile));
  return Array.from({ length: n + 1 }, (_, i) => Math.round((i * length) / n));
}

/** Circular shift by (dy, dx) pixels: the random "jitter" that hides tile seams. */
function roll(x: tf.Tensor4D, dy: number, dx: number): tf.Tensor4D {
  const [, h, w] = x.shape;
  const along = (t: tf.Tensor4D, axis: 1 | 2, shift: number, size: number): tf.Tensor4D => {
    const s = ((shift % size) + size) % size;
    if (s === 0) return t;
    const begin = [0, 0, 0, 0];
    const tailSize = [...t.shape];
    begin[axis] = size - s;
    tailSize[axis] = s;
    const headSize = [...t.shape];
    headSize[axis] = size - s;
    return tf.concat4d([tf.slice(t, begin, tailSize), tf.slice(t, [0, 0, 0, 0], headSize)], axis);
  };
  return along(along(x, 1, dy, h), 2, dx, w);
}

function toTensor(img: RgbImage): tf.Tensor4D {
  const data = new Float32Array(img.data.length);
  for (let i = 0; i < data.length; i++) data[i] = img.data[i] / 255;
  return tf.tensor4d(data, [1, img.height, img.width, 3]);
}

async function toRgb(x: tf.Tensor4D): Promise<RgbImage> {
  const [, height, width] = x.shape;
  const values = await x.data();
  const data = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = Math.round(Math.min(1, Math.max(0, values[i])) * 255);
  return { data, width, height };
}

function resize(x: tf.Tensor4D, [h, w]: Size): tf.Tensor4D {
  return x.shape[1] === h && x.shape[2] === w ? tf.clone(x) : tf.image.resizeBilinear(x, [h, w], false, true);
}

/** One gradient-ascent step on the whole image: jitter, tiled gradient, normalise, ascend, clip. */
function ascend(net: DreamNetwork, img: tf.Tensor4D, p: DreamParams, random: () => number, extra: ExtraObjective[]): { next: tf.Tensor4D; loss: tf.Scalar } {
  return tf.tidy(() => {
    const [, h, w] = img.shape;
    const dy = Math.floor(random() * h);
    const dx = Math.floor(random() * w);
    const rolled = roll(img, dy, dx);
    const rows = tileEdges(h, p.tileSize);
    const cols = tileEdges(w, p.tileSize);
    const gradRows: tf.Tensor4D[] = [];
    let loss: tf.Scalar = tf.scalar(0);
    for (let r = 0; r + 1 < rows.length; r++) {
      const gradTiles: tf.Tensor4D[] = [];
      for (let c = 0; c + 1 < cols.length; c++) {
        const tile = tf.slice(rolled, [0, rows[r], cols[c], 0], [1, rows[r + 1] - rows[r], cols[c + 1] - cols[c], 3]);
        const result = net.lossAndGradient(tile, p.layers, extra);
        gradTiles.push(result.gradient);
        loss = tf.add(loss, tf.mul(result.loss, ((rows[r + 1] - rows[r]) * (cols[c + 1] - cols[c])) / (h * w)));
      }
      gradRows.push(gradTiles.length === 1 ? gradTiles[0] : tf.concat4d(gradTiles, 2));
    }
    const gradRolled = gradRows.length === 1 ? gradRows[0] : tf.concat4d(gradRows, 1);
    const grad = roll(gradRolled, -dy, -dx);
    const std = tf.sqrt(tf.moments(grad).variance);
    const normalized = tf.div(grad, tf.add(std, 1e-8));
    return { next: tf.clipByValue(tf.add(img, tf.mul(normalized, p.stepSize)), 0, 1) as tf.Tensor4D, loss };
  });
}

function checkParams(net: DreamNetwork, p: DreamParams, extra: ExtraObjective[]): void {
  const bad = (msg: string): never => {
    throw new DreamParamsError(msg);
  };
  if (p.layers.length === 0) bad('At least one layer is needed.');
  for (const l of p.layers) if (!net.hasLayer(l)) bad(`The model has no dream layer "${l}".`);
  if (!Number.isInteger(p.octaves) || p.octaves < 1 || p.octaves > 12) bad('Octaves must be a whole number from 1 to 12.');
  if (!(p.octaveScale >= 1.05 && p.octaveScale <= 3)) bad('The octave scale must be between 1.05 and 3.');
  if (!Number.isInteger(p.steps) || p.steps < 1 || p.steps > 500) bad('Steps must be a whole number from 1 to 500.');
  if (!(p.stepSize > 0 && p.stepSize <= 1)) bad('The step size must be above 0 and at most 1.');
  if (!Number.isInteger(p.tileSize) || p.tileSize < 128) bad('The tile size must be a whole number of at least 128 px.');
  if (!Number.isInteger(p.seed)) bad('The seed must be a whole number.');
  for (const e of extra) if (!net.hasLayer(e.layer)) bad(`The model has no layer "${e.layer}" for the extra objective.`);
  if ((p.style !== undefined || p.target !== undefined) && extra.length === 0) bad('A style dream needs its class objective: dream through Dreamer.dream.');
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * DeepDream with octaves, as in the TensorFlow tutorial, keeping the original's detail between octaves
 * (each octave starts from the input at that scale plus the dream so far), so the result stays sharp.
 * Same image + params + seed on the same backend gives the same pixels.
 */
export async function dream(net: DreamNetwork, image: RgbImage, p: DreamParams, opts: DreamRunOptions = {}): Promise<RgbImage> {
  const extra = opts.extra ?? [];
  checkParams(net, p, extra);
  const minSide = opts.minSide ?? 75;
  const random = seededRandom(p.seed);
  const started = Date.now();
  // Tiny images are dreamed upscaled to what the network accepts, then brought back to their size.
  const up = Math.max(1, minSide / Math.min(image.width, image.height));
  const full: Size = [Math.round(image.height * up), Math.round(image.width * up)];
  const sizes = octaveSizes(full, p.octaves, p.octaveScale, minSide);
  const totalWork = sizes.reduce((sum, [h, w]) => sum + h * w * p.steps, 0);
  let done = 0;

  const owned: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(t: T): T => {
    owned.push(t);
    return t;
  };
  const release = (t: tf.Tensor | null) => {
    if (!t) return;
    const i = owned.indexOf(t);
    if (i >= 0) owned.splice(i, 1);
    t.dispose();
  };
  try {
    const input = keep(toTensor(image));
    const base = keep(up > 1 ? resize(input, full) : tf.clone(input));
    let detail: tf.Tensor4D | null = null;
    let img: tf.Tensor4D = keep(tf.clone(base));
    for (let o = 0; o < sizes.length; o++) {
      const octaveBase = keep(resize(base, sizes[o]));
      const prevDetail = detail;
      const start: tf.Tensor4D = prevDetail
        ? tf.tidy(() => tf.clipByValue(tf.add(octaveBase, resize(prevDetail, sizes[o])), 0, 1) as tf.Tensor4D)
        : tf.clone(octaveBase);
      release(detail);
      release(img);
      img = keep(start);
      for (let s = 0; s < p.steps; s++) {
        await nextTurn();
        if (opts.signal?.aborted) throw new DreamCancelledError();
        const { next, loss } = ascend(net, img, p, random, extra);
        release(img);
        img = keep(next);
        const lossValue = (await loss.data())[0];
        loss.dispose();
        done += sizes[o][0] * sizes[o][1];
        const elapsedMs = Date.now() - started;
        const fraction = done / totalWork;
        opts.onProgress?.({
          octave: o + 1,
          octaves: sizes.length,
          step: s + 1,
          steps: p.steps,
          fraction,
          elapsedMs,
          etaSeconds: ((elapsedMs / fraction) * (1 - fraction)) / 1000,
          loss: lossValue,
          preview: s === p.steps - 1 && opts.previews ? await toRgb(img) : undefined,
        });
      }
      detail = keep(tf.sub(img, octaveBase) as tf.Tensor4D);
      release(octaveBase);
    }
    return await (up > 1 ? toRgbResized(img, [image.height, image.width]) : toRgb(img));
  } finally {
    tf.dispose(owned);
  }
}

async function toRgbResized(x: tf.Tensor4D, size: Size): Promise<RgbImage> {
  const small = resize(x, size);
  try {
    return await toRgb(small);
  } finally {
    small.dispose();
  }
}
