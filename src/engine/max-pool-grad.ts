import * as tf from '@tensorflow/tfjs-core';

import type { Padding } from './model/graph.ts';
import { padAmounts } from './padding.ts';

export interface PoolGeometry {
  size: [number, number];
  strides: [number, number];
  padding: Padding;
}

/**
 * d(loss)/d(x) of a max pool: each window's gradient goes to its first maximal input, as TensorFlow does.
 * wasm's MaxPoolGrad kernel gives wrong values on non-square inputs (tfjs 4.22), and a formulation in
 * strided slices is slow there, so on CPU-side backends this loop over the (already local) data is used;
 * a native backend keeps its own kernel, avoiding a device-to-host copy.
 */
export function maxPoolInputGradient(dy: tf.Tensor4D, x: tf.Tensor4D, y: tf.Tensor4D, g: PoolGeometry): tf.Tensor4D {
  if (tf.getBackend() === 'tensorflow') {
    return tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: g.size, strides: g.strides, pad: g.padding }) as tf.Tensor4D;
  }
  const [, h, w, c] = x.shape;
  const padTop = padAmounts(h, g.size[0], g.strides[0], g.padding).before;
  const padLeft = padAmounts(w, g.size[1], g.strides[1], g.padding).before;
  const [, oh, ow] = dy.shape;
  const [kh, kw] = g.size;
  const [sh, sw] = g.strides;
  const xs = x.dataSync();
  const dys = dy.dataSync();
  const dx = new Float32Array(xs.length);
  for (let oy = 0; oy < oh; oy++) {
    const y0 = oy * sh - padTop;
    for (let ox = 0; ox < ow; ox++) {
      const x0 = ox * sw - padLeft;
      const outBase = (oy * ow + ox) * c;
      for (let ch = 0; ch < c; ch++) {
        let best = -1;
        let bestValue = -Infinity;
        for (let i = Math.max(0, y0); i < Math.min(h, y0 + kh); i++) {
          for (let j = Math.max(0, x0); j < Math.min(w, x0 + kw); j++) {
            const at = (i * w + j) * c + ch;
            if (xs[at] > bestValue) {
              bestValue = xs[at];
              best = at;
            }
          }
        }
        if (best >= 0) dx[best] += dys[outBase + ch];
      }
    }
  }
  return tf.tensor4d(dx, x.shape);
}
