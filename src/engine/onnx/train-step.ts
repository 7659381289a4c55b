// One second-stage training step of `--fine-tune` as a single ONNX graph: the blocks' forward pass from their cached
// input, the head, stage 2's loss, and the gradients of that loss with respect to every block convolution's kernel and
// bias and the head's kernel and bias. The trainer runs it on onnx (12.9× a tfjs-wasm step on 2 cores, measured by
// scripts/fine-tune-step.ts). The weights are graph inputs (they change every step) in the layouts BlockModel uses
// (HWIO kernels), the gradients come out in the same; the optimizer runs outside the graph (style/adam.ts).
import onnxProto from 'onnx-proto';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { biasName, kernelName, type BlockPlan, type BlockWeights, type ConvNode } from '../model/blocks.ts';
import type { GraphNode } from '../model/graph.ts';
import { padAmounts } from '../padding.ts';
import { Builder, int, ints, IR_VERSION, mirroredPads, OPSET, tensorType } from './emit.ts';
import { cpuSessionOptions, loadOrt } from './runtime.ts';

const { onnx } = onnxProto;
type Dim = onnxProto.onnx.TensorShapeProto.IDimension;

export interface TrainStepOptions {
  /** One block input, `[h, w, c]` (static: the training image size fixes it). */
  inputShape: [number, number, number];
  classes: number;
  /** The head kernel's L2 coefficient: the loss adds l2/2 · Σ kernel². */
  l2: number;
  /**
   * How a stride-1 convolution's kernel gradient is built: 'matmul' (default), one MatMul of the shifted input
   * windows (kh·kw of them, batched) by the output gradient; 'conv', the textbook Conv of the input with batch and
   * channels swapped, the output gradient as its filter (ORT runs that as one small GEMM per input channel).
   * Strided convolutions always take 'conv'.
   */
  weightGradient?: 'matmul' | 'conv';
  /** Only the forward pass: `x` and the block weights in, the pooled `features` `[n, channels]` out (validation). */
  forwardOnly?: boolean;
}

/** Graph inputs besides the block weights (`<conv>/kernel`, `<conv>/bias`, as BlockWeights names them). */
export const TRAIN_STEP_INPUTS = {
  /** Block inputs `[n, h, w, c]`, NHWC as cached. */
  x: 'x',
  /** Smoothed one-hot labels `[n, classes]`. */
  labels: 'labels',
  /** Head kernel `[features, classes]` on standardised features, bias `[classes]`, feature mean and std `[features]`. */
  kernel: 'head/kernel',
  bias: 'head/bias',
  mean: 'head/mean',
  std: 'head/std',
} as const;

/** The gradient output of a weight input. */
export const gradientOutputName = (weight: string): string => `grad/${weight}`;

type WindowNode = Extract<GraphNode, { op: 'maxPool' | 'avgPool' }>;

/** TensorFlow's static pads [top, left, bottom, right] and output size of a window op on an h×w input. */
function windowPads(h: number, w: number, k: [number, number], s: [number, number], padding: 'same' | 'valid') {
  const rows = padAmounts(h, k[0], s[0], padding);
  const cols = padAmounts(w, k[1], s[1], padding);
  const total = (size: number, kk: number, ss: number, out: number) => Math.max((out - 1) * ss + kk - size, 0);
  const th = padding === 'valid' ? 0 : total(h, k[0], s[0], rows.out);
  const tw = padding === 'valid' ? 0 : total(w, k[1], s[1], cols.out);
  return { pads: [rows.before, cols.before, th - rows.before, tw - cols.before], out: [rows.out, cols.out] as [number, number] };
}

/** The ops the step's graph has a forward and a backward for. */
const TRAINABLE_OPS: ReadonlySet<GraphNode['op']> = new Set<GraphNode['op']>(['conv', 'avgPool', 'concat', 'add', 'relu']);

/**
 * Whether emitTrainStep can express these blocks: Inception's blocks above mixed3 can; a reduction block (mixed3
 * itself) has a max pool, whose gradient would need its indices, so its fine-tuning stays on tfjs.
 */
export function trainStepHandles(plan: BlockPlan): boolean {
  return plan.nodes.every((node) => TRAINABLE_OPS.has(node.op));
}

/**
 * The step's ONNX model: inputs TRAIN_STEP_INPUTS and the blocks' weights; outputs `loss` (scalar), `logits`
 * `[n, classes]` and a `grad/<weight>` for every weight input. The batch size is free.
 */
export function emitTrainStep(plan: BlockPlan, opts: TrainStepOptions): Uint8Array {
  const b = new Builder();
  const mode = opts.weightGradient ?? 'matmul';
  const [h0, w0, c0] = opts.inputShape;
  const C = opts.classes;
  const inputs: onnxProto.onnx.IValueInfoProto[] = [];
  const outputs: onnxProto.onnx.IValueInfoProto[] = [];
  const N: Dim = { dimParam: 'N' };
  const fixed = (dims: number[]): Dim[] => dims.map((d) => ({ dimValue: d }));
  const addInput = (name: string, dims: Dim[]) => inputs.push({ name, type: tensorType(dims) });
  const addOutput = (name: string, dims: Dim[]) => outputs.push({ name, type: tensorType(dims) });
  const I = TRAIN_STEP_INPUTS;
  addInput(I.x, [N, ...fixed([h0, w0, c0])]);

  // Forward, NCHW. Every node's output tensor, channels and static spatial size.
  const value = new Map<string, string>();
  const size = new Map<string, { c: number; h: number; w: number }>();
  const pads = new Map<string, number[]>();
  const get = (name: string): string => {
    const v = value.get(name);
    if (v === undefined) throw new Error(`internal: no tensor for ${name}`);
    return v;
  };
  const sizeOf = (name: string) => {
    const s = size.get(name);
    if (!s) throw new Error(`internal: no size for ${name}`);
    return s;
  };
  value.set(plan.fromNode, b.op1('Transpose', [I.x], [ints('perm', [0, 3, 1, 2])]));
  size.set(plan.fromNode, { c: c0, h: h0, w: w0 });
  for (const node of plan.nodes) {
    const out = `f/${node.name}`;
    switch (node.op) {
      case 'conv': {
        const [kh, kw, ci, co] = node.kernel.shape;
        const x = sizeOf(node.input);
        const win = windowPads(x.h, x.w, [kh, kw], node.strides, node.padding);
        pads.set(node.name, win.pads);
        addInput(kernelName(node.name), fixed([kh, kw, ci, co]));
        addInput(biasName(node.name), fixed([co]));
        // Kernels arrive HWIO; ONNX's Conv wants [out, in, kh, kw] (kept as f/<conv>/W for a strided dx).
        const w = b.op1('Transpose', [kernelName(node.name)], [ints('perm', [3, 2, 0, 1])], `f/${node.name}/W`);
        const attrs = [ints('kernel_shape', [kh, kw]), ints('strides', node.strides), ints('pads', win.pads)];
        const conv = b.op1('Conv', [get(node.input), w, biasName(node.name)], attrs, node.relu ? undefined : out);
        value.set(node.name, node.relu ? b.op1('Relu', [conv], [], out) : conv);
        size.set(node.name, { c: co, h: win.out[0], w: win.out[1] });
        break;
      }
      case 'avgPool': {
        const x = sizeOf(node.input);
        const win = windowPads(x.h, x.w, node.size, node.strides, node.padding);
        pads.set(node.name, win.pads);
        const attrs = [ints('kernel_shape', node.size), ints('strides', node.strides), ints('pads', win.pads), int('count_include_pad', 0)];
        value.set(node.name, b.op1('AveragePool', [get(node.input)], attrs, out));
        size.set(node.name, { c: x.c, h: win.out[0], w: win.out[1] });
        break;
      }
      case 'concat':
        value.set(node.name, b.op1('Concat', node.inputs.map(get), [int('axis', 1)], out));
        size.set(node.name, { ...sizeOf(node.inputs[0]), c: node.inputs.reduce((sum, n) => sum + sizeOf(n).c, 0) });
        break;
      case 'add':
        value.set(node.name, b.op1('Sum', node.inputs.map(get), [], out));
        size.set(node.name, sizeOf(node.inputs[0]));
        break;
      case 'relu':
        value.set(node.name, b.op1('Relu', [get(node.input)], [], out));
        size.set(node.name, sizeOf(node.input));
        break;
      default:
        // Inception's blocks above mixed3 have none of these; a reduction block's max pool would need its indices.
        throw new Error(`The ONNX training step does not handle ${node.op} (${node.name}).`);
    }
  }

  // Head and loss, as fine-tune.ts: z = ((GAP(out) - mean) / std) · K + b; CE against smoothed labels + l2/2 · ΣK².
  const top = sizeOf(plan.outputNode);
  const F = top.c;
  const features = b.op1('Flatten', [b.op1('GlobalAveragePool', [get(plan.outputNode)])], [int('axis', 1)]);
  const encode = () => {
    const model: onnxProto.onnx.IModelProto = {
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: 'deepdream-bot',
      graph: { name: `train_${plan.blocks.join('_')}`, node: b.nodes, initializer: b.initializers, input: inputs, output: outputs },
    };
    return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  };
  if (opts.forwardOnly) {
    b.op1('Identity', [features], [], 'features');
    addOutput('features', [N, ...fixed([F])]);
    return encode();
  }
  addInput(I.labels, [N, ...fixed([C])]);
  addInput(I.kernel, fixed([F, C]));
  addInput(I.bias, fixed([C]));
  addInput(I.mean, fixed([F]));
  addInput(I.std, fixed([F]));
  const standard = b.op1('Div', [b.op1('Sub', [features, I.mean]), I.std]);
  b.op1('Add', [b.op1('MatMul', [standard, I.kernel]), I.bias], [], 'logits');
  const logSoftmax = b.op1('LogSoftmax', ['logits'], [int('axis', 1)]);
  const rows = b.op1('ReduceSum', [b.op1('Mul', [I.labels, logSoftmax]), b.int64s([1])], [int('keepdims', 0)]);
  const crossEntropy = b.op1('Neg', [b.op1('ReduceMean', [rows], [ints('axes', [0]), int('keepdims', 0)])]);
  const l2 = b.op1('Mul', [b.op1('ReduceSum', [b.op1('Mul', [I.kernel, I.kernel])], [int('keepdims', 0)]), b.scalar(opts.l2 / 2)]);
  b.op1('Add', [crossEntropy, l2], [], 'loss');
  addOutput('loss', []);
  addOutput('logits', [N, ...fixed([C])]);

  // Backward of the head: dz = (softmax(z) · Σy − y) / n.
  const n = b.op1('Cast', [b.op1('Shape', [I.x], [int('start', 0), int('end', 1)])], [int('to', onnx.TensorProto.DataType.FLOAT)]);
  const labelSums = b.op1('ReduceSum', [I.labels, b.int64s([1])], [int('keepdims', 1)]);
  const dz = b.op1('Div', [b.op1('Sub', [b.op1('Mul', [b.op1('Exp', [logSoftmax]), labelSums]), I.labels]), n]);
  const gradOut = (weight: string, tensor: string, dims: number[]) => {
    b.op1('Identity', [tensor], [], gradientOutputName(weight));
    addOutput(gradientOutputName(weight), fixed(dims));
  };
  const standardT = b.op1('Transpose', [standard], [ints('perm', [1, 0])]);
  gradOut(I.kernel, b.op1('Add', [b.op1('MatMul', [standardT, dz]), b.op1('Mul', [I.kernel, b.scalar(opts.l2)])]), [F, C]);
  gradOut(I.bias, b.op1('ReduceSum', [dz, b.int64s([0])], [int('keepdims', 0)]), [C]);
  // d(features) / (h·w), spread over the output's positions.
  const dFeatures = b.op1('Div', [b.op1('MatMul', [dz, b.op1('Transpose', [I.kernel], [ints('perm', [1, 0])])]), I.std]);
  const perPosition = b.op1('Unsqueeze', [b.op1('Div', [dFeatures, b.scalar(top.h * top.w)]), b.int64s([2, 3])]);
  const outShape = b.op1('Concat', [b.op1('Shape', [I.x], [int('start', 0), int('end', 1)]), b.int64s([F, top.h, top.w])], [int('axis', 0)]);

  // Backward through the blocks, only where a trained weight lies below.
  const needsGrad = new Set<string>();
  for (const node of plan.nodes) {
    const ins = 'inputs' in node ? node.inputs : 'input' in node ? [node.input] : [];
    if (node.op === 'conv' || ins.some((i) => needsGrad.has(i))) needsGrad.add(node.name);
  }
  const flows = new Map<string, string[]>();
  const send = (name: string, tensor: string) => {
    if (!needsGrad.has(name)) return;
    const list = flows.get(name);
    if (list) list.push(tensor);
    else flows.set(name, [tensor]);
  };
  send(plan.outputNode, b.op1('Expand', [perPosition, outShape]));
  const zero = b.scalar(0);
  /** x as [c, n·h·w] (channels first, then batch and positions), once per tensor: sibling 1×1 convs share it. */
  const channelRows = new Map<string, string>();
  const rowsOf = (name: string): string => {
    let t = channelRows.get(name);
    if (!t) {
      t = b.op1('Reshape', [b.op1('Transpose', [get(name)], [ints('perm', [1, 0, 2, 3])]), b.int64s([sizeOf(name).c, -1])]);
      channelRows.set(name, t);
    }
    return t;
  };

  for (let i = plan.nodes.length - 1; i >= 0; i--) {
    const node = plan.nodes[i];
    const list = flows.get(node.name);
    if (!list) continue;
    const g = list.length === 1 ? list[0] : b.op1('Sum', list);
    switch (node.op) {
      case 'conv': {
        const gy = node.relu ? b.op1('Where', [b.op1('Greater', [get(node.name), zero]), g, zero]) : g;
        const [kh, kw, ci, co] = node.kernel.shape;
        const p = pads.get(node.name) ?? [0, 0, 0, 0];
        gradOut(biasName(node.name), b.op1('ReduceSum', [gy, b.int64s([0, 2, 3])], [int('keepdims', 0)]), [co]);
        gradOut(kernelName(node.name), kernelGradient(node, gy, p), [kh, kw, ci, co]);
        if (needsGrad.has(node.input)) send(node.input, inputGradient(node, gy, p));
        break;
      }
      case 'avgPool':
        if (needsGrad.has(node.input)) send(node.input, poolInputGradient(node, g));
        break;
      case 'concat': {
        const parts = b.op('Split', [g, b.int64s(node.inputs.map((n) => sizeOf(n).c))], [int('axis', 1)], node.inputs.length);
        node.inputs.forEach((n, j) => send(n, parts[j]));
        break;
      }
      case 'add':
        node.inputs.forEach((n) => send(n, g));
        break;
      case 'relu':
        send(node.input, b.op1('Where', [b.op1('Greater', [get(node.name), zero]), g, zero]));
        break;
      default:
        throw new Error(`internal: no backward for ${node.op}`);
    }
  }

  /** dW[a, b, ci, co] = Σ_{n,y,x} x_pad[n, ci, y·s + a, x·s + b] · g[n, co, y, x], HWIO. */
  function kernelGradient(node: ConvNode, gy: string, p: number[]): string {
    const [kh, kw, ci, co] = node.kernel.shape;
    const x = sizeOf(node.input);
    const out = sizeOf(node.name);
    const stride1 = node.strides[0] === 1 && node.strides[1] === 1;
    if (mode === 'matmul' && stride1) {
      // [n·h·w, co] against the input's kh·kw shifted windows as [kh·kw, ci, n·h·w]: one batched GEMM, HWIO out.
      const gRows = b.op1('Reshape', [b.op1('Transpose', [gy], [ints('perm', [0, 2, 3, 1])]), b.int64s([-1, co])]);
      let windows: string;
      if (kh === 1 && kw === 1 && p.every((v) => v === 0)) {
        windows = rowsOf(node.input);
      } else {
        const padded = b.op1('Pad', [b.op1('Transpose', [get(node.input)], [ints('perm', [1, 0, 2, 3])]), b.int64s([0, 0, p[0], p[1], 0, 0, p[2], p[3]])]);
        const taps: string[] = [];
        for (let a = 0; a < kh; a++) {
          for (let c = 0; c < kw; c++) {
            const tap = b.op1('Slice', [padded, b.int64s([a, c]), b.int64s([a + out.h, c + out.w]), b.int64s([2, 3])]);
            taps.push(b.op1('Reshape', [tap, b.int64s([1, ci, -1])]));
          }
        }
        windows = taps.length === 1 ? taps[0] : b.op1('Concat', taps, [int('axis', 0)]);
      }
      return b.op1('Reshape', [b.op1('MatMul', [windows, gRows]), b.int64s([kh, kw, ci, co])]);
    }
    // The textbook form: Conv(x as [ci, n, h, w], g as [co, n, ho, wo] the filter, dilated by the stride) is
    // [ci, co, ≥kh, ≥kw]; cropped to the kernel and put in HWIO.
    const xT = b.op1('Transpose', [get(node.input)], [ints('perm', [1, 0, 2, 3])]);
    const gT = b.op1('Transpose', [gy], [ints('perm', [1, 0, 2, 3])]);
    const attrs = [ints('kernel_shape', [out.h, out.w]), ints('dilations', node.strides), ints('pads', p)];
    let full = b.op1('Conv', [xT, gT], attrs);
    const fh = x.h + p[0] + p[2] - (out.h - 1) * node.strides[0];
    const fw = x.w + p[1] + p[3] - (out.w - 1) * node.strides[1];
    if (fh !== kh || fw !== kw) full = b.op1('Slice', [full, b.int64s([0, 0]), b.int64s([kh, kw]), b.int64s([2, 3])]);
    return b.op1('Transpose', [full], [ints('perm', [2, 3, 0, 1])]);
  }

  /** dx: stride 1, a Conv with the flipped, transposed kernel (as emit.ts); strided, a ConvTranspose cropped to x. */
  function inputGradient(node: ConvNode, gy: string, p: number[]): string {
    const [kh, kw] = node.kernel.shape;
    const x = sizeOf(node.input);
    if (node.strides[0] === 1 && node.strides[1] === 1) {
      const transposed = b.op1('Transpose', [kernelName(node.name)], [ints('perm', [2, 3, 0, 1])]);
      const flipped = b.op1('Slice', [transposed, b.int64s([-1, -1]), b.int64s([-(kh + 1), -(kw + 1)]), b.int64s([2, 3]), b.int64s([-1, -1])]);
      return b.op1('Conv', [gy, flipped], [ints('kernel_shape', [kh, kw]), ints('pads', mirroredPads([kh, kw], p))]);
    }
    const attrs = [ints('kernel_shape', [kh, kw]), ints('strides', node.strides), ints('pads', p), ints('output_padding', node.strides.map((s) => s - 1))];
    const full = b.op1('ConvTranspose', [gy, `f/${node.name}/W`], attrs);
    return b.op1('Slice', [full, b.int64s([0, 0]), b.int64s([x.h, x.w]), b.int64s([2, 3])]);
  }

  /** An average pool without padding in its divisor: dy / count per window, then the windows' adjoint. */
  function poolInputGradient(node: WindowNode, g: string): string {
    const x = sizeOf(node.input);
    const out = sizeOf(node.name);
    const p = pads.get(node.name) ?? [0, 0, 0, 0];
    const [kh, kw] = node.size;
    const [sh, sw] = node.strides;
    const inside = (o: number, k: number, s: number, before: number, n: number) => Math.min(n, o * s - before + k) - Math.max(0, o * s - before);
    const scale = new Float32Array(out.h * out.w);
    for (let oy = 0; oy < out.h; oy++) for (let ox = 0; ox < out.w; ox++) scale[oy * out.w + ox] = (kh * kw) / (inside(oy, kh, sh, p[0], x.h) * inside(ox, kw, sw, p[1], x.w));
    const u = b.op1('Mul', [g, b.floats(`${node.name}/countScale`, scale, [1, 1, out.h, out.w])]);
    if (sh === 1 && sw === 1) {
      return b.op1('AveragePool', [u], [ints('kernel_shape', [kh, kw]), ints('pads', mirroredPads([kh, kw], p)), int('count_include_pad', 1)]);
    }
    const box = b.filled(1 / (kh * kw), [x.c, 1, kh, kw]);
    const attrs = [ints('kernel_shape', [kh, kw]), ints('strides', node.strides), ints('pads', p), ints('output_padding', [sh - 1, sw - 1]), int('group', x.c)];
    return b.op1('Slice', [b.op1('ConvTranspose', [u, box], attrs), b.int64s([0, 0]), b.int64s([x.h, x.w]), b.int64s([2, 3])]);
  }

  return encode();
}

/** One batch's values: block inputs NHWC, smoothed one-hot labels, the head, and the blocks' weights (HWIO). */
export interface TrainStepFeeds {
  x: Float32Array;
  labels: Float32Array;
  kernel: Float32Array;
  bias: Float32Array;
  mean: Float32Array;
  std: Float32Array;
  weights: BlockWeights;
}

export interface TrainStepResult {
  loss: number;
  logits: Float32Array;
  /** By weight name: the blocks' `<conv>/kernel|bias` and TRAIN_STEP_INPUTS.kernel / .bias. */
  grads: Map<string, Float32Array>;
}

export interface OnnxTrainStep {
  run(feeds: TrainStepFeeds): Promise<TrainStepResult>;
  /** The blocks' pooled output `[n, channels]` for block inputs `x` (NHWC) at the given weights. */
  features(x: Float32Array, weights: BlockWeights): Promise<Float32Array>;
  release(): Promise<void>;
}

/** ONNX Runtime sessions of the step and of its forward pass (CPU, `threads` intra-op threads). */
export async function createTrainStep(plan: BlockPlan, opts: TrainStepOptions, threads: number): Promise<OnnxTrainStep> {
  const ort = await loadOrt();
  const options = cpuSessionOptions(threads);
  const session = await ort.InferenceSession.create(emitTrainStep(plan, opts), options);
  let forward: Promise<InferenceSession> | undefined;
  const [h, w, c] = opts.inputShape;
  const I = TRAIN_STEP_INPUTS;
  const tensor = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);
  const weightFeeds = (weights: BlockWeights, feeds: Record<string, Tensor>) => {
    for (const conv of plan.convs) {
      for (const [name, dims] of [
        [kernelName(conv.name), conv.kernel.shape],
        [biasName(conv.name), [conv.kernel.shape[3]]],
      ] as const) {
        const value = weights.get(name);
        if (!value) throw new Error(`internal: no weights for ${name}`);
        feeds[name] = tensor(value, [...dims]);
      }
    }
    return feeds;
  };
  return {
    async run(f) {
      const n = f.labels.length / opts.classes;
      const feeds = weightFeeds(f.weights, {
        [I.x]: tensor(f.x, [n, h, w, c]),
        [I.labels]: tensor(f.labels, [n, opts.classes]),
        [I.kernel]: tensor(f.kernel, [f.mean.length, opts.classes]),
        [I.bias]: tensor(f.bias, [opts.classes]),
        [I.mean]: tensor(f.mean, [f.mean.length]),
        [I.std]: tensor(f.std, [f.std.length]),
      });
      const out = await session.run(feeds);
      const data = (name: string) => out[name].data as Float32Array;
      const grads = new Map<string, Float32Array>();
      for (const name of session.outputNames) if (name.startsWith('grad/')) grads.set(name.slice('grad/'.length), data(name));
      return { loss: data('loss')[0], logits: data('logits'), grads };
    },
    async features(x, weights) {
      forward ??= ort.InferenceSession.create(emitTrainStep(plan, { ...opts, forwardOnly: true }), options);
      const out = await (await forward).run(weightFeeds(weights, { [I.x]: tensor(x, [x.length / (h * w * c), h, w, c]) }));
      return out.features.data as Float32Array;
    },
    async release() {
      await session.release();
      if (forward) await (await forward).release();
    },
  };
}
