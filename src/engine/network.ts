import * as tf from '@tensorflow/tfjs-core';
import type { CompiledGraph, GraphNode, Padding } from './model/graph.ts';
import { weightView } from './model/graph.ts';
import { maxPoolInputGradient, type PoolGeometry } from './max-pool-grad.ts';
import { padAmounts } from './padding.ts';

type ConvNode = Extract<GraphNode, { op: 'conv' }>;

/**
 * An extra term of the dream objective: `scale · Σ_c channelWeights[c] · mean_{h,w}(layer[..., c])`.
 * With a dense head's column as `channelWeights` this is that class's logit of the layer's global average
 * pooling (bias left out: it does not change the gradient).
 */
export interface ChannelObjective {
  layer: string;
  /** One weight per channel of `layer`. */
  channelWeights: Float32Array;
  scale: number;
}

/**
 * A guided term (objective.ts `GuideTerm`): `scale · Σ_p max_j (act(p) · guide_j) / positions`, whose gradient
 * at each position is the best-matching guide vector.
 */
export interface GuideObjective {
  layer: string;
  /** `[n, C]` row-major guide vectors. */
  guide: Float32Array;
  scale: number;
}

export type ExtraObjective = ChannelObjective | GuideObjective;

interface ConvWeights {
  kernel: tf.Tensor4D;
  /**
   * Kernel flipped in space and with in/out channels swapped: the input-gradient is a forward conv with it. Made on
   * first use (gradKernel()): a network that only computes activations, such as the screener's, never needs it, and
   * making it for the whole of InceptionV3 took 1.4 s on wasm and as much memory again as the kernels.
   */
  gradKernel?: tf.Tensor4D;
  bias: tf.Tensor1D;
}

function mustGet<K, V>(map: Map<K, V>, key: K): V {
  const v = map.get(key);
  if (v === undefined) throw new Error(`internal: missing ${String(key)}`);
  return v;
}

/**
 * The compiled network as plain tfjs-core ops, with a hand-written backward pass that yields
 * d(loss)/d(input) only: no filter gradients (missing on wasm, slow on cpu) and no tape.
 */
export class DreamNetwork {
  private readonly convs = new Map<string, ConvWeights>();
  private readonly affines = new Map<string, { scale: tf.Tensor1D; shift: tf.Tensor1D }>();
  private readonly byName = new Map<string, GraphNode>();
  private readonly plans = new Map<string, GraphNode[]>();
  /** Per-window gradient scale of avg pools, by input size and pool geometry (see poolScale). */
  private readonly poolScales = new Map<string, Float32Array | null>();
  private readonly inputName: string;

  constructor(
    private readonly graph: CompiledGraph,
    /** The network's expected pixel range; images given to it are in [0, 1]. */
    private readonly inputRange: [number, number],
  ) {
    for (const node of graph.nodes) {
      this.byName.set(node.name, node);
      if (node.op === 'conv') {
        const kernel = tf.tensor4d(weightView(graph, node.kernel), node.kernel.shape as [number, number, number, number]);
        this.convs.set(node.name, { kernel, bias: tf.tensor1d(weightView(graph, node.bias)) });
      } else if (node.op === 'affine') {
        this.affines.set(node.name, { scale: tf.tensor1d(weightView(graph, node.scale)), shift: tf.tensor1d(weightView(graph, node.shift)) });
      }
    }
    this.inputName = graph.nodes[0].name;
  }

  /** Keras layer names this network can produce. */
  hasLayer(layer: string): boolean {
    return layer in this.graph.outputs;
  }

  dispose(): void {
    for (const w of this.convs.values()) tf.dispose([w.kernel, w.bias, ...(w.gradKernel ? [w.gradKernel] : [])]);
    for (const a of this.affines.values()) tf.dispose([a.scale, a.shift]);
    this.convs.clear();
    this.affines.clear();
  }

  /** The nodes needed for `layers`, in order. */
  private plan(layers: string[]): GraphNode[] {
    const key = layers.join(',');
    const cached = this.plans.get(key);
    if (cached) return cached;
    const needed = new Set<string>();
    const stack = layers.map((l) => this.nodeOf(l));
    while (stack.length) {
      const name = stack.pop()!;
      if (needed.has(name)) continue;
      needed.add(name);
      const node = mustGet(this.byName, name);
      if ('input' in node) stack.push(node.input);
      if ('inputs' in node) stack.push(...node.inputs);
    }
    const plan = this.graph.nodes.filter((n) => needed.has(n.name));
    this.plans.set(key, plan);
    return plan;
  }

  private nodeOf(layer: string): string {
    const name = this.graph.outputs[layer];
    if (!name) throw new Error(`The network has no layer "${layer}".`);
    return name;
  }

  private forwardNode(node: GraphNode, values: Map<string, tf.Tensor4D>): tf.Tensor4D {
    switch (node.op) {
      case 'input':
        throw new Error('internal: input is not computed');
      case 'conv': {
        const w = mustGet(this.convs, node.name);
        return tf.fused.conv2d({
          x: mustGet(values, node.input),
          filter: w.kernel,
          strides: node.strides,
          pad: node.padding,
          bias: w.bias,
          activation: node.relu ? 'relu' : 'linear',
        });
      }
      case 'maxPool':
        return tf.maxPool(mustGet(values, node.input), node.size, node.strides, node.padding);
      case 'avgPool':
        return tf.avgPool(mustGet(values, node.input), node.size, node.strides, node.padding);
      case 'concat':
        return tf.concat4d(node.inputs.map((n) => mustGet(values, n)), 3);
      case 'add':
        return node.inputs.map((n) => mustGet(values, n)).reduce((a, b) => tf.add(a, b));
      case 'relu':
        return tf.relu(mustGet(values, node.input));
      case 'leakyRelu':
        return tf.leakyRelu(mustGet(values, node.input), node.alpha);
      case 'affine': {
        const a = mustGet(this.affines, node.name);
        return tf.add(tf.mul(mustGet(values, node.input), a.scale), a.shift);
      }
    }
  }

  private forward(image: tf.Tensor4D, plan: GraphNode[]): Map<string, tf.Tensor4D> {
    const [lo, hi] = this.inputRange;
    const x = lo === 0 && hi === 1 ? image : tf.add(tf.mul(image, hi - lo), lo);
    const values = new Map<string, tf.Tensor4D>([[this.inputName, x as tf.Tensor4D]]);
    for (const node of plan) if (node.op !== 'input') values.set(node.name, this.forwardNode(node, values));
    return values;
  }

  /** Activations of `layers` for an image in [0, 1] (shape [1, h, w, 3]). */
  activations(image: tf.Tensor4D, layers: string[]): tf.Tensor4D[] {
    return tf.tidy(() => {
      const values = this.forward(image, this.plan(layers));
      return layers.map((l) => mustGet(values, this.nodeOf(l)));
    });
  }

  /**
   * DeepDream loss alone: the sum over layers of the mean activation, plus the `extra` terms.
   * Differentiable by tfjs autodiff too.
   */
  loss(image: tf.Tensor4D, layers: string[], extra: ExtraObjective[] = []): tf.Scalar {
    return tf.tidy(() => {
      const acts = this.activations(image, [...layers, ...extra.map((e) => e.layer)]);
      const terms = layers.map((_, i) => tf.mean(acts[i]));
      extra.forEach((e, i) => {
        const act = acts[layers.length + i];
        if ('guide' in e) terms.push(tf.mul(this.guideMatch(e, act).loss, e.scale));
        else terms.push(tf.mul(tf.sum(tf.mul(tf.mean(act, [0, 1, 2]), this.channelWeights(e, act))), e.scale));
      });
      return tf.addN(terms) as tf.Scalar;
    });
  }

  private channelWeights(e: ChannelObjective, act: tf.Tensor4D): tf.Tensor1D {
    if (e.channelWeights.length !== act.shape[3]) {
      throw new Error(`Objective on ${e.layer}: ${e.channelWeights.length} channel weights for ${act.shape[3]} channels.`);
    }
    return tf.tensor1d(e.channelWeights);
  }

  /**
   * The guide objective's loss (`Σ_p max_j act(p)·guide_j / positions`) and its upstream gradient (the best
   * guide vector at each position, over positions), unscaled. Call inside a tidy.
   */
  private guideMatch(e: GuideObjective, act: tf.Tensor4D): { loss: tf.Scalar; seed: tf.Tensor4D } {
    const c = act.shape[3];
    const n = e.guide.length / c;
    if (!Number.isInteger(n) || n < 1) throw new Error(`Guide on ${e.layer}: ${e.guide.length} floats is not a whole number (≥ 1) of ${c}-channel vectors.`);
    const positions = act.size / c;
    const guide = tf.tensor2d(e.guide, [n, c]);
    const scores = tf.matMul(tf.reshape(act, [positions, c]), guide, false, true);
    const loss = tf.div(tf.sum(tf.max(scores, 1)), positions) as tf.Scalar;
    const seed = tf.reshape(tf.div(tf.gather(guide, tf.argMax(scores, 1)), positions), act.shape) as tf.Tensor4D;
    return { loss, seed };
  }

  /**
   * DeepDream loss (sum over layers of the mean activation, plus the `extra` terms: channel-weighted means or
   * guides) and its gradient with respect to the image.
   */
  lossAndGradient(image: tf.Tensor4D, layers: string[], extra: ExtraObjective[] = []): { loss: tf.Scalar; gradient: tf.Tensor4D } {
    return tf.tidy(() => {
      const plan = this.plan(extra.length ? [...new Set([...layers, ...extra.map((e) => e.layer)])] : layers);
      const values = this.forward(image, plan);
      const grads = new Map<string, tf.Tensor4D>();
      const accumulate = (name: string, g: tf.Tensor4D) => {
        const prev = grads.get(name);
        grads.set(name, prev ? tf.add(prev, g) : g);
      };
      let loss: tf.Scalar = tf.scalar(0);
      for (const layer of layers) {
        const act = mustGet(values, this.nodeOf(layer));
        loss = tf.add(loss, tf.mean(act));
        accumulate(this.nodeOf(layer), tf.fill(act.shape, 1 / act.size) as tf.Tensor4D);
      }
      for (const e of extra) {
        const act = mustGet(values, this.nodeOf(e.layer));
        if ('guide' in e) {
          const { loss: guideLoss, seed } = this.guideMatch(e, act);
          loss = tf.add(loss, tf.mul(guideLoss, e.scale));
          accumulate(this.nodeOf(e.layer), e.scale === 1 ? seed : (tf.mul(seed, e.scale) as tf.Tensor4D));
          continue;
        }
        // d/d(act) of scale · Σ_c w_c · mean_hw(act_c) is scale · w_c / (H·W) at every position.
        const c = act.shape[3];
        const positions = act.size / c;
        const weights = this.channelWeights(e, act);
        loss = tf.add(loss, tf.mul(tf.sum(tf.mul(tf.mean(act, [0, 1, 2]), weights)), e.scale));
        accumulate(this.nodeOf(e.layer), tf.broadcastTo(tf.reshape(tf.mul(weights, e.scale / positions), [1, 1, 1, c]), act.shape) as tf.Tensor4D);
      }
      for (let i = plan.length - 1; i >= 0; i--) {
        const node = plan[i];
        const g = grads.get(node.name);
        if (!g || node.op === 'input') continue;
        this.backwardNode(node, g, values, accumulate);
        // Free what no later step needs, so peak memory stays near the forward pass.
        grads.delete(node.name);
        g.dispose();
      }
      const [lo, hi] = this.inputRange;
      const gx = mustGet(grads, this.inputName);
      return { loss, gradient: hi - lo === 1 ? gx : tf.mul(gx, hi - lo) };
    });
  }

  private backwardNode(node: GraphNode, g: tf.Tensor4D, values: Map<string, tf.Tensor4D>, accumulate: (name: string, g: tf.Tensor4D) => void): void {
    switch (node.op) {
      case 'input':
        return;
      case 'conv': {
        const y = mustGet(values, node.name);
        const gy: tf.Tensor4D = node.relu ? tf.mul(g, tf.step(y)) : g;
        accumulate(node.input, this.convInputGradient(node, gy, mustGet(values, node.input).shape));
        return;
      }
      case 'maxPool':
        accumulate(node.input, maxPoolInputGradient(g, mustGet(values, node.input), mustGet(values, node.name), node));
        return;
      case 'avgPool':
        accumulate(node.input, this.avgPoolInputGradient(node, g, mustGet(values, node.input).shape));
        return;
      case 'concat': {
        const sizes = node.inputs.map((n) => mustGet(values, n).shape[3]);
        tf.split(g, sizes, 3).forEach((part, i) => accumulate(node.inputs[i], part as tf.Tensor4D));
        return;
      }
      case 'add':
        for (const n of node.inputs) accumulate(n, tf.clone(g));
        return;
      case 'relu':
        accumulate(node.input, tf.mul(g, tf.step(mustGet(values, node.name))) as tf.Tensor4D);
        return;
      case 'leakyRelu':
        // g · (x > 0 ? 1 : alpha): Step with a slope exists on every backend (wasm has no LeakyRelu gradient kernel).
        // Read from the input, not the output, so a negative alpha is right too.
        accumulate(node.input, tf.mul(g, tf.step(mustGet(values, node.input), node.alpha)) as tf.Tensor4D);
        return;
      case 'affine':
        accumulate(node.input, tf.mul(g, mustGet(this.affines, node.name).scale) as tf.Tensor4D);
        return;
    }
  }

  /**
   * d(loss)/d(x) of an average pool: dx = Σ over the windows covering x of dy / (inputs in that window).
   * tf.avgPool with 'same' padding leaves the padding out of that count, but tfjs' AvgPoolGrad on cpu and
   * wasm divides by the full window (kh·kw), so it is wrong at every border (native TensorFlow's is right).
   * Hence no AvgPoolGrad: dy is scaled per window, then spread back over the windows by the adjoint of a
   * window sum (dilate by the stride, pad, 'valid' pool), which has no padding and so means the same on
   * every backend. It is also several times faster than AvgPoolGrad on wasm and cpu.
   */
  private avgPoolInputGradient(node: PoolGeometry, dy: tf.Tensor4D, xShape: number[]): tf.Tensor4D {
    const [kh, kw] = node.size;
    const [sh, sw] = node.strides;
    const [, h, w] = xShape;
    const rows = padAmounts(h, kh, sh, node.padding);
    const cols = padAmounts(w, kw, sw, node.padding);
    const scale = this.poolScale(h, w, node);
    // avgPool below divides each window sum by kh·kw: dy·(kh·kw)/count makes that Σ dy/count.
    const scaled: tf.Tensor4D = scale ? tf.mul(dy, tf.tensor4d(scale, [1, rows.out, cols.out, 1])) : dy;
    const top = kh - 1 - rows.before;
    const bottom = h - (rows.out - 1) * sh - 1 + rows.before;
    const left = kw - 1 - cols.before;
    const right = w - (cols.out - 1) * sw - 1 + cols.before;
    const padded = tf.pad(dilate(scaled, sh, sw), [[0, 0], [top, bottom], [left, right], [0, 0]]);
    return tf.avgPool(padded, [kh, kw], 1, 'valid');
  }

  /**
   * (kh·kw) / (inputs inside the image) for each window of an avg pool on an h×w input, row-major over the
   * output; null when every window lies fully inside (no padding). Cached per geometry: dreams reuse sizes.
   */
  private poolScale(h: number, w: number, node: PoolGeometry): Float32Array | null {
    const [kh, kw] = node.size;
    const [sh, sw] = node.strides;
    const key = `${h},${w},${kh},${kw},${sh},${sw},${node.padding}`;
    const cached = this.poolScales.get(key);
    if (cached !== undefined) return cached;
    const rows = padAmounts(h, kh, sh, node.padding);
    const cols = padAmounts(w, kw, sw, node.padding);
    // Inputs a window covers along one axis: its span clipped to [0, size).
    const inside = (o: number, k: number, s: number, before: number, size: number) => Math.min(size, o * s - before + k) - Math.max(0, o * s - before);
    let scale: Float32Array | null = null;
    for (let oy = 0; oy < rows.out; oy++) {
      const ry = inside(oy, kh, sh, rows.before, h);
      for (let ox = 0; ox < cols.out; ox++) {
        const count = ry * inside(ox, kw, sw, cols.before, w);
        if (count === kh * kw && !scale) continue;
        scale ??= new Float32Array(rows.out * cols.out).fill(1);
        scale[oy * cols.out + ox] = (kh * kw) / count;
      }
    }
    if (this.poolScales.size >= 64) this.poolScales.clear();
    this.poolScales.set(key, scale);
    return scale;
  }

  /**
   * d(loss)/d(x) of a convolution: dilate dy by the stride, pad it, and run a forward convolution with the
   * flipped, transposed kernel. Forward convs are the fast path on every backend (XNNPACK on wasm).
   */
  private convInputGradient(node: ConvNode, dy: tf.Tensor4D, xShape: number[]): tf.Tensor4D {
    const [kh, kw] = node.kernel.shape;
    const [sh, sw] = node.strides;
    const [, h, w] = xShape;
    const rows = padAmounts(h, kh, sh, node.padding);
    const cols = padAmounts(w, kw, sw, node.padding);
    const g = dilate(dy, sh, sw);
    const top = kh - 1 - rows.before;
    const bottom = h - (rows.out - 1) * sh - 1 + rows.before;
    const left = kw - 1 - cols.before;
    const right = w - (cols.out - 1) * sw - 1 + cols.before;
    return tf.conv2d(g, this.gradKernel(node.name), 1, [[0, 0], [top, bottom], [left, right], [0, 0]]);
  }

  /** A conv's gradient kernel (ConvWeights.gradKernel), made on first use and kept past the caller's tidy. */
  private gradKernel(name: string): tf.Tensor4D {
    const w = mustGet(this.convs, name);
    w.gradKernel ??= tf.keep(tf.tidy(() => tf.transpose(tf.reverse(w.kernel, [0, 1]), [0, 1, 3, 2])));
    return w.gradKernel;
  }
}

/** Inserts stride-1 zeros between pixels: the adjoint of a strided window (batch is always 1 here). */
function dilate(t: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return t;
  const [, oh, ow, c] = t.shape;
  const spread = tf.pad(tf.reshape(t, [oh, 1, ow, 1, c]), [[0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
  return tf.slice(tf.reshape(spread, [1, oh * sh, ow * sw, c]), [0, 0, 0, 0], [1, (oh - 1) * sh + 1, (ow - 1) * sw + 1, c]) as tf.Tensor4D;
}
