import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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
}

export class ModelError extends Error {
  override name = 'ModelError';
}

export const MODELS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../models');

/** Reads and validates `<dir>/manifest.json`. `nameOrDir` is a model name under models/ or a folder path. */
export async function loadManifest(nameOrDir: string, modelsDir = MODELS_DIR): Promise<ModelManifest> {
  const dir = nameOrDir.includes('/') || nameOrDir.includes(path.sep) ? path.resolve(nameOrDir) : path.join(modelsDir, nameOrDir);
  const file = path.join(dir, 'manifest.json');
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
  } catch {
    throw new ModelError(`Unknown model "${nameOrDir}": no manifest at ${file}.`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new ModelError(`Model manifest ${file} is not valid JSON: ${(err as Error).message}`);
  }
  return validateManifest(json, dir, file);
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
  return {
    name: m.name!,
    title: m.title ?? m.name!,
    description: m.description,
    source: src as ModelSource,
    license: m.license,
    input: { range: range!, channels: 'rgb', minSide: m.input?.minSide ?? 75 },
    dreamLayers: m.dreamLayers!,
    defaultLayers: layers,
    dir,
  };
}
