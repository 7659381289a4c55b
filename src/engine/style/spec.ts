// The manifest of a custom style (`models/<style>/manifest.json`, written by `npm run train`): pure data and
// its validation, with no imports of engine code so that model/manifest.ts can use it.
import type { io } from '@tensorflow/tfjs-core';

export const STYLE_KIND = 'style';
/** Where `npm run train` writes the head's weights, beside the manifest. */
export const HEAD_WEIGHTS_FILE = 'head.bin';
export const HEAD_KERNEL = 'head/kernel';
export const HEAD_BIAS = 'head/bias';
/** Where `npm run train --fine-tune` writes the fine-tuned blocks' convolutions, beside head.bin. */
export const BLOCK_WEIGHTS_FILE = 'blocks.bin';

/** A style name: a folder name under models/ and a Discord option value. */
export const STYLE_NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/;

/** The classifier head on the frozen trunk: global average pooling of `featureLayer`, then one dense layer. */
export interface StyleHeadSpec {
  featureLayer: string;
  pooling: 'global-average';
  /** Side (px) of the square images the head was trained and is evaluated on. */
  inputSize: number;
  /** Channels of `featureLayer` (inputs of the dense layer). */
  features: number;
  /** tfjs weights manifest: `head/kernel` [features, classes] and `head/bias` [classes], float32. */
  weightsManifest: io.WeightsManifestConfig;
}

/** How a dream grows the target class: loss = Σ mean(layer) + classWeight · logit_target(GAP(featureLayer)). */
export interface StyleObjective {
  classWeight: number;
  /** How classWeight was chosen, in words (for people reading the manifest). */
  rule: string;
}

/** One training stage of a fine-tuned style: what it trained, how, and its best epoch. */
export interface FineTuneStage {
  stage: number;
  /** In words: "head", or "mixed5 + head". */
  trains: string;
  optimizer: string;
  learningRate: number;
  epochs: number;
  bestEpoch: number;
  valAccuracy: number;
}

/**
 * A style whose top blocks were trained too (`npm run train -- --fine-tune BLOCK`): its trunk is the stock trunk
 * with these blocks' convolutions replaced by the weights in `weightsManifest` (BatchNorm folded, as compiled).
 */
export interface FineTuneSpec {
  /** The fine-tuned dream layers (blocks), lowest first, up to the trunk's cut. */
  blocks: string[];
  /** The frozen layer that feeds them. */
  from: string;
  /** Digest of the compiled trunk they were trained from (model/blocks.ts graphDigest): a style only runs on it. */
  trunkDigest: string;
  /** tfjs weights manifest of `blocks.bin`: `<conv>/kernel` and `<conv>/bias`, float32. */
  weightsManifest: io.WeightsManifestConfig;
  stages: FineTuneStage[];
}

/** The JSON file as stored. */
export interface StyleFile {
  kind: typeof STYLE_KIND;
  name: string;
  title?: string;
  description?: string;
  /** Model (under models/) whose frozen layers the head reads: `inception_v3`. */
  trunk: string;
  /** Class names, in the order of the head's outputs (the data folder's sub-folders, sorted). */
  classes: string[];
  /** The trunk's pixel range the head was trained with. */
  input: { range: [number, number]; channels: 'rgb'; minSide: number };
  /** Accuracy of the saved (best) epoch on the held-out validation images, 0..1. */
  valAccuracy: number;
  dreamLayers: string[];
  defaultLayers: string[];
  /** ISO 8601 time the style was trained. */
  date: string;
  head: StyleHeadSpec;
  objective: StyleObjective;
  /** Set when the trunk's top blocks were fine-tuned too. */
  fineTune?: FineTuneSpec;
  /** What the training run did (seed, epochs, image counts, ...), for reproducing it. */
  training?: Record<string, unknown>;
}

export function isStyleJson(json: unknown): boolean {
  return typeof json === 'object' && json !== null && (json as { kind?: unknown }).kind === STYLE_KIND;
}

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string' && s.length > 0);

/** Validates a style manifest; `bad` throws with the manifest's file name. */
export function parseStyleFile(json: unknown, bad: (what: string) => never): StyleFile {
  if (!isStyleJson(json)) bad('"kind" must be "style"');
  const s = json as Partial<StyleFile>;
  if (typeof s.name !== 'string' || !STYLE_NAME.test(s.name)) bad('"name" must be a style name (a-z, 0-9, "-" or "_", at most 40)');
  if (typeof s.trunk !== 'string' || !STYLE_NAME.test(s.trunk)) bad('"trunk" must name a model under models/');
  if (!isStringList(s.classes) || s.classes.length < 2 || new Set(s.classes).size !== s.classes.length) bad('"classes" must list at least two distinct class names');
  const range = s.input?.range;
  if (!Array.isArray(range) || range.length !== 2 || !(range[0] < range[1])) bad('"input.range" must be [low, high]');
  if (typeof s.valAccuracy !== 'number' || !(s.valAccuracy >= 0 && s.valAccuracy <= 1)) bad('"valAccuracy" must be a number from 0 to 1');
  if (!isStringList(s.dreamLayers) || s.dreamLayers.length === 0) bad('"dreamLayers" must list at least one layer');
  if (!isStringList(s.defaultLayers) || s.defaultLayers.length === 0 || s.defaultLayers.some((l) => !s.dreamLayers!.includes(l))) {
    bad('"defaultLayers" must be a non-empty subset of "dreamLayers"');
  }
  if (typeof s.date !== 'string' || Number.isNaN(Date.parse(s.date))) bad('"date" must be an ISO date');
  const h = s.head;
  if (!h || typeof h.featureLayer !== 'string' || h.pooling !== 'global-average') bad('"head" must name its "featureLayer" and use "global-average" pooling');
  if (!Number.isInteger(h!.inputSize) || h!.inputSize < 32) bad('"head.inputSize" must be a whole number of pixels (at least 32)');
  if (!Number.isInteger(h!.features) || h!.features < 1) bad('"head.features" must be the feature layer\'s channel count');
  if (!Array.isArray(h!.weightsManifest) || h!.weightsManifest.length === 0) bad('"head.weightsManifest" must describe the head\'s weight files');
  const w = s.objective?.classWeight;
  if (typeof w !== 'number' || !(w >= 0) || !Number.isFinite(w)) bad('"objective.classWeight" must be a number ≥ 0');
  const f = s.fineTune;
  if (f !== undefined) {
    if (!isStringList(f.blocks) || f.blocks.some((b) => !s.dreamLayers!.includes(b))) bad('"fineTune.blocks" must list some of "dreamLayers"');
    if (typeof f.from !== 'string' || !f.from) bad('"fineTune.from" must name the layer that feeds the blocks');
    if (typeof f.trunkDigest !== 'string' || !/^[0-9a-f]{16}$/.test(f.trunkDigest)) bad('"fineTune.trunkDigest" must be 16 hex digits');
    if (!Array.isArray(f.weightsManifest) || f.weightsManifest.length === 0) bad('"fineTune.weightsManifest" must describe the blocks\' weight files');
    if (!Array.isArray(f.stages)) bad('"fineTune.stages" must list the training stages');
  }
  return {
    kind: STYLE_KIND,
    name: s.name!,
    title: s.title,
    description: s.description,
    trunk: s.trunk!,
    classes: s.classes!,
    input: { range: range!, channels: 'rgb', minSide: s.input?.minSide ?? 75 },
    valAccuracy: s.valAccuracy!,
    dreamLayers: s.dreamLayers!,
    defaultLayers: s.defaultLayers!,
    date: s.date!,
    head: h!,
    objective: { classWeight: w!, rule: s.objective?.rule ?? '' },
    ...(f ? { fineTune: f } : {}),
    training: s.training,
  };
}
