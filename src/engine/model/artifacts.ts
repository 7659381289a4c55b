import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { io } from '@tensorflow/tfjs-core';
import { ModelError, type ModelManifest } from './manifest.ts';

/** A Keras model as tfjs stores it: topology JSON plus one weight buffer described by specs. */
export interface KerasArtifacts {
  modelTopology: KerasTopology;
  weightSpecs: io.WeightsManifestEntry[];
  weightData: ArrayBuffer;
}

export interface KerasLayerJson {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  /** Keras 2 form: [[[inboundLayer, nodeIndex, tensorIndex, kwargs], ...]] */
  inbound_nodes: unknown[][];
}

export interface KerasTopology {
  model_config?: { class_name: string; config: KerasModelConfig };
  class_name?: string;
  config?: KerasModelConfig;
}

export interface KerasModelConfig {
  name: string;
  layers: KerasLayerJson[];
  input_layers: unknown[];
  output_layers: unknown[];
}

interface ModelJsonFile {
  modelTopology: KerasTopology;
  weightsManifest: io.WeightsManifestConfig;
}

/** The functional-model config inside a topology, whichever of the two tfjs layouts it uses. */
export function modelConfigOf(topology: KerasTopology): KerasModelConfig {
  const cfg = topology.model_config?.config ?? topology.config;
  if (!cfg || !Array.isArray(cfg.layers)) throw new ModelError('The model topology has no functional-model layer list.');
  return cfg;
}

function concat(parts: Uint8Array[]): ArrayBuffer {
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out.buffer;
}

function specsOf(manifest: io.WeightsManifestConfig): io.WeightsManifestEntry[] {
  return manifest.flatMap((group) => group.weights);
}

interface NsfwjsBundle {
  modelJson: () => Promise<{ default: ModelJsonFile }>;
  weightBundles: (() => Promise<{ default: string }>)[];
}

/** nsfwjs ships its Keras model as UMD modules: the model.json object and base64 weight shards, each loaded on demand. */
async function nsfwjsBundle(exportName: string): Promise<NsfwjsBundle> {
  const mod = (await import(exportName)) as Record<string, unknown>;
  const entry = Object.values(mod).find((v): v is NsfwjsBundle => typeof v === 'object' && v !== null && 'modelJson' in v && 'weightBundles' in v);
  if (!entry) throw new ModelError(`${exportName} does not export a bundled model.`);
  return entry;
}

async function loadNsfwjs(exportName: string): Promise<KerasArtifacts> {
  const entry = await nsfwjsBundle(exportName);
  const json = (await entry.modelJson()).default;
  const shards = await Promise.all(entry.weightBundles.map(async (load) => Buffer.from((await load()).default, 'base64')));
  return { modelTopology: json.modelTopology, weightSpecs: specsOf(json.weightsManifest), weightData: concat(shards) };
}

async function readModelJson(modelJsonPath: string): Promise<ModelJsonFile> {
  let json: ModelJsonFile;
  try {
    json = JSON.parse(await readFile(modelJsonPath, 'utf8')) as ModelJsonFile;
  } catch (err) {
    throw new ModelError(`Cannot read model ${modelJsonPath}: ${(err as Error).message}`);
  }
  if (!json.modelTopology || !json.weightsManifest) throw new ModelError(`${modelJsonPath} is not a tfjs LayersModel (no modelTopology/weightsManifest).`);
  return json;
}

/** A tfjs LayersModel folder: model.json next to its binary weight files. */
async function loadLayersFolder(modelJsonPath: string): Promise<KerasArtifacts> {
  const json = await readModelJson(modelJsonPath);
  const dir = path.dirname(modelJsonPath);
  const files = json.weightsManifest.flatMap((group) => group.paths.map((p) => path.join(dir, p)));
  const parts = await Promise.all(files.map((f) => readFile(f)));
  return { modelTopology: json.modelTopology, weightSpecs: specsOf(json.weightsManifest), weightData: concat(parts) };
}

export async function loadArtifacts(manifest: ModelManifest): Promise<KerasArtifacts> {
  const src = manifest.source;
  return src.type === 'nsfwjs' ? loadNsfwjs(src.export) : loadLayersFolder(path.resolve(manifest.dir, src.path));
}

/** The topology alone, without reading the weights (InceptionV3's are 24 MB of base64 to decode): to name layers. */
export async function loadTopology(manifest: ModelManifest): Promise<KerasTopology> {
  const src = manifest.source;
  const json = src.type === 'nsfwjs' ? (await (await nsfwjsBundle(src.export)).modelJson()).default : await readModelJson(path.resolve(manifest.dir, src.path));
  return json.modelTopology;
}
