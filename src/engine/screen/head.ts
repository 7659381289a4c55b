// The screening classifier's head: Keras Dense layers on the global average of the trunk's last layer, run in JS.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadArtifacts, modelConfigOf, type KerasLayerJson } from '../model/artifacts.ts';
import { WeightReader } from '../model/compile.ts';
import type { CompiledGraph } from '../model/graph.ts';
import { ModelError, type ModelManifest, type ScreenSpec } from '../model/manifest.ts';
import { padAmounts } from '../padding.ts';

export interface DenseLayer {
  name: string;
  inputs: number;
  outputs: number;
  /** [inputs, outputs] row-major, as Keras stores a Dense kernel. */
  kernel: Float32Array;
  bias: Float32Array;
  activation: 'relu' | 'linear' | 'softmax';
}

export interface ScreenHead {
  spec: ScreenSpec;
  layers: DenseLayer[];
  /**
   * The pooling layer between the feature layer and the first Dense: a global average, or an AveragePooling2D
   * whose window must cover the whole feature map at `spec.inputSize` (checked against the compiled graph).
   */
  pool: { layer: string; global: true } | { layer: string; global: false; size: [number, number] };
}

const pair = (v: unknown): [number, number] => (Array.isArray(v) ? [Number(v[0]), Number(v[1])] : [Number(v), Number(v)]);

/**
 * The head of a manifest's `screen` block, from `cacheDir` (the compiled trunk's cache folder, keyed by the manifest)
 * when it was read before: decoding nsfwjs's bundle again for 2 MB of weights takes 1–2 s and 160 MB at start, and
 * 60 MB of it (the base64 shards, held by the module cache) would stay.
 */
export async function loadScreenHead(manifest: ModelManifest, cacheDir?: string): Promise<ScreenHead> {
  const cached = cacheDir ? await readCachedHead(cacheDir, manifest) : null;
  if (cached) return cached;
  const head = await readScreenHead(manifest);
  if (cacheDir) await writeCachedHead(cacheDir, head).catch(() => undefined);
  return head;
}

const HEAD_JSON = 'screen-head.json';
const HEAD_BIN = 'screen-head.bin';

type CachedHead = { layers: Omit<DenseLayer, 'kernel' | 'bias'>[]; pool: ScreenHead['pool'] };

async function readCachedHead(dir: string, manifest: ModelManifest): Promise<ScreenHead | null> {
  const spec = manifest.screen;
  if (!spec) return null;
  try {
    const meta = JSON.parse(await readFile(path.join(dir, HEAD_JSON), 'utf8')) as CachedHead;
    const bin = await readFile(path.join(dir, HEAD_BIN));
    // Copied out: a Buffer may sit at any byte offset of a shared pool.
    const floats = new Float32Array(bin.byteLength / 4);
    new Uint8Array(floats.buffer).set(bin);
    let at = 0;
    const take = (n: number) => floats.slice(at, (at += n));
    const layers = meta.layers.map((l) => ({ ...l, kernel: take(l.inputs * l.outputs), bias: take(l.outputs) }));
    const names = layers.map((l) => l.name).join();
    return at === floats.length && names === spec.headLayers.join() ? { spec, layers, pool: meta.pool } : null;
  } catch {
    return null;
  }
}

async function writeCachedHead(dir: string, head: ScreenHead): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tmp = `.tmp-${process.pid}-${Date.now()}`;
  const floats = head.layers.flatMap((l) => [l.kernel, l.bias]);
  const bin = new Float32Array(floats.reduce((n, f) => n + f.length, 0));
  floats.reduce((at, f) => (bin.set(f, at), at + f.length), 0);
  const meta: CachedHead = { layers: head.layers.map(({ name, inputs, outputs, activation }) => ({ name, inputs, outputs, activation })), pool: head.pool };
  await writeFile(path.join(dir, `${HEAD_BIN}${tmp}`), new Uint8Array(bin.buffer));
  await writeFile(path.join(dir, `${HEAD_JSON}${tmp}`), JSON.stringify(meta));
  // The weights first, the JSON last: a reader that sees the JSON sees complete weights.
  await rename(path.join(dir, `${HEAD_BIN}${tmp}`), path.join(dir, HEAD_BIN));
  await rename(path.join(dir, `${HEAD_JSON}${tmp}`), path.join(dir, HEAD_JSON));
}

/**
 * Reads the head named by a manifest's `screen` block with the compiler's weight reader and checks its shape: the
 * feature layer → (Global)AveragePooling2D → [Flatten] → Dense → [Dropout] → … → Dense softmax, nothing else.
 */
export async function readScreenHead(manifest: ModelManifest): Promise<ScreenHead> {
  const spec = manifest.screen;
  if (!spec) throw new ModelError(`Model ${manifest.name} cannot screen pictures: its manifest has no "screen" block.`);
  const bad = (what: string): never => {
    throw new ModelError(`Model ${manifest.name}: its screening head ${what}.`);
  };
  const artifacts = await loadArtifacts(manifest);
  const byName = new Map(modelConfigOf(artifacts.modelTopology).layers.map((l) => [l.name, l]));
  const inbound = (l: KerasLayerJson): string[] => ((l.inbound_nodes[0] as unknown[][] | undefined) ?? []).map((entry) => String(entry[0]));
  /** The layer feeding `l`, past Dropout (identity at inference) and Flatten (identity on a [1, 1, C] map). */
  const feeder = (l: KerasLayerJson): KerasLayerJson => {
    const names = inbound(l);
    if (names.length !== 1) bad(`layer ${l.name} does not have exactly one input`);
    const up = byName.get(names[0]) ?? bad(`layer ${l.name} reads an unknown layer ${names[0]}`);
    return up.class_name === 'Dropout' || up.class_name === 'Flatten' ? feeder(up) : up;
  };
  const reader = new WeightReader(artifacts);
  const layers: DenseLayer[] = [];
  spec.headLayers.forEach((name, i) => {
    const layer = byName.get(name) ?? bad(`layer ${name} is not a layer of the model`);
    const c = layer.config;
    if (layer.class_name !== 'Dense') bad(`layer ${name} is a ${layer.class_name}, not a Dense`);
    const last = i === spec.headLayers.length - 1;
    const activation = String(c.activation ?? 'linear');
    if (last ? activation !== 'softmax' : activation !== 'relu' && activation !== 'linear') bad(`layer ${name} has activation "${activation}" (${last ? 'the last must be softmax' : 'relu or linear before the last'})`);
    if (i > 0 && feeder(layer).name !== spec.headLayers[i - 1]) bad(`layer ${name} does not read ${spec.headLayers[i - 1]}`);
    const kernel = reader.read(name, 'kernel');
    const [inputs, outputs] = kernel.shape;
    if (kernel.shape.length !== 2) bad(`layer ${name} has a kernel of shape ${JSON.stringify(kernel.shape)}`);
    if (i > 0 && inputs !== layers[i - 1].outputs) bad(`layer ${name} takes ${inputs} inputs from ${layers[i - 1].outputs} outputs`);
    const bias = c.use_bias === false ? new Float32Array(outputs) : reader.read(name, 'bias').data;
    if (bias.length !== outputs) bad(`layer ${name} has ${bias.length} biases for ${outputs} outputs`);
    layers.push({ name, inputs, outputs, kernel: kernel.data, bias, activation: activation as DenseLayer['activation'] });
  });
  if (layers[layers.length - 1].outputs !== spec.classes.length) bad(`has ${layers[layers.length - 1].outputs} outputs for ${spec.classes.length} classes`);
  const poolLayer = feeder(byName.get(spec.headLayers[0])!);
  if (inbound(poolLayer).length !== 1 || inbound(poolLayer)[0] !== spec.featureLayer) bad(`does not pool ${spec.featureLayer} directly`);
  if (poolLayer.class_name === 'GlobalAveragePooling2D') return { spec, layers, pool: { layer: poolLayer.name, global: true } };
  if (poolLayer.class_name !== 'AveragePooling2D') bad(`reads a ${poolLayer.class_name}, not an average pooling of ${spec.featureLayer}`);
  if ((poolLayer.config.padding ?? 'valid') !== 'valid') bad(`pools ${spec.featureLayer} with "same" padding`);
  return { spec, layers, pool: { layer: poolLayer.name, global: false, size: pair(poolLayer.config.pool_size) } };
}

/** Height and width of a compiled layer's output for a square input of `side` pixels. */
export function featureMapSize(graph: CompiledGraph, layer: string, side: number): [number, number] {
  const sizes = new Map<string, [number, number]>();
  for (const node of graph.nodes) {
    switch (node.op) {
      case 'input':
        sizes.set(node.name, [side, side]);
        break;
      case 'conv':
      case 'maxPool':
      case 'avgPool': {
        const [h, w] = sizes.get(node.input)!;
        const k = node.op === 'conv' ? [node.kernel.shape[0], node.kernel.shape[1]] : node.size;
        sizes.set(node.name, [padAmounts(h, k[0], node.strides[0], node.padding).out, padAmounts(w, k[1], node.strides[1], node.padding).out]);
        break;
      }
      case 'concat':
      case 'add':
        sizes.set(node.name, sizes.get(node.inputs[0])!);
        break;
      default:
        sizes.set(node.name, sizes.get(node.input)!);
    }
  }
  const size = sizes.get(graph.outputs[layer] ?? '');
  if (!size) throw new Error(`internal: the compiled graph has no layer ${layer}`);
  return size;
}

/**
 * Checks the head against the compiled trunk: its first Dense reads as many features as the layer has channels,
 * and an AveragePooling2D's window is the whole feature map at the input size (so it is the global average the
 * network pools).
 */
export function checkHeadFits(head: ScreenHead, graph: CompiledGraph, channels: number, model: string): void {
  const bad = (what: string): never => {
    throw new ModelError(`Model ${model}: its screening head ${what}.`);
  };
  if (head.layers[0].inputs !== channels) bad(`reads ${head.layers[0].inputs} features, ${head.spec.featureLayer} has ${channels} channels`);
  if (!head.pool.global) {
    const [h, w] = featureMapSize(graph, head.spec.featureLayer, head.spec.inputSize);
    const [ph, pw] = head.pool.size;
    if (ph !== h || pw !== w) bad(`pools ${ph}×${pw} windows of a ${h}×${w} map at ${head.spec.inputSize} px, not the whole map`);
  }
}

/** Class probabilities of one picture's pooled features, in float64 (the head is tiny: 0.6 M multiply-adds). */
export function headProbabilities(head: ScreenHead, features: ArrayLike<number>): Float64Array {
  let x = Float64Array.from(features);
  for (const layer of head.layers) {
    const y = Float64Array.from(layer.bias);
    const { kernel, outputs } = layer;
    for (let i = 0; i < layer.inputs; i++) {
      const v = x[i];
      if (v === 0) continue;
      const row = i * outputs;
      for (let j = 0; j < outputs; j++) y[j] += v * kernel[row + j];
    }
    if (layer.activation === 'relu') for (let j = 0; j < outputs; j++) y[j] = Math.max(0, y[j]);
    if (layer.activation === 'softmax') {
      const max = Math.max(...y);
      let sum = 0;
      for (let j = 0; j < outputs; j++) sum += y[j] = Math.exp(y[j] - max);
      for (let j = 0; j < outputs; j++) y[j] /= sum;
    }
    x = y;
  }
  return x;
}
