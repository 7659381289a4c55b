import type { io } from '@tensorflow/tfjs-core';
import { modelConfigOf, type KerasArtifacts, type KerasLayerJson } from './artifacts.ts';
import type { CompiledGraph, GraphNode, Padding, WeightRef } from './graph.ts';
import { ModelError } from './manifest.ts';

const BYTES: Record<string, number> = { uint8: 1, uint16: 2, float16: 2, float32: 4, int32: 4 };

/**
 * Reads only the named weights out of a tfjs weight buffer, dequantizing uint8/uint16 as tfjs does.
 * Exported for the parts of a model the dream trunk leaves out (a classifier head read by src/engine/explain).
 */
export class WeightReader {
  private readonly index = new Map<string, { offset: number; spec: io.WeightsManifestEntry }>();

  constructor(private readonly artifacts: KerasArtifacts) {
    let offset = 0;
    for (const spec of artifacts.weightSpecs) {
      const count = spec.shape.reduce((a, b) => a * b, 1);
      const dtype = spec.quantization?.dtype ?? spec.dtype;
      this.index.set(spec.name, { offset, spec });
      offset += count * (BYTES[dtype] ?? 4);
    }
  }

  has(layer: string, variable: string): boolean {
    return this.find(layer, variable) !== undefined;
  }

  private find(layer: string, variable: string) {
    const exact = this.index.get(`${layer}/${variable}`);
    if (exact) return exact;
    // Some exporters prefix the model name or suffix ":0".
    for (const [name, entry] of this.index) {
      const bare = name.replace(/:0$/, '');
      if (bare.endsWith(`/${layer}/${variable}`) || bare === `${layer}/${variable}`) return entry;
    }
    return undefined;
  }

  read(layer: string, variable: string): { data: Float32Array; shape: number[] } {
    const entry = this.find(layer, variable);
    if (!entry) throw new ModelError(`Weight ${layer}/${variable} is missing from the model's weight files.`);
    const { offset, spec } = entry;
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(count);
    const q = spec.quantization;
    const buf = this.artifacts.weightData;
    if (q && (q.dtype === 'uint8' || q.dtype === 'uint16') && q.scale !== undefined && q.min !== undefined) {
      const src = q.dtype === 'uint8' ? new Uint8Array(buf, offset, count) : new Uint16Array(buf.slice(offset, offset + count * 2));
      for (let i = 0; i < count; i++) out[i] = src[i] * q.scale + q.min;
    } else if (!q && spec.dtype === 'float32') {
      out.set(new Float32Array(buf.slice(offset, offset + count * 4)));
    } else {
      throw new ModelError(`Weight ${spec.name} uses an unsupported encoding (${q?.dtype ?? spec.dtype}).`);
    }
    return { data: out, shape: spec.shape };
  }
}

/** Collects folded weights into one Float32Array. */
class WeightPacker {
  private parts: Float32Array[] = [];
  private size = 0;

  add(data: Float32Array, shape: number[]): WeightRef {
    const ref = { offset: this.size, shape };
    this.parts.push(data);
    this.size += data.length;
    return ref;
  }

  pack(): Float32Array {
    const out = new Float32Array(this.size);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

function inboundNames(layer: KerasLayerJson): string[] {
  const node = layer.inbound_nodes[0];
  if (!node) return [];
  if (node.length > 0 && Array.isArray(node[0])) return (node as unknown[][]).map((entry) => String(entry[0]));
  throw new ModelError(`Layer ${layer.name}: unsupported inbound-node format (only Keras 2 topologies are compiled).`);
}

function pair(v: unknown, what: string): [number, number] {
  const arr = Array.isArray(v) ? v : [v, v];
  if (arr.length !== 2 || arr.some((n) => typeof n !== 'number')) throw new ModelError(`Bad ${what}: ${JSON.stringify(v)}`);
  return [arr[0] as number, arr[1] as number];
}

function padding(v: unknown, layer: string): Padding {
  if (v === 'same' || v === 'valid') return v;
  throw new ModelError(`Layer ${layer}: padding "${String(v)}" is not supported.`);
}

/** Layers needed to compute `targets`, in the model's (topological) order. */
function ancestors(layers: KerasLayerJson[], targets: string[]): KerasLayerJson[] {
  const byName = new Map(layers.map((l) => [l.name, l]));
  const needed = new Set<string>();
  const stack = [...targets];
  while (stack.length) {
    const name = stack.pop()!;
    if (needed.has(name)) continue;
    const layer = byName.get(name);
    if (!layer) throw new ModelError(`The model has no layer named "${name}".`);
    needed.add(name);
    stack.push(...inboundNames(layer));
  }
  return layers.filter((l) => needed.has(l.name));
}

/**
 * Compiles the part of a Keras functional model that `targets` depend on (the "trunk").
 * Conv2D -> BatchNormalization -> ReLU chains become one conv node with folded weights,
 * which is both faster and avoids tfjs-layers' BatchNorm gradient bug (tfjs#2868).
 */
export function compileKeras(artifacts: KerasArtifacts, targets: string[]): CompiledGraph {
  const layers = ancestors(modelConfigOf(artifacts.modelTopology).layers, targets);
  const reader = new WeightReader(artifacts);
  const packer = new WeightPacker();
  const nodes: GraphNode[] = [];
  const outputs: Record<string, string> = {};
  /** Conv nodes still open for folding a following BatchNorm / ReLU, with their unpacked weights. */
  const open = new Map<string, { kernel: Float32Array; kernelShape: number[]; bias: Float32Array; node: Extract<GraphNode, { op: 'conv' }>; relu: boolean; foldedBn: boolean }>();
  const consumers = new Map<string, number>();
  for (const l of layers) for (const src of inboundNames(l)) consumers.set(src, (consumers.get(src) ?? 0) + 1);

  const source = (layer: KerasLayerJson): string => {
    const names = inboundNames(layer);
    if (names.length !== 1) throw new ModelError(`Layer ${layer.name} (${layer.class_name}) must have exactly one input.`);
    return outputs[names[0]];
  };
  /** The open conv that produced this layer's only input, if nothing else reads that input. */
  const foldable = (layer: KerasLayerJson) => {
    const names = inboundNames(layer);
    if (names.length !== 1 || (consumers.get(names[0]) ?? 0) !== 1) return undefined;
    return open.get(outputs[names[0]]);
  };

  for (const layer of layers) {
    const c = layer.config;
    switch (layer.class_name) {
      case 'InputLayer':
        if (nodes.length) throw new ModelError('Models with more than one input are not supported.');
        nodes.push({ op: 'input', name: layer.name });
        outputs[layer.name] = layer.name;
        break;
      case 'Conv2D': {
        if (c.data_format && c.data_format !== 'channels_last') throw new ModelError(`Layer ${layer.name}: only channels_last is supported.`);
        const dil = pair(c.dilation_rate ?? 1, 'dilation_rate');
        if (dil[0] !== 1 || dil[1] !== 1) throw new ModelError(`Layer ${layer.name}: dilated convolutions are not supported.`);
        const act = String(c.activation ?? 'linear');
        if (act !== 'linear' && act !== 'relu') throw new ModelError(`Layer ${layer.name}: activation "${act}" is not supported.`);
        const k = reader.read(layer.name, 'kernel');
        const bias = c.use_bias === false ? new Float32Array(k.shape[3]) : reader.read(layer.name, 'bias').data;
        const node: Extract<GraphNode, { op: 'conv' }> = {
          op: 'conv',
          name: layer.name,
          input: source(layer),
          kernel: { offset: -1, shape: k.shape },
          bias: { offset: -1, shape: [k.shape[3]] },
          strides: pair(c.strides ?? 1, 'strides'),
          padding: padding(c.padding ?? 'valid', layer.name),
          relu: act === 'relu',
        };
        nodes.push(node);
        open.set(layer.name, { kernel: k.data, kernelShape: k.shape, bias, node, relu: node.relu, foldedBn: false });
        outputs[layer.name] = layer.name;
        break;
      }
      case 'BatchNormalization': {
        const axis = c.axis;
        if (axis !== 3 && axis !== -1 && !(Array.isArray(axis) && (axis[0] === 3 || axis[0] === -1))) {
          throw new ModelError(`Layer ${layer.name}: BatchNormalization over axis ${JSON.stringify(axis)} is not supported.`);
        }
        const eps = typeof c.epsilon === 'number' ? c.epsilon : 1e-3;
        const mean = reader.read(layer.name, 'moving_mean').data;
        const variance = reader.read(layer.name, 'moving_variance').data;
        const n = mean.length;
        // Keras: scale:false means gamma = 1, center:false means beta = 0.
        const gamma = c.scale === false ? new Float32Array(n).fill(1) : reader.read(layer.name, 'gamma').data;
        const beta = c.center === false ? new Float32Array(n) : reader.read(layer.name, 'beta').data;
        const scale = new Float32Array(n);
        const shift = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          scale[i] = gamma[i] / Math.sqrt(variance[i] + eps);
          shift[i] = beta[i] - mean[i] * scale[i];
        }
        const conv = foldable(layer);
        if (conv && !conv.relu && !conv.foldedBn) {
          const co = conv.kernelShape[3];
          for (let i = 0; i < conv.kernel.length; i++) conv.kernel[i] *= scale[i % co];
          for (let i = 0; i < co; i++) conv.bias[i] = conv.bias[i] * scale[i] + shift[i];
          conv.foldedBn = true;
          outputs[layer.name] = conv.node.name;
        } else {
          nodes.push({ op: 'affine', name: layer.name, input: source(layer), scale: packer.add(scale, [n]), shift: packer.add(shift, [n]) });
          outputs[layer.name] = layer.name;
        }
        break;
      }
      case 'Activation':
      case 'ReLU': {
        const act = layer.class_name === 'ReLU' ? 'relu' : String(c.activation);
        if (act === 'linear') {
          outputs[layer.name] = source(layer);
          break;
        }
        if (act !== 'relu') throw new ModelError(`Layer ${layer.name}: activation "${act}" is not supported.`);
        if (layer.class_name === 'ReLU' && (c.max_value != null || (typeof c.threshold === 'number' && c.threshold !== 0))) {
          throw new ModelError(`Layer ${layer.name}: only a plain or leaky ReLU is supported.`);
        }
        if (layer.class_name === 'ReLU' && typeof c.negative_slope === 'number' && c.negative_slope !== 0) {
          nodes.push({ op: 'leakyRelu', name: layer.name, input: source(layer), alpha: c.negative_slope });
          outputs[layer.name] = layer.name;
          break;
        }
        const conv = foldable(layer);
        if (conv && !conv.relu) {
          conv.relu = true;
          conv.node.relu = true;
          outputs[layer.name] = conv.node.name;
        } else {
          nodes.push({ op: 'relu', name: layer.name, input: source(layer) });
          outputs[layer.name] = layer.name;
        }
        break;
      }
      case 'LeakyReLU': {
        // Keras 2 calls the slope `alpha` (default 0.3), Keras 3 `negative_slope`. Its own node: folding it into
        // the conv would need a leaky conv everywhere the graph runs, for no measurable gain.
        const alpha = c.alpha ?? c.negative_slope ?? 0.3;
        if (typeof alpha !== 'number' || !Number.isFinite(alpha)) throw new ModelError(`Layer ${layer.name}: bad LeakyReLU slope ${JSON.stringify(alpha)}.`);
        nodes.push({ op: 'leakyRelu', name: layer.name, input: source(layer), alpha });
        outputs[layer.name] = layer.name;
        break;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D':
        nodes.push({
          op: layer.class_name === 'MaxPooling2D' ? 'maxPool' : 'avgPool',
          name: layer.name,
          input: source(layer),
          size: pair(c.pool_size ?? 2, 'pool_size'),
          strides: pair(c.strides ?? c.pool_size ?? 2, 'strides'),
          padding: padding(c.padding ?? 'valid', layer.name),
        });
        outputs[layer.name] = layer.name;
        break;
      case 'Concatenate':
      case 'Add': {
        if (layer.class_name === 'Concatenate' && c.axis !== -1 && c.axis !== 3) throw new ModelError(`Layer ${layer.name}: only channel concatenation is supported.`);
        const inputs = inboundNames(layer).map((n) => outputs[n]);
        nodes.push({ op: layer.class_name === 'Add' ? 'add' : 'concat', name: layer.name, inputs });
        outputs[layer.name] = layer.name;
        break;
      }
      case 'Dropout':
        outputs[layer.name] = source(layer);
        break;
      default:
        throw new ModelError(`Layer ${layer.name} of type ${layer.class_name} is not supported by the dream compiler.`);
    }
    // A layer that reads an open conv closes it: its weights are final.
    for (const name of inboundNames(layer)) {
      const producer = outputs[name];
      const conv = open.get(producer);
      if (conv && outputs[layer.name] !== producer) {
        conv.node.kernel = packer.add(conv.kernel, conv.kernelShape);
        conv.node.bias = packer.add(conv.bias, [conv.kernelShape[3]]);
        open.delete(producer);
      }
    }
  }
  for (const conv of open.values()) {
    conv.node.kernel = packer.add(conv.kernel, conv.kernelShape);
    conv.node.bias = packer.add(conv.bias, [conv.kernelShape[3]]);
  }
  return { nodes, outputs, weights: packer.pack() };
}
