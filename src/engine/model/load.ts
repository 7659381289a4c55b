import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadArtifacts } from './artifacts.ts';
import { compileKeras } from './compile.ts';
import type { CompiledGraph, GraphNode } from './graph.ts';
import { loadManifest, MODELS_DIR, type ModelDirs, type ModelManifest } from './manifest.ts';
import { loadStyleHead, type StyleHead } from '../style/head.ts';
import { fineTunedGraph } from '../style/own-trunk.ts';

/** Bump when the compiled format or the folding changes, so stale caches are ignored. */
const COMPILER_VERSION = 2;

export interface LoadedModel {
  manifest: ModelManifest;
  graph: CompiledGraph;
  /** True when the compiled weights came from the on-disk cache. */
  fromCache: boolean;
  /** A style's classifier head (the graph is then its trunk's). */
  head?: StyleHead;
  /** The folder this graph is cached in (a backend may cache what it derives from the graph there too). */
  cacheDir: string;
}

export interface LoadOptions extends ModelDirs {
  /** Default: models/.cache. */
  cacheDir?: string;
  onWarning?: (message: string) => void;
}

/** Where compiled weights (and emitted ONNX models) are cached unless a folder is given. */
export const DEFAULT_CACHE_DIR = path.join(MODELS_DIR, '.cache');

/** Identifies the exact weights: manifest, compiler version and the source files' identity. */
async function cacheKey(manifest: ModelManifest): Promise<string> {
  const hash = createHash('sha256');
  // The explain block (labels, head) is read beside the trunk, not compiled into it.
  hash.update(JSON.stringify({ ...manifest, dir: undefined, explain: undefined, COMPILER_VERSION }));
  if (manifest.source.type === 'layers') {
    const file = path.resolve(manifest.dir, manifest.source.path);
    const st = await stat(file).catch(() => null);
    hash.update(`${file}:${st?.size}:${st?.mtimeMs}`);
  }
  return hash.digest('hex').slice(0, 16);
}

async function readCache(dir: string): Promise<CompiledGraph | null> {
  try {
    const meta = JSON.parse(await readFile(path.join(dir, 'graph.json'), 'utf8')) as { nodes: GraphNode[]; outputs: Record<string, string> };
    const bin = await readFile(path.join(dir, 'weights.bin'));
    // Copy into an aligned buffer: a Buffer may sit at any byte offset of a shared pool.
    const weights = new Float32Array(bin.byteLength / 4);
    new Uint8Array(weights.buffer).set(bin);
    return { nodes: meta.nodes, outputs: meta.outputs, weights };
  } catch {
    return null;
  }
}

async function writeCache(dir: string, graph: CompiledGraph): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tmp = `.tmp-${process.pid}-${Date.now()}`;
  const bin = Buffer.from(graph.weights.buffer, graph.weights.byteOffset, graph.weights.byteLength);
  await writeFile(path.join(dir, `weights.bin${tmp}`), bin);
  await writeFile(path.join(dir, `graph.json${tmp}`), JSON.stringify({ nodes: graph.nodes, outputs: graph.outputs }));
  // weights first, graph.json last: a reader that sees graph.json sees complete weights.
  await rename(path.join(dir, `weights.bin${tmp}`), path.join(dir, 'weights.bin'));
  await rename(path.join(dir, `graph.json${tmp}`), path.join(dir, 'graph.json'));
}

/**
 * Loads a model's dream trunk (everything its dream layers depend on), compiled to plain ops.
 * The first load decodes and folds the weights and caches the result; later loads read the cache.
 */
export async function loadCompiledModel(
  nameOrDir: string,
  opts: LoadOptions = {},
): Promise<LoadedModel> {
  const manifest = await loadManifest(nameOrDir, opts);
  if (manifest.style) {
    // A style is its trunk's compiled graph (shared cache) plus a small head.
    const trunk = await loadCompiledModel(manifest.style.trunkDir, opts);
    const head = await loadStyleHead(manifest);
    // A fine-tuned style runs on its own trunk (its blocks' weights in place), with a cache of its own.
    if (manifest.style.fineTune) return { ...trunk, ...(await fineTunedGraph(manifest, trunk.graph, opts.cacheDir ?? DEFAULT_CACHE_DIR)), manifest, head };
    return { ...trunk, manifest, head };
  }
  const dir = path.join(opts.cacheDir ?? DEFAULT_CACHE_DIR, `${manifest.name}-${await cacheKey(manifest)}`);
  const cached = await readCache(dir);
  if (cached) return { manifest, graph: cached, fromCache: true, cacheDir: dir };
  const graph = compileKeras(await loadArtifacts(manifest), manifest.dreamLayers);
  await writeCache(dir, graph).catch((err: Error) => opts.onWarning?.(`Could not cache the compiled model in ${dir}: ${err.message}`));
  return { manifest, graph, fromCache: false, cacheDir: dir };
}
