// The fine-tuned blocks as a trainable tfjs model: the same compiled nodes (BatchNorm already folded into each
// convolution, so its statistics stay frozen as a fixed affine), with the convolutions' kernels and biases as
// variables. tfjs autodiff (tf.variableGrads) trains them; two ops get gradients written here, because tfjs has
// none that fits: a convolution's filter gradient (no Conv2DBackpropFilter kernel on wasm) and a 'same' average
// pool's (tfjs's AvgPoolGrad divides by the whole window at the border, see network.ts).
import * as tf from '@tensorflow/tfjs-core';
import { padAmounts } from '../padding.ts';
import { biasName, kernelName, type BlockPlan, type BlockWeights, type ConvNode } from '../model/blocks.ts';
import type { GraphNode } from '../model/graph.ts';

/**
 * tfjs-core registers no gradients of its own; the union package does (loaded only when training fine-tunes, as
 * the dream path never uses autodiff).
 */
export async function registerGradients(): Promise<void> {
  await import('@tensorflow/tfjs');
}

export class BlockModel {
  readonly variables = new Map<string, tf.Variable>();

  constructor(
    private readonly plan: BlockPlan,
    weights: BlockWeights,
    uid: string,
  ) {
    for (const c of plan.convs) {
      const k = weights.get(kernelName(c.name));
      const b = weights.get(biasName(c.name));
      if (!k || !b) throw new Error(`internal: no weights for ${c.name}`);
      this.variables.set(kernelName(c.name), tf.variable(tf.tensor4d(k, c.kernel.shape as [number, number, number, number]), true, `ft-${uid}-${c.name}-k`));
      this.variables.set(biasName(c.name), tf.variable(tf.tensor1d(b), true, `ft-${uid}-${c.name}-b`));
    }
  }

  /** The blocks' output (the cut layer) for a batch of their input activations `[n, h, w, c]`. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    const values = new Map<string, tf.Tensor4D>([[this.plan.fromNode, x]]);
    const get = (name: string) => {
      const v = values.get(name);
      if (!v) throw new Error(`internal: ${name} not computed`);
      return v;
    };
    for (const node of this.plan.nodes) values.set(node.name, this.node(node, get));
    return get(this.plan.outputNode);
  }

  /** Global average pool of the output: the head's features, `[n, channels]`. */
  pooled(x: tf.Tensor4D): tf.Tensor2D {
    return tf.mean(this.forward(x), [1, 2]);
  }

  /** The variables' current values, by weight name. */
  weights(): BlockWeights {
    return new Map([...this.variables].map(([name, v]) => [name, Float32Array.from(v.dataSync() as Float32Array)]));
  }

  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
    this.variables.clear();
  }

  private node(node: GraphNode, get: (name: string) => tf.Tensor4D): tf.Tensor4D {
    switch (node.op) {
      case 'input':
        throw new Error('internal: the input is not a block node');
      case 'conv':
        return convOp(node)(get(node.input), this.variables.get(kernelName(node.name))!, this.variables.get(biasName(node.name))!) as tf.Tensor4D;
      case 'maxPool':
        return tf.maxPool(get(node.input), node.size, node.strides, node.padding);
      case 'avgPool':
        // Without padding every window counts all its inputs, and tfjs's own gradient is right.
        if (node.padding === 'valid') return tf.avgPool(get(node.input), node.size, node.strides, 'valid');
        return avgPoolOp(node)(get(node.input)) as tf.Tensor4D;
      case 'concat':
        return tf.concat4d(node.inputs.map(get), 3);
      case 'add':
        return node.inputs.map(get).reduce((a, b) => tf.add(a, b));
      case 'relu':
        return tf.relu(get(node.input));
      case 'leakyRelu':
        return tf.leakyRelu(get(node.input), node.alpha);
      case 'affine':
        throw new Error(`Fine-tuning does not handle the unfolded BatchNorm ${node.name}.`);
    }
  }
}

/** Adds zeros between pixels (stride − 1 of them): the adjoint of a strided window, for any batch. */
function dilate(t: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return t;
  const [n, oh, ow, c] = t.shape;
  const spread = tf.pad(tf.reshape(t, [n * oh, 1, ow, 1, c]), [[0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
  return tf.slice(tf.reshape(spread, [n, oh * sh, ow * sw, c]), [0, 0, 0, 0], [n, (oh - 1) * sh + 1, (ow - 1) * sw + 1, c]) as tf.Tensor4D;
}

/**
 * conv(x, W) + b, then ReLU when the node has one, with its three gradients from forward ops only:
 * dx: the output gradient, dilated and padded, convolved with the flipped transposed kernel (as network.ts);
 * dW[i, j, ci, co] = Σ_{n,y,x} x_pad[n, y·s + i, x·s + j, ci] · g[n, y, x, co]: a 1×1 convolution is one matrix
 * product, any other a convolution with batch and channels swapped (g as the filter, dilated by the stride);
 * db: g summed over batch and positions.
 */
function convOp(node: ConvNode) {
  const [kh, kw, ci, co] = node.kernel.shape;
  const [sh, sw] = node.strides;
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, w, b, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.GradSaveFunc];
    const x4 = x;
    const y = tf.fused.conv2d({ x: x4, filter: w as tf.Tensor4D, strides: node.strides, pad: node.padding, bias: b, activation: node.relu ? 'relu' : 'linear' });
    save([x4, w, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws, ys] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
        const g: tf.Tensor4D = node.relu ? tf.mul(dy, tf.step(ys)) : (dy as tf.Tensor4D);
        const [n, h, wd] = xs.shape;
        const [, oh, ow] = g.shape;
        const rows = padAmounts(h, kh, sh, node.padding);
        const cols = padAmounts(wd, kw, sw, node.padding);
        const gradKernel = tf.transpose(tf.reverse(ws, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
        const top = kh - 1 - rows.before;
        const bottom = h - (oh - 1) * sh - 1 + rows.before;
        const left = kw - 1 - cols.before;
        const right = wd - (ow - 1) * sw - 1 + cols.before;
        const dx = tf.conv2d(dilate(g, sh, sw), gradKernel, 1, [[0, 0], [top, bottom], [left, right], [0, 0]]);
        let dw: tf.Tensor;
        if (kh === 1 && kw === 1 && sh === 1 && sw === 1 && rows.before === 0 && cols.before === 0) {
          dw = tf.reshape(tf.matMul(tf.reshape(xs, [n * h * wd, ci]), tf.reshape(g, [n * oh * ow, co]), true, false), [1, 1, ci, co]);
        } else {
          const padded = tf.pad(xs, [[0, 0], [rows.before, Math.max(0, (oh - 1) * sh + kh - h - rows.before)], [cols.before, Math.max(0, (ow - 1) * sw + kw - wd - cols.before)], [0, 0]]);
          const xT = tf.transpose(padded, [3, 1, 2, 0]) as tf.Tensor4D; // [ci, H', W', n]
          const gT = tf.transpose(g, [1, 2, 0, 3]) as tf.Tensor4D; // [oh, ow, n, co]
          const full = tf.conv2d(xT, gT, 1, 'valid', 'NHWC', [sh, sw]); // [ci, ≥kh, ≥kw, co]
          dw = tf.transpose(tf.slice(full, [0, 0, 0, 0], [ci, kh, kw, co]), [1, 2, 0, 3]);
        }
        return [dx, dw, tf.sum(g, [0, 1, 2])];
      },
    };
  });
}

/** A 'same' average pool (padding left out of each window's count) with its exact gradient from forward ops. */
function avgPoolOp(node: Extract<GraphNode, { op: 'maxPool' | 'avgPool' }>) {
  const [kh, kw] = node.size;
  const [sh, sw] = node.strides;
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x4, save] = args as [tf.Tensor4D, tf.GradSaveFunc];
    save([x4]);
    return {
      value: tf.avgPool(x4, node.size, node.strides, node.padding),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [, h, w] = saved[0].shape;
        const rows = padAmounts(h, kh, sh, node.padding);
        const cols = padAmounts(w, kw, sw, node.padding);
        // (kh·kw) / (inputs inside the image) per window, so the 'valid' pool below sums dy / count.
        const inside = (o: number, k: number, s: number, before: number, size: number) => Math.min(size, o * s - before + k) - Math.max(0, o * s - before);
        const scale = new Float32Array(rows.out * cols.out);
        for (let oy = 0; oy < rows.out; oy++) for (let ox = 0; ox < cols.out; ox++) scale[oy * cols.out + ox] = (kh * kw) / (inside(oy, kh, sh, rows.before, h) * inside(ox, kw, sw, cols.before, w));
        const scaled = tf.mul(dy, tf.tensor4d(scale, [1, rows.out, cols.out, 1])) as tf.Tensor4D;
        const top = kh - 1 - rows.before;
        const bottom = h - (rows.out - 1) * sh - 1 + rows.before;
        const left = kw - 1 - cols.before;
        const right = w - (cols.out - 1) * sw - 1 + cols.before;
        return [tf.avgPool(tf.pad(dilate(scaled, sh, sw), [[0, 0], [top, bottom], [left, right], [0, 0]]), [kh, kw], 1, 'valid')];
      },
    };
  });
}
