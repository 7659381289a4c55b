import type { CompiledGraph, GraphNode, Padding } from '../../src/engine/model/graph.ts';
import { weightView } from '../../src/engine/model/graph.ts';

/**
 * A float64, pure-JS forward pass of a CompiledGraph: the reference that gradient tests take finite
 * differences of. It shares no code with DreamNetwork or tfjs (its padding arithmetic is written out here
 * too), so a mistake in either shows up as a disagreement, not as the same error twice.
 *
 * Ops follow TensorFlow: 'same' padding puts the odd extra row/column after; max and average pools skip
 * padded positions (an average divides by the inputs its window covers).
 */

/** A [1, h, w, c] feature map, NHWC. */
export interface FeatureMap {
  h: number;
  w: number;
  c: number;
  data: Float64Array;
}

/** Rows [r0, r1) × columns [c0, c1) of a feature map. */
interface Rect {
  r0: number;
  r1: number;
  c0: number;
  c1: number;
}

export type Values = Map<string, FeatureMap>;

/**
 * Per-layer channel weights: that layer's term is Σ_c weights[c] · mean_{h,w}(layer[…, c]) (the engine's LayerTerm)
 * instead of the mean over all its values.
 */
export type ChannelWeights = Record<string, ArrayLike<number>>;

type WindowNode = Extract<GraphNode, { op: 'conv' | 'maxPool' | 'avgPool' }>;

/** TensorFlow's output length and padding before the first window, along one axis. */
function axis(size: number, k: number, s: number, padding: Padding): { out: number; before: number } {
  if (padding === 'valid') return { out: Math.floor((size - k) / s) + 1, before: 0 };
  const out = Math.ceil(size / s);
  return { out, before: Math.floor(Math.max((out - 1) * s + k - size, 0) / 2) };
}

/** Σ of a map's values [from, to) less `b`'s there (if given), each times its channel's weight when there are weights. */
function termSum(a: FeatureMap, from: number, to: number, weights?: ArrayLike<number>, b?: FeatureMap): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += (a.data[i] - (b ? b.data[i] : 0)) * (weights ? weights[i % a.c] : 1);
  return sum;
}

export class ReferenceNet {
  private readonly byName = new Map<string, GraphNode>();
  private readonly weights = new Map<string, { kernel: Float64Array; bias: Float64Array }>();
  private readonly packed = new Map<string, Float64Array>();
  private readonly inputName: string;

  constructor(
    private readonly graph: CompiledGraph,
    /** Pixel range the network expects; images given to it are in [0, 1]. */
    private readonly range: [number, number] = [0, 1],
  ) {
    for (const node of graph.nodes) {
      this.byName.set(node.name, node);
      if (node.op === 'conv') this.weights.set(node.name, { kernel: Float64Array.from(weightView(graph, node.kernel)), bias: Float64Array.from(weightView(graph, node.bias)) });
      if (node.op === 'affine') this.weights.set(node.name, { kernel: Float64Array.from(weightView(graph, node.scale)), bias: Float64Array.from(weightView(graph, node.shift)) });
    }
    this.inputName = graph.nodes[0].name;
  }

  /** The nodes `layers` depend on, in graph order. */
  plan(layers: string[]): GraphNode[] {
    const needed = new Set<string>();
    const stack = layers.map((l) => this.outputOf(l));
    while (stack.length) {
      const name = stack.pop()!;
      if (needed.has(name)) continue;
      needed.add(name);
      const node = this.byName.get(name)!;
      if ('input' in node) stack.push(node.input);
      if ('inputs' in node) stack.push(...node.inputs);
    }
    return this.graph.nodes.filter((n) => needed.has(n.name));
  }

  private outputOf(layer: string): string {
    const name = this.graph.outputs[layer];
    if (!name) throw new Error(`no layer ${layer}`);
    return name;
  }

  /** Every activation `layers` need, for an image in [0, 1] (h × w × 3, row-major RGB). */
  forward(image: ArrayLike<number>, h: number, w: number, layers: string[]): Values {
    const [lo, hi] = this.range;
    const x: FeatureMap = { h, w, c: 3, data: Float64Array.from(image, (v) => lo + v * (hi - lo)) };
    const values: Values = new Map([[this.inputName, x]]);
    for (const node of this.plan(layers)) {
      if (node.op === 'input') continue;
      const inputs = this.inputsOf(node).map((n) => values.get(n)!);
      const out = this.allocate(node, inputs);
      this.compute(node, inputs, out, { r0: 0, r1: out.h, c0: 0, c1: out.w });
      values.set(node.name, out);
    }
    return values;
  }

  /** DeepDream loss: the sum over layers of their mean activation (or their channel-weighted spatial means). */
  loss(values: Values, layers: string[], weights: ChannelWeights = {}): number {
    let loss = 0;
    for (const l of layers) {
      const a = values.get(this.outputOf(l))!;
      loss += termSum(a, 0, a.data.length, weights[l]) / (weights[l] ? a.h * a.w : a.data.length);
    }
    return loss;
  }

  /**
   * loss(image + delta·e) − loss(image) for one pixel channel e, from the activations of `image`: only the
   * window each node's change can reach is recomputed, and the loss change is summed over it directly
   * (no cancellation against the whole loss). Exact float64 evaluation, just cheaper.
   */
  lossChange(base: Values, layers: string[], y: number, x: number, channel: number, delta: number, weights: ChannelWeights = {}): number {
    const input = base.get(this.inputName)!;
    const [lo, hi] = this.range;
    const moved: FeatureMap = { ...input, data: input.data.slice() };
    moved.data[(y * input.w + x) * 3 + channel] += delta * (hi - lo);
    const values: Values = new Map([[this.inputName, moved]]);
    const changed = new Map<string, Rect>([[this.inputName, { r0: y, r1: y + 1, c0: x, c1: x + 1 }]]);
    for (const node of this.plan(layers)) {
      if (node.op === 'input') continue;
      const names = this.inputsOf(node);
      const rects = names.map((n) => changed.get(n)).filter((r): r is Rect => r !== undefined);
      const old = base.get(node.name)!;
      if (!rects.length) {
        values.set(node.name, old);
        continue;
      }
      const inputs = names.map((n) => values.get(n)!);
      const rect = this.affected(node, rects, inputs[0], old);
      const out: FeatureMap = { ...old, data: old.data.slice() };
      this.compute(node, inputs, out, rect);
      values.set(node.name, out);
      changed.set(node.name, rect);
    }
    let change = 0;
    for (const l of layers) {
      const name = this.outputOf(l);
      const rect = changed.get(name);
      if (!rect) continue;
      const a = values.get(name)!;
      const b = base.get(name)!;
      let sum = 0;
      for (let r = rect.r0; r < rect.r1; r++) {
        const [from, to] = [(r * a.w + rect.c0) * a.c, (r * a.w + rect.c1) * a.c];
        sum += termSum(a, from, to, weights[l], b);
      }
      change += sum / (weights[l] ? a.h * a.w : a.data.length);
    }
    return change;
  }

  private inputsOf(node: GraphNode): string[] {
    if ('inputs' in node) return node.inputs;
    if ('input' in node) return [node.input];
    return [];
  }

  private geometry(node: WindowNode): { k: [number, number]; s: [number, number] } {
    return node.op === 'conv' ? { k: [node.kernel.shape[0], node.kernel.shape[1]], s: node.strides } : { k: node.size, s: node.strides };
  }

  private allocate(node: GraphNode, inputs: FeatureMap[]): FeatureMap {
    const x = inputs[0];
    let { h, w, c } = x;
    if (node.op === 'conv' || node.op === 'maxPool' || node.op === 'avgPool') {
      const { k, s } = this.geometry(node);
      h = axis(x.h, k[0], s[0], node.padding).out;
      w = axis(x.w, k[1], s[1], node.padding).out;
      if (node.op === 'conv') c = node.kernel.shape[3];
    } else if (node.op === 'concat') {
      c = inputs.reduce((sum, t) => sum + t.c, 0);
    }
    return { h, w, c, data: new Float64Array(h * w * c) };
  }

  /** Output positions whose value depends on the changed input rects. */
  private affected(node: GraphNode, rects: Rect[], x: FeatureMap, out: FeatureMap): Rect {
    const union: Rect = {
      r0: Math.min(...rects.map((r) => r.r0)),
      r1: Math.max(...rects.map((r) => r.r1)),
      c0: Math.min(...rects.map((r) => r.c0)),
      c1: Math.max(...rects.map((r) => r.c1)),
    };
    if (node.op !== 'conv' && node.op !== 'maxPool' && node.op !== 'avgPool') return union;
    const { k, s } = this.geometry(node);
    const before = [axis(x.h, k[0], s[0], node.padding).before, axis(x.w, k[1], s[1], node.padding).before];
    // Output o reads inputs [o·s − before, o·s − before + k).
    const first = (a: number, i: number) => Math.max(0, Math.floor((a + before[i] - k[i]) / s[i]) + 1);
    const end = (b: number, i: number, size: number) => Math.min(size, Math.ceil((b + before[i]) / s[i]));
    return { r0: first(union.r0, 0), r1: end(union.r1, 0, out.h), c0: first(union.c0, 1), c1: end(union.c1, 1, out.w) };
  }

  /** Writes `node`'s output over `rect` of `out`. */
  private compute(node: GraphNode, inputs: FeatureMap[], out: FeatureMap, rect: Rect): void {
    switch (node.op) {
      case 'input':
        return;
      case 'conv':
        return this.conv(node, inputs[0], out, rect);
      case 'maxPool':
      case 'avgPool':
        return this.pool(node, inputs[0], out, rect);
      case 'concat': {
        for (let r = rect.r0; r < rect.r1; r++) {
          for (let col = rect.c0; col < rect.c1; col++) {
            let at = (r * out.w + col) * out.c;
            for (const t of inputs) {
              const from = (r * t.w + col) * t.c;
              for (let ch = 0; ch < t.c; ch++) out.data[at++] = t.data[from + ch];
            }
          }
        }
        return;
      }
      case 'add':
      case 'relu':
      case 'leakyRelu':
      case 'affine': {
        const aff = node.op === 'affine' ? this.weights.get(node.name)! : null;
        for (let r = rect.r0; r < rect.r1; r++) {
          for (let i = (r * out.w + rect.c0) * out.c; i < (r * out.w + rect.c1) * out.c; i++) {
            if (node.op === 'add') out.data[i] = inputs.reduce((sum, t) => sum + t.data[i], 0);
            else if (node.op === 'relu') out.data[i] = Math.max(0, inputs[0].data[i]);
            else if (node.op === 'leakyRelu') out.data[i] = inputs[0].data[i] > 0 ? inputs[0].data[i] : node.alpha * inputs[0].data[i];
            else out.data[i] = inputs[0].data[i] * aff!.kernel[i % out.c] + aff!.bias[i % out.c];
          }
        }
        return;
      }
    }
  }

  /**
   * A conv's kernel in blocks of eight output channels, [co / 8][kh·kw][ci][8] (zeros past the last channel): the
   * taps one block of outputs reads lie together in memory, one cache line per input channel.
   */
  private blocks(node: Extract<GraphNode, { op: 'conv' }>): Float64Array {
    const cached = this.packed.get(node.name);
    if (cached) return cached;
    const { kernel } = this.weights.get(node.name)!;
    const [kh, kw, ci, co] = node.kernel.shape;
    const taps = kh * kw * ci;
    const packed = new Float64Array(Math.ceil(co / 8) * taps * 8);
    for (let t = 0; t < taps; t++) for (let m = 0; m < co; m++) packed[((m >> 3) * taps + t) * 8 + (m & 7)] = kernel[t * co + m];
    this.packed.set(node.name, packed);
    return packed;
  }

  private conv(node: Extract<GraphNode, { op: 'conv' }>, x: FeatureMap, out: FeatureMap, rect: Rect): void {
    const { bias } = this.weights.get(node.name)!;
    const packed = this.blocks(node);
    const [kh, kw, ci, co] = node.kernel.shape;
    const [sh, sw] = node.strides;
    const top = axis(x.h, kh, sh, node.padding).before;
    const left = axis(x.w, kw, sw, node.padding).before;
    const o = out.data;
    const xd = x.data;
    // Each input position the rect reads, with its non-zero channels listed once (a zero adds nothing: skipped).
    const y0 = Math.max(0, rect.r0 * sh - top);
    const y1 = Math.min(x.h, (rect.r1 - 1) * sh - top + kh);
    const x0 = Math.max(0, rect.c0 * sw - left);
    const x1 = Math.min(x.w, (rect.c1 - 1) * sw - left + kw);
    const span = Math.max(0, x1 - x0);
    const positions = Math.max(0, y1 - y0) * span;
    const count = new Int32Array(positions);
    const channel = new Int32Array(positions * ci);
    const value = new Float64Array(positions * ci);
    for (let iy = y0; iy < y1; iy++) {
      for (let ix = x0; ix < x1; ix++) {
        const p = (iy - y0) * span + (ix - x0);
        const from = (iy * x.w + ix) * ci;
        let n = p * ci;
        for (let c = 0; c < ci; c++) {
          const v = xd[from + c];
          if (v === 0) continue;
          channel[n] = c;
          value[n++] = v;
        }
        count[p] = n - p * ci;
      }
    }
    // Each output is its bias plus the products over (ky, kx, c) in that order, as a plain loop adds them: the same
    // float64 result, eight outputs at a time (independent sums, so the additions overlap).
    const taps = kh * kw * ci;
    for (let m = 0; m < co; m += 8) {
      const block = (m >> 3) * taps * 8;
      const n = Math.min(8, co - m);
      for (let oy = rect.r0; oy < rect.r1; oy++) {
        for (let ox = rect.c0; ox < rect.c1; ox++) {
          let s0 = bias[m];
          let s1 = n > 1 ? bias[m + 1] : 0;
          let s2 = n > 2 ? bias[m + 2] : 0;
          let s3 = n > 3 ? bias[m + 3] : 0;
          let s4 = n > 4 ? bias[m + 4] : 0;
          let s5 = n > 5 ? bias[m + 5] : 0;
          let s6 = n > 6 ? bias[m + 6] : 0;
          let s7 = n > 7 ? bias[m + 7] : 0;
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * sh - top + ky;
            if (iy < 0 || iy >= x.h) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * sw - left + kx;
              if (ix < 0 || ix >= x.w) continue;
              const p = (iy - y0) * span + (ix - x0);
              const tap = block + (ky * kw + kx) * ci * 8;
              const end = p * ci + count[p];
              for (let j = p * ci; j < end; j++) {
                const v = value[j];
                const k = tap + channel[j] * 8;
                s0 += v * packed[k];
                s1 += v * packed[k + 1];
                s2 += v * packed[k + 2];
                s3 += v * packed[k + 3];
                s4 += v * packed[k + 4];
                s5 += v * packed[k + 5];
                s6 += v * packed[k + 6];
                s7 += v * packed[k + 7];
              }
            }
          }
          const base = (oy * out.w + ox) * co + m;
          const relu = node.relu;
          o[base] = relu && s0 < 0 ? 0 : s0;
          if (n > 1) o[base + 1] = relu && s1 < 0 ? 0 : s1;
          if (n > 2) o[base + 2] = relu && s2 < 0 ? 0 : s2;
          if (n > 3) o[base + 3] = relu && s3 < 0 ? 0 : s3;
          if (n > 4) o[base + 4] = relu && s4 < 0 ? 0 : s4;
          if (n > 5) o[base + 5] = relu && s5 < 0 ? 0 : s5;
          if (n > 6) o[base + 6] = relu && s6 < 0 ? 0 : s6;
          if (n > 7) o[base + 7] = relu && s7 < 0 ? 0 : s7;
        }
      }
    }
  }

  private pool(node: Extract<GraphNode, { op: 'maxPool' | 'avgPool' }>, x: FeatureMap, out: FeatureMap, rect: Rect): void {
    const [kh, kw] = node.size;
    const [sh, sw] = node.strides;
    const top = axis(x.h, kh, sh, node.padding).before;
    const left = axis(x.w, kw, sw, node.padding).before;
    const c = x.c;
    const isMax = node.op === 'maxPool';
    for (let oy = rect.r0; oy < rect.r1; oy++) {
      const y0 = Math.max(0, oy * sh - top);
      const y1 = Math.min(x.h, oy * sh - top + kh);
      for (let ox = rect.c0; ox < rect.c1; ox++) {
        const x0 = Math.max(0, ox * sw - left);
        const x1 = Math.min(x.w, ox * sw - left + kw);
        const count = (y1 - y0) * (x1 - x0);
        const base = (oy * out.w + ox) * c;
        for (let ch = 0; ch < c; ch++) {
          let acc = isMax ? -Infinity : 0;
          for (let iy = y0; iy < y1; iy++) {
            for (let ix = x0; ix < x1; ix++) {
              const v = x.data[(iy * x.w + ix) * c + ch];
              acc = isMax ? Math.max(acc, v) : acc + v;
            }
          }
          out.data[base + ch] = isMax ? acc : acc / count;
        }
      }
    }
  }
}

/**
 * d(loss)/d(pixel channel) by central differences of the float64 reference. The network is piecewise linear
 * in the image, so away from a ReLU or max-pool kink both one-sided changes are exact and opposite; when they
 * are not, a kink lies within ±h and h shrinks.
 */
export function slope(ref: ReferenceNet, base: Values, layers: string[], y: number, x: number, c: number, weights: ChannelWeights = {}): number {
  for (let h = 1e-4; h >= 1e-8; h /= 10) {
    const up = ref.lossChange(base, layers, y, x, c, h, weights);
    const down = ref.lossChange(base, layers, y, x, c, -h, weights);
    if (Math.abs(up + down) <= 1e-5 * Math.abs(up - down) + 1e-15 * h) return (up - down) / (2 * h);
  }
  throw new Error(`no linear neighbourhood around pixel (${y}, ${x}, ${c})`);
}
