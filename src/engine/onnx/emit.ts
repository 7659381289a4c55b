import onnxProto from 'onnx-proto';
import type { CompiledGraph, GraphNode, Padding } from '../model/graph.ts';
import { nodeChannels, weightView } from '../model/graph.ts';

const { onnx } = onnxProto;
type Attribute = onnxProto.onnx.IAttributeProto;
type Dim = onnxProto.onnx.TensorShapeProto.IDimension;
const AttrType = onnx.AttributeProto.AttributeType;
const DataType = onnx.TensorProto.DataType;

/** Bump whenever the emitted graph changes, so cached `.onnx` files are not reused. */
export const EMITTER_VERSION = 7;

export const OPSET = 17;
export const IR_VERSION = 8;

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

export const ints = (name: string, values: number[]): Attribute => ({ name, type: AttrType.INTS, ints: values });
export const int = (name: string, value: number): Attribute => ({ name, type: AttrType.INT, i: value });
const float = (name: string, value: number): Attribute => ({ name, type: AttrType.FLOAT, f: value });
const str = (name: string, value: string): Attribute => ({ name, type: AttrType.STRING, s: new TextEncoder().encode(value) });

function floatBytes(data: Float32Array): Uint8Array {
  // raw_data is little-endian; so is every platform onnxruntime-node ships for.
  return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
}

/** Nodes and initializers, with fresh deterministic tensor names and shared constants. */
export class Builder {
  readonly nodes: onnxProto.onnx.INodeProto[] = [];
  readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  /** Shapes of intermediate tensors, so ORT can prove two NCHWc operands equal-sized (free H and W otherwise hide it). */
  readonly valueInfo: onnxProto.onnx.IValueInfoProto[] = [];
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

  /** A float tensor filled with one value (shared). */
  filled(value: number, dims: number[]): string {
    const key = `fill:${dims.join('x')}:${value}`;
    let name = this.constants.get(key);
    if (!name) {
      name = `const_${key}`;
      this.floats(name, new Float32Array(dims.reduce((a, d) => a * d, 1)).fill(value), dims);
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
export function mirroredPads(k: [number, number], pads: number[]): number[] {
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

/** One axis of a window op (conv or pool): kernel, stride, total padding, ONNX ceil_mode. */
interface Axis {
  k: number;
  s: number;
  pad: number;
  ceil: boolean;
}

/** out = floor((in + pad - k [+ s - 1 in ceil mode]) / s) + 1, as `in + shift` then `/ s` then `+ 1`. */
const axisShift = (a: Axis) => a.pad - a.k + (a.ceil ? a.s - 1 : 0);

/** The output size along one axis as a stable symbolic name (equal names only for sizes equal by construction). */
function axisSymbol(input: string, a: Axis): string {
  const d = axisShift(a);
  const plus = (n: number) => (n === 0 ? '' : n > 0 ? `+${n}` : `${n}`);
  if (a.s === 1) return d + 1 === 0 ? input : `(${input}${plus(d + 1)})`;
  return `((${input}${plus(d)})/${a.s}+1)`;
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

export function tensorType(dims: Dim[]): onnxProto.onnx.ITypeProto {
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
  /** A gradient model's max pools: the output of the pool that also gives the indices. */
  const poolOutputs = new Map<string, string>();
  // Window ops' axes (H, W) and every node's symbolic spatial size.
  const axes = new Map<string, [Axis, Axis]>();
  const symbols = new Map<string, [string, string]>();
  const windowAxes = (k: number[], strides: number[], p: number[], ceil = false): [Axis, Axis] => [
    { k: k[0], s: strides[0], pad: p[0] + p[2], ceil },
    { k: k[1], s: strides[1], pad: p[1] + p[3], ceil },
  ];
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
        axes.set(node.name, windowAxes(k, node.strides, p));
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
        axes.set(node.name, windowAxes(node.size, node.strides, p, ceil));
        const attrs = [ints('kernel_shape', node.size), ints('strides', node.strides), ints('pads', p), ...(ceil ? [int('ceil_mode', 1)] : [])];
        const x = get(value, node.input);
        if (node.op === 'avgPool') {
          // TensorFlow averages over the valid pixels only.
          value.set(node.name, b.op1('AveragePool', [x], [...attrs, int('count_include_pad', 0)], out));
        } else if (opts.gradient) {
          // The indices (flat NCHW offsets into x) route the gradient back exactly. A pool with indices leaves
          // NCHWc, so when the channels block, the forward pass takes a plain pool's output and the indices pool
          // (whose own output is only read by the backward pass) runs beside it.
          const [y] = b.op('MaxPool', [x], attrs, [blocked(channels.get(node.name) ?? 0) ? `${out}/nchw` : out, `${out}/indices`]);
          poolOutputs.set(node.name, y);
          value.set(node.name, y === out ? y : b.op1('MaxPool', [x], attrs, out));
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
    const from = node.op === 'input' ? undefined : 'input' in node ? node.input : node.inputs[0];
    const parent: [string, string] = from === undefined ? ['H', 'W'] : (symbols.get(from) ?? ['H', 'W']);
    const a = axes.get(node.name);
    symbols.set(node.name, a ? [axisSymbol(parent[0], a[0]), axisSymbol(parent[1], a[1])] : parent);
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
    emitBackward(b, graph, plan, opts, { value, pads, axes, symbols, channels, poolOutputs }, inputs, outputs);
  }

  const model: onnxProto.onnx.IModelProto = {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'deepdream-bot',
    producerVersion: String(EMITTER_VERSION),
    graph: { name: `dream_${opts.cutLayer}`, node: b.nodes, initializer: b.initializers, input: inputs, output: outputs, valueInfo: b.valueInfo },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

/** What the forward pass leaves for the backward one. */
interface Forward {
  value: Map<string, string>;
  pads: Map<string, number[]>;
  axes: Map<string, [Axis, Axis]>;
  symbols: Map<string, [string, string]>;
  channels: Map<string, number>;
  poolOutputs: Map<string, string>;
}

/** One gradient flowing into a node's output. */
interface Flow {
  tensor: string;
  /** Made by a stride-1 backward Conv: an Add after it is folded into that conv by ORT (NCHWc sum fusion). */
  conv?: boolean;
  /** Already multiplied by the node's ReLU mask (by a concat or a max pool downstream). */
  masked?: boolean;
  /** In plain NCHW (a Split part, a scatter, a crop…), not in ORT's blocked layout. */
  nchw?: boolean;
  /**
   * Not yet a gradient: `tensor` is a 1×1 conv's output gradient and this its transposed kernel [ci, co]. Sibling
   * 1×1 convs reading one tensor (an Inception block's input) become one Conv over their concatenated gradients.
   */
  pointwise?: { kernel: Float32Array; co: number };
}

/**
 * ORT's NCHWc layout (MLAS blocks of 8 or 16 channels) keeps Conv, pools, Add, Mul, Concat and Relu in blocked
 * form; any other op on such a tensor costs two reorders. Channel counts that are multiples of 16 block everywhere.
 */
const blocked = (c: number) => c > 0 && c % 16 === 0;

/**
 * min(1, y·2^127) is exactly [y > 0] for a ReLU output y: 1 for every normal positive float32 (y ≥ 2^-126), 0 for 0.
 * As a depthwise 1×1 Conv with a fused Clip it stays in NCHWc, where Greater/Cast/Where would not.
 */
const MASK_SCALE = 2 ** 127;

function emitBackward(
  b: Builder,
  graph: CompiledGraph,
  plan: GraphNode[],
  opts: EmitOptions,
  fwd: Forward,
  inputs: onnxProto.onnx.IValueInfoProto[],
  outputs: onnxProto.onnx.IValueInfoProto[],
): void {
  const { value, pads, axes, symbols, channels, poolOutputs } = fwd;
  const byName = new Map(plan.map((n) => [n.name, n]));
  const get = (k: string): string => {
    const v = value.get(k);
    if (v === undefined) throw new Error(`internal: no tensor for ${k}`);
    return v;
  };
  const chans = (n: string) => channels.get(n) ?? 0;
  // Created on first use: an unused initializer makes ORT print a warning.
  const zero = () => b.scalar(0);
  const one = () => b.scalar(1);

  // Every 4-D tensor gets its symbolic shape, [1, C, h(node), w(node)].
  const shapedNames = new Set<string>();
  const shaped = (tensor: string, node: string): string => {
    if (!shapedNames.has(tensor)) {
      shapedNames.add(tensor);
      const [h, w] = symbols.get(node) ?? ['H', 'W'];
      b.valueInfo.push({ name: tensor, type: tensorType([{ dimValue: 1 }, { dimValue: chans(node) }, { dimParam: h }, { dimParam: w }]) });
    }
    return tensor;
  };
  for (const node of plan) shaped(get(node.name), node.name);

  // Spatial sizes as int64 [h, w], computed from the image's shape (a Shape of an activation would force it out of NCHWc).
  const spatialMemo = new Map<string, string>();
  const spatial = (name: string): string => {
    let t = spatialMemo.get(name);
    if (t) return t;
    const node = byName.get(name);
    if (!node) throw new Error(`internal: no node ${name}`);
    if (node.op === 'input') {
      t = b.op1('Shape', ['image'], [int('start', 2), int('end', 4)]);
    } else {
      t = spatial('input' in node ? node.input : node.inputs[0]);
      const a = axes.get(name);
      if (a && a.some((x) => x.s !== 1)) {
        t = b.op1('Add', [b.op1('Div', [b.op1('Add', [t, b.int64s(a.map(axisShift))]), b.int64s(a.map((x) => x.s))]), b.int64s([1, 1])]);
      } else if (a && a.some((x) => axisShift(x) + 1 !== 0)) {
        t = b.op1('Add', [t, b.int64s(a.map((x) => axisShift(x) + 1))]);
      }
    }
    spatialMemo.set(name, t);
    return t;
  };
  const fullShape = (name: string) => b.op1('Concat', [b.int64s([1, chans(name)]), spatial(name)], [int('axis', 0)]);
  const positionsOf = (name: string) => b.op1('Cast', [b.op1('ReduceProd', [spatial(name)], [int('keepdims', 0)])], [int('to', DataType.FLOAT)]);

  const grads = new Map<string, Flow[]>();
  const accumulate = (name: string, flow: Flow) => {
    const list = grads.get(name);
    if (list) list.push(flow);
    else grads.set(name, [flow]);
  };

  // Loss terms and their seeds: d/d(act) of Σ_c w[c]·mean_hw(act[c]) is w[c] / (H·W) everywhere. A mean seed stays
  // [1, C, 1, 1] and is added to the gradient flowing back (materialised only where needed).
  const meanSeeds = new Map<string, string[]>();
  const fullSeeds = new Map<string, string[]>();
  const addSeed = (map: Map<string, string[]>, node: string, name: string) => {
    const list = map.get(node);
    if (list) list.push(name);
    else map.set(node, [name]);
  };
  const losses: string[] = [];
  for (const layer of opts.terms) {
    const node = layerNode(graph, layer);
    const c = chans(node);
    const w = weightInputName(layer);
    inputs.push({ name: w, type: tensorType([{ dimValue: c }]) });
    // GlobalAveragePool reads the blocked layout; ReduceMean would reorder the whole activation first.
    const means = b.op1('Reshape', [b.op1('GlobalAveragePool', [get(node)]), b.int64s([c])]);
    losses.push(b.op1('ReduceSum', [b.op1('Mul', [means, w]), b.int64s([0])], [int('keepdims', 0)]));
    addSeed(meanSeeds, node, b.op1('Div', [b.op1('Reshape', [w, b.int64s([1, c, 1, 1])]), positionsOf(node)]));
  }
  // Guide terms (the DeepDream notebook's objective_guide): scores [n, H·W] = guide · act, the loss is the mean over
  // positions of the best score, and the seed at each position is the best guide vector / (H·W). Batch is 1 here.
  for (const layer of opts.guides ?? []) {
    const node = layerNode(graph, layer);
    const act = get(node);
    const c = chans(node);
    const guide = guideInputName(layer);
    inputs.push({ name: guide, type: tensorType([{ dimParam: `n_${layer}` }, { dimValue: c }]) });
    const positions = positionsOf(node);
    const scores = b.op1('MatMul', [guide, b.op1('Reshape', [act, b.int64s([c, -1])])]);
    const best = b.op1('ReduceMax', [scores], [ints('axes', [0]), int('keepdims', 0)]);
    losses.push(b.op1('Div', [b.op1('ReduceSum', [best], [int('keepdims', 0)]), positions]));
    const index = b.op1('ArgMax', [scores], [int('axis', 0), int('keepdims', 0)]);
    const chosen = b.op1('Gather', [b.op1('Transpose', [guide], [ints('perm', [1, 0])]), index], [int('axis', 1)]);
    addSeed(fullSeeds, node, shaped(b.op1('Div', [b.op1('Reshape', [chosen, fullShape(node)]), positions]), node));
  }
  if (losses.length === 0) throw new Error('A gradient model needs at least one objective term.');
  b.op1(losses.length === 1 ? 'Identity' : 'Sum', losses, [], 'loss');
  outputs.push({ name: 'loss', type: tensorType([]) });

  const isRelu = (name: string) => {
    const n = byName.get(name);
    return (n?.op === 'conv' && n.relu) || n?.op === 'relu';
  };
  /** [y > 0] for a ReLU node's output y (once per node). */
  const masks = new Map<string, string>();
  const reluMask = (name: string): string => {
    let m = masks.get(name);
    if (!m) {
      const c = chans(name);
      m = blocked(c)
        ? shaped(b.op1('Clip', [shaped(b.op1('Conv', [get(name), b.filled(MASK_SCALE, [c, 1, 1, 1])], [ints('kernel_shape', [1, 1]), int('group', c)]), name), zero(), one()]), name)
        : b.op1('Cast', [b.op1('Greater', [get(name), zero()])], [int('to', DataType.FLOAT)]);
      masks.set(name, m);
    }
    return m;
  };
  /** x through a depthwise 1×1 Conv with weight 1: the same values, in ORT's blocked layout when C blocks. */
  const identityConv = (x: string, c: number) => b.op1('Conv', [x, b.filled(1, [c, 1, 1, 1])], [ints('kernel_shape', [1, 1]), int('group', c)]);
  /** Crops a transposed window op's output (which may be one row/column too long) to x's size. */
  const cropTo = (g: string, x: string) => shaped(b.op1('Slice', [g, b.int64s([0, 0]), spatial(x), b.int64s([2, 3])]), x);

  /**
   * A LeakyReLU's slope read from node's output y (the LeakyReLU's own, or a max pool's of it), alpha ≥ 0:
   * clip(y·2^127 + alpha, alpha, 1) is 1 for y > 0 (normal floats), else alpha. A depthwise Conv + Clip: NCHWc.
   */
  const leakySlope = (name: string, alpha: number): string => {
    const c = chans(name);
    const conv = b.op1('Conv', [get(name), b.filled(MASK_SCALE, [c, 1, 1, 1]), b.filled(alpha, [c])], [ints('kernel_shape', [1, 1]), int('group', c)]);
    return shaped(b.op1('Clip', [shaped(conv, name), b.scalar(alpha), one()]), name);
  };
  const alphaOf = (name: string): number => {
    const n = byName.get(name);
    if (n?.op !== 'leakyRelu') throw new Error(`internal: ${name} is not a LeakyReLU`);
    return n.alpha;
  };
  /**
   * True for a LeakyReLU whose slope a pool may apply on its side: read from its output (a non-negative alpha), and
   * the pool its only reader with no loss term of its own (a slope applied twice would be squared).
   */
  const readers = new Map<string, number>();
  for (const n of plan) for (const i of 'input' in n ? [n.input] : 'inputs' in n ? n.inputs : []) readers.set(i, (readers.get(i) ?? 0) + 1);
  const isLeaky = (name: string) => {
    const n = byName.get(name);
    return n?.op === 'leakyRelu' && n.alpha >= 0 && blocked(chans(name)) && readers.get(name) === 1 && !meanSeeds.has(name) && !fullSeeds.has(name);
  };

  let inputGrad: string | undefined;
  for (let i = plan.length - 1; i >= 0; i--) {
    const node = plan[i];
    const name = node.name;
    const c = chans(name);
    let flows: Flow[] = [...(grads.get(name) ?? []), ...(fullSeeds.get(name) ?? []).map((tensor) => ({ tensor, nchw: true }))];
    const means = meanSeeds.get(name) ?? [];
    if (flows.length === 0 && means.length === 0) continue;
    // Masked already only if every flow was, and no seed joins here.
    const masked = flows.length > 0 && flows.every((f) => f.masked) && means.length === 0;
    // A per-channel seed [1, C, 1, 1] not yet added to a full gradient.
    let seed: string | undefined = means.length === 0 ? undefined : means.length === 1 ? means[0] : b.op1('Sum', means);
    // A seed joining other flows: in NCHWc ([1, C, 1, 1] through an identity Conv), added last by a broadcasting
    // Add that ORT keeps blocked; elsewhere expanded and summed with the flows.
    let blockedSeed: string | undefined;
    if (seed && flows.length) {
      if (blocked(c)) {
        blockedSeed = identityConv(seed, c);
        b.valueInfo.push({ name: blockedSeed, type: tensorType([{ dimValue: 1 }, { dimValue: c }, { dimValue: 1 }, { dimValue: 1 }]) });
      } else {
        flows.push({ tensor: shaped(b.op1('Expand', [seed, fullShape(name)]), name), nchw: true });
      }
      seed = undefined;
    }
    // Pending 1×1 backward convs, as one Conv (kernels stacked along their output-gradient channels) over the
    // blocked ones (a Concat with an NCHW input would leave NCHWc), one Conv each for the others.
    for (const f of flows.filter((f) => f.pointwise && f.nchw)) {
      const pw = f.pointwise!;
      const weights = b.floats(`${name}/Wgrad1x1#${b.fresh('k')}`, pw.kernel, [c, pw.co, 1, 1]);
      Object.assign(f, { tensor: shaped(b.op1('Conv', [f.tensor, weights], [ints('kernel_shape', [1, 1])]), name), conv: true, nchw: false, pointwise: undefined });
    }
    const pointwise = flows.filter((f) => f.pointwise);
    if (pointwise.length) {
      const ci = c;
      const total = pointwise.reduce((sum, f) => sum + f.pointwise!.co, 0);
      const kernel = new Float32Array(ci * total);
      let at = 0;
      for (const { pointwise: pw } of pointwise) {
        for (let i = 0; i < ci; i++) kernel.set(pw!.kernel.subarray(i * pw!.co, (i + 1) * pw!.co), i * total + at);
        at += pw!.co;
      }
      let input = pointwise[0].tensor;
      if (pointwise.length > 1) {
        input = b.op1('Concat', pointwise.map((f) => f.tensor), [int('axis', 1)]);
        const [h, w] = symbols.get(name) ?? ['H', 'W'];
        b.valueInfo.push({ name: input, type: tensorType([{ dimValue: 1 }, { dimValue: total }, { dimParam: h }, { dimParam: w }]) });
      }
      const weights = b.floats(`${name}/Wgrad1x1#${b.fresh('k')}`, kernel, [ci, total, 1, 1]);
      flows.splice(0, flows.length, ...flows.filter((f) => !f.pointwise), { tensor: shaped(b.op1('Conv', [input, weights], [ints('kernel_shape', [1, 1])]), name), conv: true });
    }
    // NCHW flows are summed among themselves and put in NCHWc once (an identity depthwise Conv, the cost of one
    // reorder) when the gradient goes on in blocked form: mixed with blocked flows, or into a ReLU mask or a concat's.
    const plain = flows.filter((f) => f.nchw);
    const goesBlocked = plain.length < flows.length || (isRelu(name) && !masked) || node.op === 'concat';
    if (plain.length && blocked(c) && goesBlocked && node.op !== 'maxPool' && node.op !== 'input') {
      let sum = plain[0].tensor;
      for (const f of plain.slice(1)) sum = shaped(b.op1('Add', [f.tensor, sum]), name);
      flows = [...flows.filter((f) => !f.nchw), { tensor: shaped(identityConv(sum, c), name), conv: true }];
    }
    // Sum as a chain of Adds, conv outputs last: each Add then folds into the conv before it.
    const gNchw = flows.length === 0 || flows.some((f) => f.nchw);
    let g: string | undefined;
    if (flows.length) {
      const ordered = [...flows.filter((f) => !f.conv), ...flows.filter((f) => f.conv)];
      g = ordered[0].tensor;
      for (const f of ordered.slice(1)) g = shaped(b.op1('Add', [f.tensor, g]), name);
      if (blockedSeed) g = shaped(b.op1('Add', [g, blockedSeed]), name);
    }
    const full = (): string => g ?? (g = shaped(b.op1('Expand', [seed!, fullShape(name)]), name));
    /** g·[y > 0], with y this node's (ReLU) output. */
    const relu = (): string => (masked ? full() : shaped(g ? b.op1('Mul', [g, reluMask(name)]) : b.op1('Mul', [reluMask(name), seed!]), name));

    switch (node.op) {
      case 'input':
        inputGrad = full();
        break;
      case 'conv': {
        const gy = node.relu ? relu() : full();
        const [kh, kw, ci, co] = node.kernel.shape;
        const k: [number, number] = [kh, kw];
        const p = pads.get(name) ?? [0, 0, 0, 0];
        if (kh === 1 && kw === 1 && node.strides[0] === 1 && node.strides[1] === 1 && blocked(co)) {
          accumulate(node.input, { tensor: gy, nchw: gNchw, pointwise: { kernel: convWeights(weightView(graph, node.kernel), node.kernel.shape, true), co } });
        } else if (node.strides[0] === 1 && node.strides[1] === 1) {
          // A forward conv with the flipped, transposed kernel: faster in ORT than ConvTranspose.
          const w = b.floats(`${name}/Wgrad`, convWeights(weightView(graph, node.kernel), node.kernel.shape, true), [ci, co, kh, kw]);
          accumulate(node.input, { tensor: shaped(b.op1('Conv', [gy, w], [ints('kernel_shape', k), ints('pads', mirroredPads(k, p))]), node.input), conv: true });
        } else {
          // Only 'valid' reaches here (staticPads). output_padding s-1 covers every remainder; crop to x.
          const attrs = [ints('kernel_shape', k), ints('strides', node.strides), ints('output_padding', node.strides.map((s) => s - 1))];
          accumulate(node.input, { tensor: cropTo(b.op1('ConvTranspose', [gy, `${name}/W`], attrs), node.input), nchw: true });
        }
        break;
      }
      case 'maxPool': {
        // The indices (flat NCHW offsets into x) route the gradient back exactly. When x is a ReLU output, its mask
        // is applied here, on the 4× smaller pooled side: x at a window's argmax is that window's maximum y (so is
        // a LeakyReLU's slope, when the pool is all that reads it).
        const premask = isRelu(node.input) || isLeaky(node.input);
        let gp = full();
        const y = poolOutputs.get(name) ?? get(name);
        if (isRelu(node.input)) gp = b.op1('Mul', [gp, b.op1('Cast', [b.op1('Greater', [y, zero()])], [int('to', DataType.FLOAT)])]);
        else if (premask) gp = shaped(b.op1('Mul', [gp, leakySlope(name, alphaOf(node.input))]), name);
        const shape = fullShape(node.input);
        if (node.strides.every((s, i) => s >= node.size[i])) {
          // Windows that do not overlap send each input at most one gradient: MaxUnpool's plain placement, much
          // cheaper than a scatter-add. ORT wants an output at least as large as the windows cover (one row or
          // column more than x in ceil mode); the indices are flat offsets into x, so x is that output's start.
          const covered = b.op1('Concat', [b.int64s([1, c]), b.op1('Mul', [spatial(name), b.int64s(node.strides)])], [int('axis', 0)]);
          const placed = b.op1('MaxUnpool', [gp, `${get(name)}/indices`, covered], [ints('kernel_shape', node.size), ints('strides', node.strides)]);
          const size = b.op1('ReduceProd', [shape], [int('keepdims', 1)]);
          const first = b.op1('Slice', [b.op1('Reshape', [placed, b.int64s([-1])]), b.int64s([0]), size]);
          accumulate(node.input, { tensor: shaped(b.op1('Reshape', [first, shape]), node.input), masked: premask, nchw: true });
          break;
        }
        const indices = b.op1('Reshape', [`${get(name)}/indices`, b.int64s([-1])]);
        const zeros = b.op1('ConstantOfShape', [b.op1('ReduceProd', [shape], [int('keepdims', 1)])]);
        const scattered = b.op1('ScatterElements', [zeros, indices, b.op1('Reshape', [gp, b.int64s([-1])])], [int('axis', 0), str('reduction', 'add')]);
        accumulate(node.input, { tensor: shaped(b.op1('Reshape', [scattered, shape]), node.input), masked: premask, nchw: true });
        break;
      }
      case 'avgPool': {
        const p = pads.get(name) ?? [0, 0, 0, 0];
        const k = node.size;
        const stride1 = node.strides[0] === 1 && node.strides[1] === 1;
        // Exclude-pad: each window divides by its valid count. `dy / (count/k²)` then the adjoint of an
        // include-pad average (a k×k box sum / k², flipped window) gives Σ_j dy[j]/count[j] over windows j ∋ i.
        let u = full();
        if (p.some((v) => v > 0)) {
          const ones = b.op1('ConstantOfShape', [b.op1('Concat', [b.int64s([1, 1]), spatial(node.input)], [int('axis', 0)])], [
            { name: 'value', type: AttrType.TENSOR, t: { dataType: DataType.FLOAT, dims: [1], floatData: [1] } },
          ]);
          const fraction = b.op1('AveragePool', [ones], [ints('kernel_shape', k), ints('strides', node.strides), ints('pads', p), int('count_include_pad', 1)]);
          if (blocked(c)) {
            // k²/count on one channel, broadcast to C by a 1×1 Conv: the product then stays in NCHWc.
            const ratio = b.op1('Conv', [b.op1('Reciprocal', [fraction]), b.filled(1, [c, 1, 1, 1])], [ints('kernel_shape', [1, 1])]);
            u = shaped(b.op1('Mul', [u, shaped(ratio, name)]), name);
          } else {
            u = b.op1('Div', [u, fraction]);
          }
        }
        if (stride1) {
          const attrs = [ints('kernel_shape', k), ints('pads', mirroredPads(k, p)), int('count_include_pad', 1)];
          accumulate(node.input, { tensor: shaped(b.op1('AveragePool', [u], attrs), node.input), nchw: !blocked(c) });
        } else {
          // Strided 'valid': a depthwise transposed conv with a 1/k² box kernel, cropped to x.
          const box = b.filled(1 / (k[0] * k[1]), [c, 1, k[0], k[1]]);
          const attrs = [ints('kernel_shape', k), ints('strides', node.strides), ints('output_padding', node.strides.map((s) => s - 1)), int('group', c)];
          accumulate(node.input, { tensor: cropTo(b.op1('ConvTranspose', [u, box], attrs), node.input), nchw: true });
        }
        break;
      }
      case 'concat': {
        const sizes = node.inputs.map(chans);
        const reluParts = node.inputs.map(isRelu);
        let gy: string;
        if (reluParts.some(Boolean) && blocked(c) && !masked) {
          // The parts' ReLU masks at once, before the Split (which leaves NCHWc): a channel of a ReLU part gets
          // min(1, y·2^127) = [y > 0], any other channel 0·y + 1 = 1.
          let m = reluMask(name);
          if (!reluParts.every(Boolean)) {
            const scale = new Float32Array(c);
            const bias = new Float32Array(c);
            let at = 0;
            node.inputs.forEach((_, j) => {
              scale.fill(reluParts[j] ? MASK_SCALE : 0, at, at + sizes[j]);
              bias.fill(reluParts[j] ? 0 : 1, at, at + sizes[j]);
              at += sizes[j];
            });
            const attrs = [ints('kernel_shape', [1, 1]), int('group', c)];
            const conv = b.op1('Conv', [get(name), b.floats(`${name}/maskW`, scale, [c, 1, 1, 1]), b.floats(`${name}/maskB`, bias, [c])], attrs);
            m = shaped(b.op1('Clip', [shaped(conv, name), zero(), one()]), name);
          }
          gy = shaped(g ? b.op1('Mul', [g, m]) : b.op1('Mul', [m, seed!]), name);
        } else {
          gy = full();
        }
        const premasked = gy !== g || masked;
        const parts = b.op('Split', [gy, b.int64s(sizes)], [int('axis', 1)], sizes.length);
        node.inputs.forEach((n, j) => accumulate(n, { tensor: shaped(parts[j], n), masked: premasked && (masked || reluParts[j]), nchw: true }));
        break;
      }
      case 'add': {
        const gy = full();
        for (const n of node.inputs) accumulate(n, { tensor: gy, masked, nchw: gNchw });
        break;
      }
      case 'relu':
        accumulate(node.input, { tensor: relu(), nchw: gNchw });
        break;
      case 'leakyRelu': {
        // A 2×2 pool downstream applied the slope on its pooled side already.
        if (masked) {
          accumulate(node.input, { tensor: full(), nchw: gNchw });
          break;
        }
        if (node.alpha >= 0 && blocked(c)) {
          // g · slope(y), in NCHWc; reading y rather than x leaves x to the LeakyRelu alone, which ORT then fuses
          // into the conv before it.
          accumulate(node.input, { tensor: shaped(b.op1('Mul', [full(), leakySlope(name, node.alpha)]), name), nchw: gNchw });
          break;
        }
        // g · (x > 0 ? 1 : alpha), from the input so that a negative alpha is right too.
        const slope = b.op1('Where', [b.op1('Greater', [get(node.input), zero()]), one(), b.scalar(node.alpha)]);
        accumulate(node.input, { tensor: b.op1('Mul', [full(), slope]), nchw: true });
        break;
      }
      case 'affine':
        accumulate(node.input, { tensor: b.op1('Mul', [full(), `${name}/scale`]), nchw: true });
        break;
    }
  }
  if (!inputGrad) throw new Error('internal: the objective does not reach the input');
  const [lo, hi] = opts.inputRange;
  b.op1(hi - lo === 1 ? 'Identity' : 'Mul', hi - lo === 1 ? [inputGrad] : [inputGrad, b.scalar(hi - lo)], [], 'grad');
  outputs.push({ name: 'grad', type: tensorType([{ dimValue: 1 }, { dimValue: 3 }, { dimParam: 'H' }, { dimParam: 'W' }]) });
}
