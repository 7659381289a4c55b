// A fine-tuned style's own trunk: the stock compiled trunk with its fine-tuned blocks' weights put in place.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { graphDigest, withBlockWeights } from '../model/blocks.ts';
import type { CompiledGraph } from '../model/graph.ts';
import { ModelError, type ModelManifest } from '../model/manifest.ts';
import { decodeWeights } from './weights-file.ts';

/**
 * The style's graph and the cache folder its derived models (ONNX) go in, keyed by the fine-tuned weights. Refuses
 * a style fine-tuned from other trunk weights than `trunk` (another version of the model, say): its blocks were
 * trained on that trunk's activations.
 */
export async function fineTunedGraph(style: ModelManifest, trunk: CompiledGraph, cacheRoot: string): Promise<{ graph: CompiledGraph; cacheDir: string }> {
  const ft = style.style?.fineTune;
  if (!ft) throw new ModelError(`Style ${style.name} is not fine-tuned.`);
  const digest = graphDigest(trunk);
  if (digest !== ft.trunkDigest) {
    throw new ModelError(`Style ${style.name} was fine-tuned on another ${style.style!.trunk} (weights ${ft.trunkDigest}, installed ${digest}): train it again.`);
  }
  const weights = await decodeWeights(style.dir, ft.weightsManifest, `Style ${style.name}`);
  const convs = new Set(trunk.nodes.filter((n) => n.op === 'conv').map((n) => n.name));
  const stray = [...weights.keys()].find((name) => !convs.has(name.replace(/\/(kernel|bias)$/, '')));
  if (stray) throw new ModelError(`Style ${style.name}: its trunk has no convolution for weight ${stray}.`);
  let graph: CompiledGraph;
  try {
    graph = withBlockWeights(trunk, weights);
  } catch (err) {
    throw new ModelError(`Style ${style.name}: ${(err as Error).message}`);
  }
  return { graph, cacheDir: ownTrunkCacheDir(cacheRoot, style.style!.trunk, digest, weights) };
}

/**
 * The cache folder of a fine-tuned trunk (`<trunk>-ft-<key>`): keyed by the stock trunk's digest and the blocks' exact
 * weights, so styles with the same weights (the same training run repeated) share it and any change gets a new one.
 */
export function ownTrunkCacheDir(cacheRoot: string, trunk: string, trunkDigest: string, weights: Map<string, Float32Array>): string {
  const key = createHash('sha256').update(trunkDigest);
  for (const [name, w] of [...weights].sort(([a], [b]) => (a < b ? -1 : 1))) key.update(name).update(new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
  return path.join(cacheRoot, `${trunk}-ft-${key.digest('hex').slice(0, 16)}`);
}
