import { CancelledError, UserError, type ErrorDetail } from '../errors.ts';
import { englishError } from '../i18n/index.ts';
import type { RgbImage } from '../imaging/rgb-image.ts';
import { toFloatImage, toRgbImage, type FloatImage } from './float-image.ts';
import type { GradientNetwork } from './gradient-network.ts';
import { lapNormalise } from './lapnorm.ts';
import { channelTerm, guideTerm, meanTerm, mergeTerms, splitLayerSpec, type ObjectiveTerm } from './objective.ts';
import { seededRandom } from './random.ts';

/** Everything that decides the pixels of a dream (with the model and backend). */
export interface DreamParams {
  /**
   * Layers whose mean activation is maximised: a whole layer (`mixed4`) or one channel of it (`mixed4:97`).
   * Empty in a class dream that grows an ImageNet class alone.
   */
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
  /**
   * The style's class to grow (default: its first class); without a style, an ImageNet class (a label as the
   * ImageNet classifier shows it), grown by that classifier's logit: alone when `layers` is empty, else added to
   * the layers' objective (each network's gradient normalised, then summed).
   */
  target?: string;
  /**
   * Weight of the class logit in the objective (default: the style manifest's `objective.classWeight`); for an
   * ImageNet class beside layers, the weight of the classifier's normalised gradient (default HYBRID_CLASS_WEIGHT).
   */
  classWeight?: number;
  /** Soft dream: the gradient normalised band by band on a Laplacian pyramid (lapnorm.ts) instead of by its std. */
  soft?: boolean;
  /** The dream model, when not the dreamer's own (a dream-capable installed model, e.g. darknet_tiny). */
  model?: string;
  /**
   * A guide picture that decides what grows (the DeepDream notebook's guided dream): the objective at the guide's
   * layer becomes "match the guide's features" and replaces the layers' means (`layers` is then unused).
   * Plain pixels, so it crosses to a worker thread as it is.
   */
  guide?: DreamGuide;
}

export interface DreamGuide {
  image: RgbImage;
  /** Any dream layer of the model (default {@link DEFAULT_GUIDE_LAYER}, or the model's deepest default layer). */
  layer?: string;
}

/** The guide layer of the original notebook's guided dream (its `inception_4c`, a middle layer). */
export const DEFAULT_GUIDE_LAYER = 'mixed4';
/** The guide is read at most this large: its features are taken at about the scale a dream sees them. */
export const GUIDE_MAX_SIDE = 384;

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
  /** The objective of this step, averaged over tiles. */
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
  /** Extra objective terms (a style's class logit), added to the layers' means (or the guide) at every step. */
  extra?: ObjectiveTerm[];
  /** A note for the person who asked (e.g. scales skipped because the channels are silent there), in English. */
  onNote?: (message: string) => void;
  /**
   * Other networks' objectives (an ImageNet classifier's class logit): each network's gradient is normalised on its
   * own, weighted, and added to the main one's (normalised) gradient before the step.
   */
  parts?: DreamPart[];
}

/** A second network's share of a dream's objective. */
export interface DreamPart {
  net: GradientNetwork;
  terms: ObjectiveTerm[];
  weight: number;
  /**
   * Side ratio (≤ 1) of the picture this network reads: its gradient is computed on the picture scaled by it (at
   * least `minSide`) and scaled back, which costs about scale² as much.
   */
  scale?: number;
  minSide?: number;
}

/** Kept for callers that name the engine's cancellation. */
export { CancelledError as DreamCancelledError };

/** Parameters that make no sense, or a layer, style or class the model does not have. */
export class DreamParamsError extends UserError {
  override name = 'DreamParamsError';
  /** A detail (what a Discord member can cause) is worded in their language; its English wording is the message. */
  constructor(what: string | ErrorDetail) {
    super(typeof what === 'string' ? what : englishError(what), 'params', typeof what === 'string' ? undefined : what);
  }
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

/**
 * Bilinear resize with half-pixel centres (TensorFlow's `resize_bilinear(half_pixel_centers=True)`), edges clamped.
 */
export function resizeBilinear(img: FloatImage, [h, w]: Size): FloatImage {
  if (img.height === h && img.width === w) return { data: img.data.slice(), width: w, height: h };
  const src = img.data;
  const out = new Float32Array(h * w * 3);
  const sy = img.height / h;
  const sx = img.width / w;
  const xs0 = new Int32Array(w);
  const xs1 = new Int32Array(w);
  const fx = new Float32Array(w);
  for (let x = 0; x < w; x++) {
    const at = Math.min(img.width - 1, Math.max(0, (x + 0.5) * sx - 0.5));
    xs0[x] = Math.floor(at);
    xs1[x] = Math.min(xs0[x] + 1, img.width - 1);
    fx[x] = at - xs0[x];
  }
  for (let y = 0; y < h; y++) {
    const at = Math.min(img.height - 1, Math.max(0, (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(at);
    const y1 = Math.min(y0 + 1, img.height - 1);
    const fy = at - y0;
    const r0 = y0 * img.width * 3;
    const r1 = y1 * img.width * 3;
    for (let x = 0; x < w; x++) {
      const a = xs0[x] * 3;
      const b = xs1[x] * 3;
      const o = (y * w + x) * 3;
      for (let c = 0; c < 3; c++) {
        const top = src[r0 + a + c] + (src[r0 + b + c] - src[r0 + a + c]) * fx[x];
        const bottom = src[r1 + a + c] + (src[r1 + b + c] - src[r1 + a + c]) * fx[x];
        out[o + c] = top + (bottom - top) * fy;
      }
    }
  }
  return { data: out, width: w, height: h };
}

interface Box {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

/**
 * Copies a tile between the image rolled by (dy, dx) and its own array: `toTile` reads the rolled image's pixels
 * in `box` into `tile`; otherwise the tile's values are written back where they came from (un-rolled).
 * Rolled pixel (y, x) is image pixel (y - dy, x - dx), wrapping around.
 */
function copyRolled(image: Float32Array, w: number, h: number, tile: Float32Array, dy: number, dx: number, box: Box, toTile: boolean): void {
  const tw = box.right - box.left;
  for (let y = box.top; y < box.bottom; y++) {
    const row = ((((y - dy) % h) + h) % h) * w;
    // A tile row is at most two runs of image pixels (it wraps around once at most): copied as blocks.
    let t = (y - box.top) * tw * 3;
    for (let x = box.left; x < box.right; ) {
      const ix = (((x - dx) % w) + w) % w;
      const run = Math.min(box.right - x, w - ix);
      const i = (row + ix) * 3;
      if (toTile) tile.set(image.subarray(i, i + run * 3), t);
      else image.set(tile.subarray(t, t + run * 3), i);
      x += run;
      t += run * 3;
    }
  }
}

/**
 * One gradient-ascent step on the whole image: a seeded roll (jitter that hides tile seams), the gradient tile by
 * tile, normalised by its standard deviation (soft: band by band), ascended and clipped. With several networks
 * (a hybrid), each one's gradient is normalised on its own before they are summed. Returns the step's objective.
 */
async function ascend(parts: DreamPart[], img: FloatImage, p: DreamParams, random: () => number): Promise<number> {
  const { width: w, height: h } = img;
  const dy = Math.floor(random() * h);
  const dx = Math.floor(random() * w);
  if (parts.length === 1 && !p.soft) {
    const { loss, grad } = await gradientOf(parts[0].net, img, p, dy, dx, parts[0].terms);
    ascendNormalised(img.data, grad, p.stepSize);
    return loss;
  }
  // Each network's gradient normalised on its own (its scale is its own), weighted, summed, then normalised again
  // so that the step size means what it means for one network. Classic normalisation is folded into the sum's
  // factors (one pass to sum, instead of a pass per scaling).
  const soft = p.soft === true;
  let sum: Float32Array | null = null;
  let loss = 0;
  for (const part of parts) {
    const g = await scaledGradientOf(part, img, p, dy, dx);
    loss += g.loss * part.weight;
    let factor = part.weight;
    if (soft) lapNormalise(g.grad, h, w);
    else factor /= stdOf(g.grad) + 1e-8;
    if (!sum) {
      sum = g.grad;
      if (factor !== 1) for (let i = 0; i < sum.length; i++) sum[i] *= factor;
    } else for (let i = 0; i < sum.length; i++) sum[i] += factor * g.grad[i];
  }
  const grad = sum ?? new Float32Array(img.data.length);
  stepBy(img.data, grad, parts.length > 1 ? p.stepSize / (stdOf(grad) + 1e-8) : p.stepSize);
  return loss;
}

/** A part's gradient on the picture scaled by `part.scale` (never below its `minSide`), brought back to full size. */
async function scaledGradientOf(part: DreamPart, img: FloatImage, p: DreamParams, dy: number, dx: number): Promise<{ loss: number; grad: Float32Array }> {
  const { width: w, height: h } = img;
  const s = Math.min(1, Math.max(part.scale ?? 1, (part.minSide ?? 0) / Math.min(h, w)));
  if (s >= 1) return gradientOf(part.net, img, p, dy, dx, part.terms);
  const small = resizeBilinear(img, [Math.round(h * s), Math.round(w * s)]);
  const g = await gradientOf(part.net, small, p, Math.round(dy * s), Math.round(dx * s), part.terms);
  return { loss: g.loss, grad: resizeBilinear({ data: g.grad, width: small.width, height: small.height }, [h, w]).data };
}

/** The whole image's gradient for one network, tile by tile on the image rolled by (dy, dx), un-rolled. */
async function gradientOf(net: GradientNetwork, img: FloatImage, p: DreamParams, dy: number, dx: number, terms: ObjectiveTerm[]): Promise<{ loss: number; grad: Float32Array }> {
  const { width: w, height: h } = img;
  const rows = tileEdges(h, p.tileSize);
  const cols = tileEdges(w, p.tileSize);
  const grad = new Float32Array(img.data.length);
  let loss = 0;
  for (let r = 0; r + 1 < rows.length; r++) {
    for (let c = 0; c + 1 < cols.length; c++) {
      const box = { top: rows[r], bottom: rows[r + 1], left: cols[c], right: cols[c + 1] };
      const tile = { data: new Float32Array((box.bottom - box.top) * (box.right - box.left) * 3), width: box.right - box.left, height: box.bottom - box.top };
      copyRolled(img.data, w, h, tile.data, dy, dx, box, true);
      const result = await net.lossAndGradient(tile, terms);
      loss += (result.loss * tile.width * tile.height) / (h * w);
      copyRolled(grad, w, h, result.gradient, dy, dx, box, false);
    }
  }
  return { loss, grad };
}

/** image += grad · stepSize / std(grad), clipped to [0, 1] (the same arithmetic as a plain three-loop version). */
function ascendNormalised(data: Float32Array, grad: Float32Array, stepSize: number): void {
  stepBy(data, grad, stepSize / (stdOf(grad) + 1e-8));
}

/** image += grad · scale, clipped to [0, 1]. */
function stepBy(data: Float32Array, grad: Float32Array, scale: number): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i] + grad[i] * scale;
    data[i] = v > 1 ? 1 : v < 0 ? 0 : v;
  }
}

function stdOf(grad: Float32Array): number {
  const n = grad.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += grad[i];
  mean /= n;
  let variance = 0;
  for (let i = 0; i < n; i++) {
    const d = grad[i] - mean;
    variance += d * d;
  }
  return Math.sqrt(variance / n);
}

function checkParams(net: GradientNetwork, p: DreamParams, extra: ObjectiveTerm[], parts: DreamPart[]): void {
  const bad = (msg: string): never => {
    throw new DreamParamsError(msg);
  };
  if (p.layers.length === 0 && extra.length === 0 && parts.length === 0 && !p.guide) bad('At least one layer is needed.');
  if (!Number.isInteger(p.octaves) || p.octaves < 1 || p.octaves > 12) bad('Octaves must be a whole number from 1 to 12.');
  if (!(p.octaveScale >= 1.05 && p.octaveScale <= 3)) bad('The octave scale must be between 1.05 and 3.');
  if (!Number.isInteger(p.steps) || p.steps < 1 || p.steps > 500) bad('Steps must be a whole number from 1 to 500.');
  if (!(p.stepSize > 0 && p.stepSize <= 1)) bad('The step size must be above 0 and at most 1.');
  if (!Number.isInteger(p.tileSize) || p.tileSize < 128) bad('The tile size must be a whole number of at least 128 px.');
  if (!Number.isInteger(p.seed)) bad('The seed must be a whole number.');
  for (const e of extra) if (!net.hasLayer(e.layer)) bad(`The model has no layer "${e.layer}" for the extra objective.`);
  if ((p.style !== undefined || p.target !== undefined) && extra.length === 0 && parts.length === 0) bad('A class dream needs its class objective: dream through a Dreamer.');
  if (p.guide) {
    const { image, layer = DEFAULT_GUIDE_LAYER } = p.guide;
    if (!net.hasLayer(layer)) bad(`The model has no layer "${layer}" to guide at.`);
    const ok = image && Number.isInteger(image.width) && Number.isInteger(image.height) && image.width > 0 && image.height > 0;
    if (!ok || image.data?.length !== image.width * image.height * 3) bad('The guide must be an RGB image (3 bytes a pixel).');
  }
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The objective a dream ascends: the layers' means, or with a guide the match to the guide's features at its layer
 * (read once from the guide picture), plus `extra`. Checks the parameters first.
 */
async function objectiveTerms(net: GradientNetwork, p: DreamParams, opts: Pick<DreamRunOptions, 'extra' | 'minSide' | 'parts'>): Promise<ObjectiveTerm[]> {
  const extra = opts.extra ?? [];
  checkParams(net, p, extra, opts.parts ?? []);
  if (!p.guide) return mergeTerms([...p.layers.map((l) => layerTerm(net, l)), ...extra]);
  const layer = p.guide.layer ?? DEFAULT_GUIDE_LAYER;
  const acts = await net.activations(guidePixels(p.guide.image, opts.minSide ?? 75), layer);
  return mergeTerms([guideTerm(layer, acts.data, acts.channels), ...extra]);
}

/** A whole layer's mean term, or one channel's; a layer or channel the network lacks is one sentence. */
function layerTerm(net: GradientNetwork, spec: string): ObjectiveTerm {
  const s = splitLayerSpec(spec);
  if (!s || !net.hasLayer(s.layer)) throw new DreamParamsError(`The model has no dream layer "${spec}".`);
  const count = net.channels(s.layer);
  if (s.channel === undefined) return meanTerm(s.layer, count);
  if (s.channel >= count) throw new DreamParamsError({ code: 'channel.out-of-range', params: { layer: s.layer, channel: s.channel, count } });
  return channelTerm(s.layer, s.channel, count);
}

/**
 * The octaves at which a channels-only dream's channels are all exactly zero on the picture. There the gradient is
 * zero but where a roll seam wakes a channel, and normalising that would grow seam-shaped noise, so those octaves
 * are skipped; a picture on which they are silent at every scale is refused in one sentence.
 */
async function silentOctaves(net: GradientNetwork, p: DreamParams, opts: DreamRunOptions, base: FloatImage, sizes: Size[]): Promise<Set<number>> {
  const silent = new Set<number>();
  const specs = p.layers.map(splitLayerSpec);
  if (p.guide || opts.extra?.length || opts.parts?.length || specs.some((s) => s?.channel === undefined)) return silent;
  const byLayer = new Map<string, number[]>();
  for (const s of specs) if (s?.channel !== undefined) byLayer.set(s.layer, [...(byLayer.get(s.layer) ?? []), s.channel]);
  for (const [o, size] of sizes.entries()) {
    const img = resizeBilinear(base, size);
    let firing = false;
    for (const [layer, channels] of byLayer) {
      const acts = await net.activations(img, layer);
      for (const c of channels) for (let i = c; i < acts.data.length && !firing; i += acts.channels) firing = acts.data[i] !== 0;
    }
    if (!firing) silent.add(o);
  }
  if (silent.size === sizes.length) throw new DreamParamsError({ code: 'channel.silent', params: { channels: p.layers } });
  return silent;
}

/** The guide as the network reads it: longest side at most GUIDE_MAX_SIDE, shortest at least `minSide`. */
function guidePixels(image: RgbImage, minSide: number): FloatImage {
  const { width: w, height: h } = image;
  const scale = Math.max(Math.min(1, GUIDE_MAX_SIDE / Math.max(w, h)), minSide / Math.min(w, h));
  return resizeBilinear(toFloatImage(image), [Math.max(1, Math.round(h * scale)), Math.max(1, Math.round(w * scale))]);
}

/**
 * DeepDream with octaves, as in the TensorFlow tutorial, keeping the original's detail between octaves
 * (each octave starts from the input at that scale plus the dream so far), so the result stays sharp.
 * The loop is plain JavaScript around the backend's gradient: same image + params + seed on the same backend
 * gives the same pixels.
 */
export async function dream(net: GradientNetwork, image: RgbImage, p: DreamParams, opts: DreamRunOptions = {}): Promise<RgbImage> {
  const terms = await objectiveTerms(net, p, opts);
  const parts: DreamPart[] = [{ net, terms, weight: 1 }, ...(opts.parts ?? [])];
  const minSide = opts.minSide ?? 75;
  const random = seededRandom(p.seed);
  const started = Date.now();
  // Tiny images are dreamed upscaled to what the network accepts, then brought back to their size.
  const up = Math.max(1, minSide / Math.min(image.width, image.height));
  const full: Size = [Math.round(image.height * up), Math.round(image.width * up)];
  const sizes = octaveSizes(full, p.octaves, p.octaveScale, minSide);
  let done = 0;

  const base = resizeBilinear(toFloatImage(image), full);
  const silent = await silentOctaves(net, p, opts, base, sizes);
  const totalWork = sizes.reduce((sum, [h, w], o) => sum + (silent.has(o) ? 0 : h * w * p.steps), 0);
  if (silent.size) opts.onNote?.(`${p.layers.join(', ')}: silent at ${silent.size} of ${sizes.length} scales; those are skipped.`);
  let detail: FloatImage | null = null;
  let img = base;
  for (let o = 0; o < sizes.length; o++) {
    const octaveBase = resizeBilinear(base, sizes[o]);
    img = resizeBilinear(octaveBase, sizes[o]);
    if (detail) {
      const d = resizeBilinear(detail, sizes[o]).data;
      for (let i = 0; i < img.data.length; i++) img.data[i] = Math.min(1, Math.max(0, img.data[i] + d[i]));
    }
    for (let s = 0; s < p.steps && !silent.has(o); s++) {
      await nextTurn();
      if (opts.signal?.aborted) throw new CancelledError();
      const loss = await ascend(parts, img, p, random);
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
        loss,
        preview: s === p.steps - 1 && opts.previews ? toRgbImage(img) : undefined,
      });
    }
    const diff = new Float32Array(img.data.length);
    for (let i = 0; i < diff.length; i++) diff[i] = img.data[i] - octaveBase.data[i];
    detail = { data: diff, width: img.width, height: img.height };
  }
  return toRgbImage(up > 1 ? resizeBilinear(img, [image.height, image.width]) : img);
}
