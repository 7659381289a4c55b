import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../errors.ts';
import { isStyleJson, parseStyleFile, type FineTuneSpec, type StyleHeadSpec, type StyleObjective } from '../style/spec.ts';

/** Where the weights come from: the nsfwjs package's bundled Keras model, or a tfjs LayersModel folder. */
export type ModelSource =
  | { type: 'nsfwjs'; package: string; version: string; export: string }
  | { type: 'layers'; path: string };

/** A model manifest (`models/<name>/manifest.json`): what the dream engine needs to know about a network. */
export interface ModelManifest {
  name: string;
  title: string;
  description?: string;
  source: ModelSource;
  license?: string;
  input: {
    /** Pixel range the network expects: [0,1] for RGB/255, [-1,1] for Keras "tf" preprocessing. */
    range: [number, number];
    channels: 'rgb';
    /** Smallest image side the network accepts (octaves never go below it). */
    minSide: number;
  };
  /** Layers a dream may maximise; the compiled network is cut after the deepest of them. */
  dreamLayers: string[];
  defaultLayers: string[];
  /** Folder the manifest was read from (not stored in the file). */
  dir: string;
  /** Set when this is a custom style (`npm run train`): a classifier head on another model's frozen trunk. */
  style?: StyleInfo;
  /** Set when the model is a classifier whose predictions can be explained (Grad-CAM, src/engine/explain). */
  explain?: ExplainSpec;
  /** Set when the model screens pictures (a softmax classifier on its trunk, src/engine/screen). */
  screen?: ScreenSpec;
}

/**
 * How a picture is screened: the global average of `featureLayer` (the compiled trunk's deepest layer) feeds a chain
 * of Keras Dense layers ending in a softmax over `classes`.
 */
export interface ScreenSpec {
  /** One of `dreamLayers`: the layer whose global average the head reads. */
  featureLayer: string;
  /** The Keras Dense layers, input to output (Dropout and Flatten between them are skipped); the last is a softmax. */
  headLayers: string[];
  /** Class names in the head's output order. */
  classes: string[];
  /** The classes whose probabilities add up to a picture's `explicit` score. */
  explicit: string[];
  /** Side (px) of the square input the classifier reads. */
  inputSize: number;
  /**
   * How a picture becomes that square (squashed, aspect not kept): 'nsfwjs' resamples it as nsfwjs does (bilinear,
   * aligned corners); 'antialiased' (the default) does too where it grows, but filters every pixel in where it shrinks.
   */
  resize: 'antialiased' | 'nsfwjs';
}

/**
 * How to explain a classifier's predictions: its last spatial layer, and the linear 1×1 convolution on it whose
 * global average pool gives the class logits (so Grad-CAM at that layer is CAM, computed from the head's weights).
 */
export interface ExplainSpec {
  /** Grad-CAM's feature map: one of `dreamLayers`, so the compiled trunk computes it. */
  featureLayer: string;
  /** The Keras Conv2D (1×1, linear, bias optional) that reads `featureLayer`; logits = its global average. */
  headLayer: string;
  /** JSON array of class names in output order, relative to the manifest's folder. */
  labels: string;
  /** JSON array of WordNet ids in the same order (optional): a target may name one. */
  synsets?: string;
  /** Names to show for labels that occur more than once, by class index (e.g. `{"428": "crane (bird)"}`). */
  displayNames?: Record<string, string>;
  /** Side (px) of the square input the classifier was trained at. */
  inputSize: number;
  /** How a picture becomes that square: 'squash' resizes the whole picture (aspect not kept, nothing cropped). */
  resize: 'squash';
}

/**
 * A style's own part of its manifest. The rest of a style's ModelManifest (source, input, license) is its
 * trunk's, so anything that loads a model loads the trunk's compiled graph for it.
 */
export interface StyleInfo {
  /** Name of the trunk model and the folder its manifest was read from. */
  trunk: string;
  trunkDir: string;
  classes: string[];
  valAccuracy: number;
  date: string;
  head: StyleHeadSpec;
  objective: StyleObjective;
  /** Set when the style's top blocks were fine-tuned: its dreams run on its own trunk. */
  fineTune?: FineTuneSpec;
  training?: Record<string, unknown>;
}

/** A model or style that is missing, malformed or cannot be compiled. */
export class ModelError extends UserError {
  override name = 'ModelError';
  constructor(message: string) {
    super(message, 'model');
  }
}

export const MODELS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../models');

/** Where models are looked up: the project's models/, and the (writable) folder trained styles are saved in. */
export interface ModelDirs {
  /** Default: the project's models/. */
  modelsDir?: string;
  /** Default: modelsDir. */
  stylesDir?: string;
}

/**
 * Reads and validates `<dir>/manifest.json`. `nameOrDir` is a folder path, or a model name under models/ or
 * under the styles folder.
 */
export async function loadManifest(nameOrDir: string, where: ModelDirs = {}): Promise<ModelManifest> {
  const modelsDir = where.modelsDir ?? MODELS_DIR;
  const stylesDir = where.stylesDir ?? modelsDir;
  const isPath = nameOrDir.includes('/') || nameOrDir.includes(path.sep);
  const dirs = isPath ? [path.resolve(nameOrDir)] : [...new Set([path.join(modelsDir, nameOrDir), path.join(stylesDir, nameOrDir)])];
  let raw: string | null = null;
  let dir = dirs[0];
  for (const candidate of dirs) {
    raw = await readFile(path.join(candidate, 'manifest.json'), 'utf8').catch(() => null);
    if (raw !== null) {
      dir = candidate;
      break;
    }
  }
  const file = path.join(dir, 'manifest.json');
  if (raw === null) throw new ModelError(`Unknown model "${nameOrDir}": no manifest at ${dirs.map((d) => path.join(d, 'manifest.json')).join(' or ')}.`);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new ModelError(`Model manifest ${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (isStyleJson(json)) return styleManifest(json, dir, file, modelsDir);
  return validateManifest(json, dir, file);
}

/** A style's manifest merged with its trunk's: the trunk gives the weights, the style its head and classes. */
async function styleManifest(json: unknown, dir: string, file: string, modelsDir: string): Promise<ModelManifest> {
  const bad = (what: string): never => {
    throw new ModelError(`Style manifest ${file}: ${what}.`);
  };
  const s = parseStyleFile(json, bad);
  // The trunk is looked for under models/ first, then beside the style's folder.
  let trunk: ModelManifest;
  try {
    trunk = await loadManifest(s.trunk, { modelsDir });
  } catch (err) {
    trunk = await loadManifest(path.join(path.dirname(dir), s.trunk)).catch(() => bad(`its trunk model cannot be loaded: ${(err as Error).message}`));
  }
  if (trunk.style) bad(`its trunk "${s.trunk}" is itself a style`);
  if (trunk.input.range[0] !== s.input.range[0] || trunk.input.range[1] !== s.input.range[1]) bad(`its input range differs from its trunk's (${JSON.stringify(trunk.input.range)})`);
  if (!trunk.dreamLayers.includes(s.head.featureLayer)) bad(`its trunk has no layer "${s.head.featureLayer}"`);
  const unknown = s.dreamLayers.filter((l) => !trunk.dreamLayers.includes(l));
  if (unknown.length) bad(`its trunk has no dream layer ${unknown.join(', ')}`);
  const source: ModelSource = trunk.source.type === 'layers' ? { type: 'layers', path: path.resolve(trunk.dir, trunk.source.path) } : trunk.source;
  return {
    name: s.name,
    title: s.title ?? `Style ${s.name}`,
    description: s.description,
    source,
    license: trunk.license,
    input: trunk.input,
    dreamLayers: s.dreamLayers,
    defaultLayers: s.defaultLayers,
    dir,
    style: {
      trunk: trunk.name,
      trunkDir: trunk.dir,
      classes: s.classes,
      valAccuracy: s.valAccuracy,
      date: s.date,
      head: s.head,
      objective: s.objective,
      ...(s.fineTune ? { fineTune: s.fineTune } : {}),
      training: s.training,
    },
  };
}

function validateManifest(json: unknown, dir: string, file: string): ModelManifest {
  const bad = (what: string): never => {
    throw new ModelError(`Model manifest ${file}: ${what}.`);
  };
  if (typeof json !== 'object' || json === null) bad('must be a JSON object');
  const m = json as Partial<ModelManifest>;
  if (typeof m.name !== 'string' || !m.name) bad('"name" must be a non-empty string');
  const src = m.source as Partial<ModelSource> | undefined;
  if (!src || (src.type !== 'nsfwjs' && src.type !== 'layers')) bad('"source.type" must be "nsfwjs" or "layers"');
  if (src?.type === 'layers' && typeof (src as { path?: unknown }).path !== 'string') bad('"source.path" must name the model.json');
  const range = m.input?.range;
  if (!Array.isArray(range) || range.length !== 2 || !(range[0] < range[1])) bad('"input.range" must be [low, high]');
  if (!Array.isArray(m.dreamLayers) || m.dreamLayers.length === 0) bad('"dreamLayers" must list at least one layer');
  const layers = m.defaultLayers ?? [];
  if (layers.length === 0 || layers.some((l) => !m.dreamLayers!.includes(l))) bad('"defaultLayers" must be a non-empty subset of "dreamLayers"');
  const minSide = m.input?.minSide ?? 75;
  const explain = m.explain === undefined ? undefined : validateExplain(m.explain, m.dreamLayers!, minSide, bad);
  const screen = m.screen === undefined ? undefined : validateScreen(m.screen, m.dreamLayers!, minSide, bad);
  return {
    name: m.name!,
    title: m.title ?? m.name!,
    description: m.description,
    source: src as ModelSource,
    license: m.license,
    input: { range: range!, channels: 'rgb', minSide },
    dreamLayers: m.dreamLayers!,
    defaultLayers: layers,
    dir,
    ...(explain ? { explain } : {}),
    ...(screen ? { screen } : {}),
  };
}

function validateExplain(json: unknown, dreamLayers: string[], minSide: number, bad: (what: string) => never): ExplainSpec {
  if (typeof json !== 'object' || json === null) bad('"explain" must be an object');
  const e = json as Partial<ExplainSpec>;
  if (typeof e.featureLayer !== 'string' || !dreamLayers.includes(e.featureLayer)) bad('"explain.featureLayer" must be one of "dreamLayers"');
  if (typeof e.headLayer !== 'string' || !e.headLayer) bad('"explain.headLayer" must name the 1×1 convolution that gives the logits');
  if (typeof e.labels !== 'string' || !e.labels) bad('"explain.labels" must name a JSON file of class names');
  if (e.synsets !== undefined && (typeof e.synsets !== 'string' || !e.synsets)) bad('"explain.synsets" must name a JSON file of WordNet ids');
  const names = e.displayNames;
  if (names !== undefined && (typeof names !== 'object' || names === null || Object.entries(names).some(([k, v]) => !/^\d+$/.test(k) || typeof v !== 'string' || !v))) {
    bad('"explain.displayNames" must map class indices to names');
  }
  if (!Number.isInteger(e.inputSize) || e.inputSize! < minSide || e.inputSize! > 2048) bad(`"explain.inputSize" must be a whole number of pixels from ${minSide} to 2048`);
  if ((e.resize ?? 'squash') !== 'squash') bad('"explain.resize" must be "squash"');
  return {
    featureLayer: e.featureLayer!,
    headLayer: e.headLayer!,
    labels: e.labels!,
    ...(e.synsets ? { synsets: e.synsets } : {}),
    ...(names ? { displayNames: names } : {}),
    inputSize: e.inputSize!,
    resize: 'squash',
  };
}

function validateScreen(json: unknown, dreamLayers: string[], minSide: number, bad: (what: string) => never): ScreenSpec {
  if (typeof json !== 'object' || json === null) bad('"screen" must be an object');
  const e = json as Partial<ScreenSpec>;
  const names = (v: unknown): v is string[] => Array.isArray(v) && v.length > 0 && v.every((n) => typeof n === 'string' && n.length > 0);
  if (typeof e.featureLayer !== 'string' || !dreamLayers.includes(e.featureLayer)) bad('"screen.featureLayer" must be one of "dreamLayers"');
  if (!names(e.headLayers)) bad('"screen.headLayers" must list the Dense layers of the head, input to output');
  if (!names(e.classes) || new Set(e.classes).size !== e.classes.length) bad('"screen.classes" must list distinct class names');
  if (!names(e.explicit) || e.explicit.some((c) => !e.classes!.includes(c))) bad('"screen.explicit" must list some of "screen.classes"');
  if (!Number.isInteger(e.inputSize) || e.inputSize! < minSide || e.inputSize! > 2048) bad(`"screen.inputSize" must be a whole number of pixels from ${minSide} to 2048`);
  const resize = e.resize ?? 'antialiased';
  if (resize !== 'antialiased' && resize !== 'nsfwjs') bad('"screen.resize" must be "antialiased" or "nsfwjs"');
  return {
    featureLayer: e.featureLayer!,
    headLayers: e.headLayers!,
    classes: e.classes!,
    explicit: e.explicit!,
    inputSize: e.inputSize!,
    resize,
  };
}
