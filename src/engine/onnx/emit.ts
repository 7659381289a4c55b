import onnxProto from 'onnx-proto';
import type { CompiledGraph, GraphNode, Padding } from '../model/graph.ts';
import { nodeChannels, weightView } from '../model/graph.ts';

const { onnx } = onnxProto;
type Attribute = onnxProto.onnx.IAttributeProto;
type Dim = onnxProto.onnx.TensorShapeProto.IDimension;
const AttrType = onnx.AttributeProto.AttributeType;
const DataType = onnx.TensorProto.DataType;

/** Bump whenever the emitted graph changes, so cached `.onnx` files are not reused. */
export const EMITTER_VERSION = 3;

const OPSET = 17;
const IR_VERSION = 8;

export interface EmitOptions {
  /** The pixel range the network expects; `image` comes in [0, 1]. */
  inputRange: [number, number];
  /** The deepest layer the model must compute. */
  cutLayer: string;
  /**
   * Gradient model: layers with an objective term, each with a `w_<layer>` input of per-channel weights.
   * Forward model: layers whose global average is an output (`pooled_<layer>`, `[N, C]`).
   */
  terms: string[];
  /** True: `image` [1,3,H,W] + weights -> `loss`, `grad` [1,3,H,W]. False: a forward-only model with batch N. */
  gradient: boolean;
  /** Forward model only: layers whose full activations are outputs too (`act_<layer>`, NCHW), for tests. */
  activations?: string[];
  /**
   * Gradient model only: layers with a guide term, each with a `g_<layer>` input of guide vectors `[n, C]`
   * (n ≥ 1). Left out (not empty) for unguided models, so their options and cache files stay as they were.
   */
  guides?: string[];
}

export const weightInputName = (layer: string): string => `w_${layer}`;
export const guideInputName = (layer: string): string => `g_${layer}`;
export const pooledOutputName = (layer: string): string => `pooled_${layer}`;
export const activationOutputName = (layer: string): string => `act_${layer}`;

const ints = (name: string, values: number[]): Attribute => ({ name, type: AttrType.INTS, ints: values });
const int = (name: string, value: number): Attribute => ({ name, type: AttrType.INT, i: value });
const float = (name: string, value: number): Attribute => ({ name, type: AttrType.FLOAT, f: value });
const str = (name: string, value: string): Attribute => ({ name, type: AttrType.STRING, s: new TextEncoder().encode(value) });

function floatBytes(data: Float32Array): Uint8Array {
  // raw_data is little-endian; so is every platform onnxruntime-node ships for.
  return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
}

/** Nodes and initializers, with fresh deterministic tensor names and shared constants. */
class Builder {
  readonly nodes: onnxProto.onnx.INodeProto[] = [];
  readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly constants = new Map<string, string>();
  private counter = 0;

  fresh(prefix: string): string {
    return `${prefix}#${this.counter++}`;
  }

  /** Adds a node; returns its output names (`outputs` given, or fresh ones). */
  op(opType: string, inputs: string[], attrs: Attribute[] = [], outputs: string[] | number = 1): string[] {
    const names = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(opType)) : outputs;
    this.nodes.push({ opType, input: inputs, output: names, attribute: attrs, name: `n${this.nodes.length}` });
    return names;
  }

  op1(opType: string, inputs: string[], attrs: Attribute[] = [], output?: string): string {
    return this.op(opType, inputs, attrs, output === undefined ? 1 : [output])[0];
  }

  floats(name: string, data: Float32Array, dims: number[]): string {
    this.initializers.push({ name, dataType: DataType.FLOAT, dims, rawData: floatBytes(data) });
    return name;
  }

  /** A shared constant (int64 tensor or float scalar). */
  int64s(values: number[], dims: number[] = [values.length]): string {
    const key = `i64:${dims.join('x')}:${values.join(',')}`;
    let name = this.constants.get(key);
    if (!name) {
      name = `const_${key}`;
      const raw = new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer);
      this.initializers.push({ name, dataType: DataType.INT64, dims, rawData: raw });
      this.constants.set(key, name);
    }
    return name;
  }

  scalar(value: number): string {
    const key = `f32:${value}`;
    let name = this.constants.get(key);
    if (!name) {
      name = `const_${key}`;
      this.floats(name, Float32Array.of(value), []);
      this.constants.set(key, name);
    }
    return name;
  }
}

/** Static ONNX pads [top, left, bottom, right] for TensorFlow padding, or an error if they depend on the input size. */
function staticPads(node: { name: string }, k: [number, number], strides: [number, number], padding: Padding): number[] {
  if (padding === 'valid') return [0, 0, 0, 0];
  if (strides[0] !== 1 || strides[1] !== 1) {
    throw new Error(
      `Cannot emit ${node.name} as ONNX: TensorFlow 'same' padding with stride ${strides.join('x')} depends on the input size, and ONNX needs static pads.`,
    );
  }
  // Stride 1: total k-1, the odd one at the end (bottom/right), as TensorFlow does.
  const before = k.map((n) => Math.floor((n - 1) / 2));
  return [before[0], before[1], k[0] - 1 - before[0], k[1] - 1 - before[1]];
}

/**
 * A 2×2, stride-2 'same' max pool (Darknet's): TensorFlow pads at most one row/column, after, with -inf, which
 * is ONNX's ceil_mode with no pads at every input size (the last window is clipped to the input).
 */
function ceilModeMaxPool(node: Extract<GraphNode, { op: 'maxPool' | 'avgPool' }>): boolean {
  return node.op === 'maxPool' && node.padding === 'same' && node.size.every((k, i) => k === 2 && node.strides[i] === 2);
}

/** Pads of the stride-1 adjoint of a window op: the window flipped, so each side gets k-1-p. */
function mirroredPads(k: [number, number], pads: number[]): number[] {
  return [k[0] - 1 - pads[0], k[1] - 1 - pads[1], k[0] - 1 - pads[2], k[1] - 1 - pads[3]];
}

/** [kh, kw, in, out] (HWIO) -> ONNX [out, in, kh, kw]; with `flip`, the adjoint's [in, out, kh, kw] flipped in space. */
function convWeights(hwio: Float32Array, shape: number[], flip: boolean): Float32Array {
  const [kh, kw, ci, co] = shape;
  const out = new Float32Array(hwio.length);
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      for (let i = 0; i < ci; i++) {
        for (let o = 0; o < co; o++) {
          const v = hwio[((a * kw + b) * ci + i) * co + o];
          if (flip) out[((i * co + o) * kh + (kh - 1 - a)) * kw + (kw - 1 - b)] = v;
          else out[((o * ci + i) * kh + a) * kw + b] = v;
        }
      }
    }
  }
  return out;
}

function layerNode(graph: CompiledGraph, layer: string): string {
  const name = graph.outputs[layer];
  if (!name) throw new Error(`The network has no layer "${layer}".`);
  return name;
}

/** Names of every node `roots` depend on (roots included). */
export function ancestors(graph: CompiledGraph, roots: string[]): Set<string> {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const needed = new Set<string>();
  const stack = [...roots];
  while (stack.length) {
    const name = stack.pop()!;
    if (needed.has(name)) continue;
    const node = byName.get(name);
    if (!node) throw new Error(`internal: graph has no node ${name}`);
    needed.add(name);
    if ('input' in node) stack.push(node.input);
    if ('inputs' in node) stack.push(...node.inputs);
  }
  return needed;
}

function tensorType(dims: Dim[]): onnxProto.onnx.ITypeProto {
  return { tensorType: { elemType: DataType.FLOAT, shape: { dim: dims } } };
}

/**
 * The compiled graph as an ONNX model (opset 17): the forward pass and, for `gradient`, a hand-derived backward
 * pass giving d(Σ_l Σ_c w_l[c]·mean_hw(layer_l[c]) + Σ_guides mean_p max_j g_j·layer(p))/d(image). H and W are
 * free; only the nodes the layers need are emitted. Deterministic for the same graph and options.
 */
export function emitDreamModel(graph: CompiledGraph, opts: EmitOptions): Uint8Array {
  const b = new Builder();
  const channels = nodeChannels(graph);
  const activations = opts.gradient ? [] : (opts.activations ?? []);
  const layers = [...new Set([opts.cutLayer, ...opts.terms, ...activations, ...(opts.gradient ? (opts.guides ?? []) : [])])];
  const needed = ancestors(graph, layers.map((l) => layerNode(graph, l)));
  const plan = graph.nodes.filter((n) => needed.has(n.name));
  const inputDims: Dim[] = [opts.gradient ? { dimValue: 1 } : { dimParam: 'N' }, { dimValue: 3 }, { dimParam: 'H' }, { dimParam: 'W' }];

  // Forward. `value` maps a node to its output tensor; `pads` keeps the pads each window op used.
  const value = new Map<string, string>();
  const pads = new Map<string, number[]>();
  const get = (m: Map<string, string>, k: string): string => {
    const v = m.get(k);
    if (v === undefined) throw new Error(`internal: no tensor for ${k}`);
    return v;
  };
  const [lo, hi] = opts.inputRange;
  for (const node of plan) {
    const out = `f/${node.name}`;
    switch (node.op) {
      case 'input': {
        let x = 'image';
        if (hi - lo !== 1) x = b.op1('Mul', [x, b.scalar(hi - lo)]);
        x = lo !== 0 ? b.op1('Add', [x, b.scalar(lo)], [], out) : b.op1('Identity', [x], [], out);
        value.set(node.name, x);
        break;
      }
      case 'conv': {
        const [kh, kw, ci, co] = node.kernel.shape;
        const k: [number, number] = [kh, kw];
        const p = staticPads(node, k, node.strides, node.padding);
        pads.set(node.name, p);
        const w = b.floats(`${node.name}/W`, convWeights(weightView(graph, node.kernel), node.kernel.shape, false), [co, ci, kh, kw]);
        const bias = b.floats(`${node.name}/B`, weightView(graph, node.bias), [co]);
        const attrs = [ints('kernel_shape', k), ints('strides', node.strides), ints('pads', p)];
        const conv = b.op1('Conv', [get(value, node.input), w, bias], attrs, node.relu ? undefined : out);
        value.set(node.name, node.relu ? b.op1('Relu', [conv], [], out) : conv);
        break;
      }
      case 'maxPool':
      case 'avgPool': {
        const ceil = ceilModeMaxPool(node);
        const p = ceil ? [0, 0, 0, 0] : staticPads(node, node.size, node.strides, node.padding);
        pads.set(node.name, p);
        const attrs = [ints('kernel_shape', node.size), ints('strides', node.strides), ints('pads', p), ...(ceil ? [int('ceil_mode', 1)] : [])];
        const x = get(value, node.input);
        if (node.op === 'avgPool') {
          // TensorFlow averages over the valid pixels only.
          value.set(node.name, b.op1('AveragePool', [x], [...attrs, int('count_include_pad', 0)], out));
        } else if (opts.gradient) {
          // The indices (flat NCHW offsets into x) route the gradient back exactly.
          value.set(node.name, b.op('MaxPool', [x], attrs, [out, `${out}/indices`])[0]);
        } else {
          value.set(node.name, b.op1('MaxPool', [x], attrs, out));
        }
        break;
      }
      case 'concat':
        value.set(node.name, b.op1('Concat', node.inputs.map((n) => get(value, n)), [int('axis', 1)], out));
        break;
      case 'add':
        value.set(node.name, b.op1('Sum', node.inputs.map((n) => get(value, n)), [], out));
        break;
      case 'relu':
        value.set(node.name, b.op1('Relu', [get(value, node.input)], [], out));
        break;
      case 'leakyRelu':
        value.set(node.name, b.op1('LeakyRelu', [get(value, node.input)], [float('alpha', node.alpha)], out));
        break;
      case 'affine': {
        const c = channels.get(node.name) ?? 0;
        const scale = b.floats(`${node.name}/scale`, weightView(graph, node.scale), [1, c, 1, 1]);
        const shift = b.floats(`${node.name}/shift`, weightView(graph, node.shift), [1, c, 1, 1]);
        value.set(node.name, b.op1('Add', [b.op1('Mul', [get(value, node.input), scale]), shift], [], out));
        break;
      }
    }
  }

  const inputs: onnxProto.onnx.IValueInfoProto[] = [{ name: 'image', type: tensorType(inputDims) }];
  const outputs: onnxProto.onnx.IValueInfoProto[] = [];

  if (!opts.gradient) {
    for (const layer of opts.terms) {
      const name = pooledOutputName(layer);
      b.op1('ReduceMean', [get(value, layerNode(graph, layer))], [ints('axes', [2, 3]), int('keepdims', 0)], name);
      outputs.push({ name, type: tensorType([{ dimParam: 'N' }, { dimValue: channels.get(layerNode(graph, layer)) }]) });
    }
    for (const layer of activations) {
      const name = activationOutputName(layer);
      b.op1('Identity', [get(value, layerNode(graph, layer))], [], name);
      const c = channels.get(layerNode(graph, layer));
      outputs.push({ name, type: tensorType([{ dimParam: 'N' }, { dimValue: c }, { dimParam: `H_${layer}` }, { dimParam: `W_${layer}` }]) });
    }
  } else {
    emitBackward(b, graph, plan, opts, value, pads, channels, inputs, outputs);
  }

  const model: onnxProto.onnx.IModelProto = {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'deepdream-bot',
    producerVersion: String(EMITTER_VERSION),
    graph: { name: `dream_${opts.cutLayer}`, node: b.nodes, initializer: b.initializers, input: inputs, output: outputs },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

function emitBackward(
  b: Builder,
  graph: CompiledGraph,
  plan: GraphNode[],
  opts: EmitOptions,
  value: Map<string, string>,
  pads: Map<string, number[]>,
  channels: Map<string, number>,
  inputs: onnxProto.onnx.IValueInfoProto[],
  outputs: onnxProto.onnx.IValueInfoProto[],
): void {
  const get = (k: string): string => {
    const v = value.get(k);
    if (v === undefined) throw new Error(`internal: no tensor for ${k}`);
    return v;
  };
  const grads = new Map<string, string[]>();
  const accumulate = (name: string, g: string) => {
    const list = grads.get(name);
    if (list) list.push(g);
    else grads.set(name, [g]);
  };
  const zero = b.scalar(0);
  const spatial = (x: string) => b.op1('Shape', [x], [int('start', 2), int('end', 4)]);

  // Loss terms and their seeds: d/d(act) of Σ_c w[c]·mean_hw(act[c]) is w[c] / (H·W) everywhere. A mean seed stays
  // [1, C, 1, 1] and is broadcast-added to the gradient flowing back (materialised only where none flows).
  const seeds = new Map<string, { name: string; full: boolean }[]>();
  const addSeed = (node: string, name: string, full: boolean) => {
    const list = seeds.get(node);
    if (list) list.push({ name, full });
    else seeds.set(node, [{ name, full }]);
  };
  const losses: string[] = [];
  const positionsOf = (act: string) => b.op1('Cast', [b.op1('ReduceProd', [spatial(act)], [int('keepdims', 0)])], [int('to', DataType.FLOAT)]);
  for (const layer of opts.terms) {
    const node = layerNode(graph, layer);
    const act = get(node);
    const c = channels.get(node) ?? 0;
    const w = weightInputName(layer);
    inputs.push({ name: w, type: tensorType([{ dimValue: c }]) });
    const means = b.op1('ReduceMean', [act], [ints('axes', [2, 3]), int('keepdims', 0)]);
    losses.push(b.op1('ReduceSum', [b.op1('Mul', [means, w]), b.int64s([0, 1])], [int('keepdims', 0)]));
    const positions = positionsOf(act);
    addSeed(node, b.op1('Div', [b.op1('Reshape', [w, b.int64s([1, c, 1, 1])]), positions]), false);
  }
  // Guide terms (the DeepDream notebook's objective_guide): scores [n, H·W] = guide · act, the loss is the mean over
  // positions of the best score, and the seed at each position is the best guide vector / (H·W). Batch is 1 here.
  for (const layer of opts.guides ?? []) {
    const node = layerNode(graph, layer);
    const act = get(node);
    const c = channels.get(node) ?? 0;
    const guide = guideInputName(layer);
    inputs.push({ name: guide, type: tensorType([{ dimParam: `n_${layer}` }, { dimValue: c }]) });
    const positions = positionsOf(act);
    const scores = b.op1('MatMul', [guide, b.op1('Reshape', [act, b.int64s([c, -1])])]);
    const best = b.op1('ReduceMax', [scores], [ints('axes', [0]), int('keepdims', 0)]);
    losses.push(b.op1('Div', [b.op1('ReduceSum', [best], [int('keepdims', 0)]), positions]));
    const index = b.op1('ArgMax', [scores], [int('axis', 0), int('keepdims', 0)]);
    const chosen = b.op1('Gather', [b.op1('Transpose', [guide], [ints('perm', [1, 0])]), index], [int('axis', 1)]);
    addSeed(node, b.op1('Div', [b.op1('Reshape', [chosen, b.op1('Shape', [act])]), positions]), true);
  }
  if (losses.length === 0) throw new Error('A gradient model needs at least one objective term.');
  b.op1(losses.length === 1 ? 'Identity' : 'Sum', losses, [], 'loss');
  outputs.push({ name: 'loss', type: tensorType([]) });

  // g·[y > 0]; Cast+Mul measured a little faster in ORT than Where.
  const reluGrad = (y: string, g: string) => b.op1('Mul', [g, b.op1('Cast', [b.op1('Greater', [y, zero])], [int('to', DataType.FLOAT)])]);
  /** Crops a transposed window op's output (which may be one row/column too long) to x's size. */
  const cropTo = (g: string, x: string) => b.op1('Slice', [g, b.int64s([0, 0]), spatial(x), b.int64s([2, 3])]);

  let inputGrad: string | undefined;
  for (let i = plan.length - 1; i >= 0; i--) {
    const node = plan[i];
    const list = grads.get(node.name);
    const seedList = seeds.get(node.name) ?? [];
    if (!list && seedList.length === 0) continue;
    let g = list && (list.length === 1 ? list[0] : b.op1('Sum', list));
    for (const seed of seedList) {
      if (g) g = b.op1('Add', [g, seed.name]);
      else g = seed.full ? seed.name : b.op1('Expand', [seed.name, b.op1('Shape', [get(node.name)])]);
    }
    if (g === undefined) continue;
    switch (node.op) {
      case 'input':
        inputGrad = g;
        break;
      case 'conv': {
        const gy = node.relu ? reluGrad(get(node.name), g) : g;
        const [kh, kw, ci, co] = node.kernel.shape;
        const k: [number, number] = [kh, kw];
        const p = pads.get(node.name) ?? [0, 0, 0, 0];
        if (node.strides[0] === 1 && node.strides[1] === 1) {
          // A forward conv with the flipped, transposed kernel: faster in ORT than ConvTranspose.
          const w = b.floats(`${node.name}/Wgrad`, convWeights(weightView(graph, node.kernel), node.kernel.shape, true), [ci, co, kh, kw]);
          accumulate(node.input, b.op1('Conv', [gy, w], [ints('kernel_shape', k), ints('pads', mirroredPads(k, p))]));
        } else {
          // Only 'valid' reaches here (staticPads). output_padding s-1 covers every remainder; crop to x.
          const attrs = [ints('kernel_shape', k), ints('strides', node.strides), ints('output_padding', node.strides.map((s) => s - 1))];
          const gx = b.op1('ConvTranspose', [gy, `${node.name}/W`], attrs);
          accumulate(node.input, cropTo(gx, get(node.input)));
        }
        break;
      }
      case 'maxPool': {
        const x = get(node.input);
        const indices = b.op1('Reshape', [`${get(node.name)}/indices`, b.int64s([-1])]);
        const zeros = b.op1('ConstantOfShape', [b.op1('Reshape', [b.op1('Size', [x]), b.int64s([1])])]);
        const flat = b.op1('Reshape', [g, b.int64s([-1])]);
        const scattered = b.op1('ScatterElements', [zeros, indices, flat], [int('axis', 0), str('reduction', 'add')]);
        accumulate(node.input, b.op1('Reshape', [scattered, b.op1('Shape', [x])]));
        break;
      }
      case 'avgPool': {
        const x = get(node.input);
        const p = pads.get(node.name) ?? [0, 0, 0, 0];
        const k = node.size;
        const padded = p.some((v) => v > 0);
        // Exclude-pad: each window divides by its valid count. `dy / (count/k²)` then the adjoint of an
        // include-pad average (a k×k box sum / k², flipped window) gives Σ_j dy[j]/count[j] over windows j ∋ i.
        let u = g;
        if (padded) {
          const ones = b.op1('ConstantOfShape', [b.op1('Concat', [b.int64s([1, 1]), spatial(x)], [int('axis', 0)])], [
            { name: 'value', type: AttrType.TENSOR, t: { dataType: DataType.FLOAT, dims: [1], floatData: [1] } },
          ]);
          const fraction = b.op1('AveragePool', [ones], [ints('kernel_shape', k), ints('strides', node.strides), ints('pads', p), int('count_include_pad', 1)]);
          u = b.op1('Div', [g, fraction]);
        }
        if (node.strides[0] === 1 && node.strides[1] === 1) {
          const attrs = [ints('kernel_shape', k), ints('pads', mirroredPads(k, p)), int('count_include_pad', 1)];
          accumulate(node.input, b.op1('AveragePool', [u], attrs));
        } else {
          // Strided 'valid': a depthwise transposed conv with a 1/k² box kernel, cropped to x.
          const c = channels.get(node.name) ?? 0;
          const box = b.floats(`${node.name}/box`, new Float32Array(c * k[0] * k[1]).fill(1 / (k[0] * k[1])), [c, 1, k[0], k[1]]);
          const attrs = [ints('kernel_shape', k), ints('strides', node.strides), ints('output_padding', node.strides.map((s) => s - 1)), int('group', c)];
          accumulate(node.input, cropTo(b.op1('ConvTranspose', [u, box], attrs), x));
        }
        break;
      }
      case 'concat': {
        const sizes = node.inputs.map((n) => channels.get(n) ?? 0);
        const parts = b.op('Split', [g, b.int64s(sizes)], [int('axis', 1)], sizes.length);
        node.inputs.forEach((n, j) => accumulate(n, parts[j]));
        break;
      }
      case 'add':
        for (const n of node.inputs) accumulate(n, g);
        break;
      case 'relu':
        accumulate(node.input, reluGrad(get(node.name), g));
        break;
      case 'leakyRelu': {
        // g · (x > 0 ? 1 : alpha), from the input so that a negative alpha is right too.
        const slope = b.op1('Where', [b.op1('Greater', [get(node.input), zero]), b.scalar(1), b.scalar(node.alpha)]);
        accumulate(node.input, b.op1('Mul', [g, slope]));
        break;
      }
      case 'affine':
        accumulate(node.input, b.op1('Mul', [g, `${node.name}/scale`]));
        break;
    }
  }
  if (!inputGrad) throw new Error('internal: the objective does not reach the input');
  const [lo, hi] = opts.inputRange;
  b.op1(hi - lo === 1 ? 'Identity' : 'Mul', hi - lo === 1 ? [inputGrad] : [inputGrad, b.scalar(hi - lo)], [], 'grad');
  outputs.push({ name: 'grad', type: tensorType([{ dimValue: 1 }, { dimValue: 3 }, { dimParam: 'H' }, { dimParam: 'W' }]) });
}
