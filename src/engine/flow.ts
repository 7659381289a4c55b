// Optical flow between two frames, so a dream can move along with the picture (animate.ts). Dense, coarse-to-fine
// Lucas–Kanade on grey levels at a low resolution: plain JS, a few milliseconds a frame at FLOW_SIDE.
import { resizeBilinear } from './dream.ts';
import type { FloatImage } from './float-image.ts';

/** A grey image, row-major, values 0..1. */
export interface Grey {
  data: Float32Array;
  width: number;
  height: number;
}

/**
 * A displacement per pixel of `next`, in that grid's pixels: `prev` at (x + u, y + v) shows what `next` shows at
 * (x, y) (a backward flow: it pulls anything of `prev`'s into `next`'s place).
 */
export interface Flow {
  u: Float32Array;
  v: Float32Array;
  width: number;
  height: number;
}

/** The longest side flow is computed at: enough for the motion of a GIF, cheap enough to be negligible. */
export const FLOW_SIDE = 160;

export function toGrey(img: FloatImage): Grey {
  const n = img.width * img.height;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = 0.299 * img.data[i * 3] + 0.587 * img.data[i * 3 + 1] + 0.114 * img.data[i * 3 + 2];
  return { data, width: img.width, height: img.height };
}

/** The image at most `side` px long (bilinear), in grey. */
export function greyAt(img: FloatImage, side: number): Grey {
  const scale = Math.min(1, side / Math.max(img.width, img.height));
  const small = resizeBilinear(img, [Math.max(1, Math.round(img.height * scale)), Math.max(1, Math.round(img.width * scale))]);
  return toGrey(small);
}

/** Bilinear sample of a grid at (x, y), edges clamped. */
function sample(data: Float32Array, w: number, h: number, x: number, y: number): number {
  const cx = Math.min(w - 1, Math.max(0, x));
  const cy = Math.min(h - 1, Math.max(0, y));
  const x0 = Math.floor(cx);
  const y0 = Math.floor(cy);
  const x1 = Math.min(w - 1, x0 + 1);
  const y1 = Math.min(h - 1, y0 + 1);
  const fx = cx - x0;
  const fy = cy - y0;
  const top = data[y0 * w + x0] + (data[y0 * w + x1] - data[y0 * w + x0]) * fx;
  const bottom = data[y1 * w + x0] + (data[y1 * w + x1] - data[y1 * w + x0]) * fx;
  return top + (bottom - top) * fy;
}

/** Half size, each pixel the mean of a 2×2 block (odd edges clamped). */
function halve(g: Grey): Grey {
  const w = Math.max(1, g.width >> 1);
  const h = Math.max(1, g.height >> 1);
  const data = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const x0 = Math.min(g.width - 1, 2 * x);
      const y0 = Math.min(g.height - 1, 2 * y);
      const x1 = Math.min(g.width - 1, x0 + 1);
      const y1 = Math.min(g.height - 1, y0 + 1);
      data[y * w + x] = (g.data[y0 * g.width + x0] + g.data[y0 * g.width + x1] + g.data[y1 * g.width + x0] + g.data[y1 * g.width + x1]) / 4;
    }
  }
  return { data, width: w, height: h };
}

/** Sum over a (2r+1)² window around each pixel (edges clamped), separable running sums. */
function boxSum(src: Float32Array, w: number, h: number, r: number): Float32Array {
  const rows = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    let acc = 0;
    for (let k = -r; k <= r; k++) acc += src[y * w + Math.min(w - 1, Math.max(0, k))];
    for (let x = 0; x < w; x++) {
      rows[y * w + x] = acc;
      acc += src[y * w + Math.min(w - 1, x + r + 1)] - src[y * w + Math.max(0, x - r)];
    }
  }
  const out = new Float32Array(w * h);
  for (let x = 0; x < w; x++) {
    let acc = 0;
    for (let k = -r; k <= r; k++) acc += rows[Math.min(h - 1, Math.max(0, k)) * w + x];
    for (let y = 0; y < h; y++) {
      out[y * w + x] = acc;
      acc += rows[Math.min(h - 1, y + r + 1) * w + x] - rows[Math.max(0, y - r) * w + x];
    }
  }
  return out;
}

export interface FlowOptions {
  /** Pyramid levels (default: halve until the short side is under 16 px, at most 5). */
  levels?: number;
  /** Lucas–Kanade refinements per level (default 4). */
  iterations?: number;
  /** Window radius in pixels (default 5: an 11×11 window). */
  radius?: number;
  /** Ridge per window pixel on the normal matrix's diagonal (default 1e-5): textureless windows keep the coarser flow. */
  ridge?: number;
}

/**
 * Backward flow from `prev` to `next` (same size): coarse to fine, at each level `prev` warped by the flow so far,
 * then one Lucas–Kanade solve per pixel over a window, a few times. Flat regions (no gradient) keep the coarser
 * level's flow: a small ridge on the normal matrix's diagonal.
 */
export function opticalFlow(prev: Grey, next: Grey, opts: FlowOptions = {}): Flow {
  if (prev.width !== next.width || prev.height !== next.height) throw new Error('flow: frames differ in size');
  const iterations = opts.iterations ?? 4;
  const r = opts.radius ?? 5;
  const ridgePerPixel = opts.ridge ?? 1e-5;
  const prevs = [prev];
  const nexts = [next];
  const maxLevels = opts.levels ?? 5;
  while (prevs.length < maxLevels && Math.min(prevs[prevs.length - 1].width, prevs[prevs.length - 1].height) >= 32) {
    prevs.push(halve(prevs[prevs.length - 1]));
    nexts.push(halve(nexts[nexts.length - 1]));
  }
  let u = new Float32Array(0);
  let v = new Float32Array(0);
  let fw = 0;
  let fh = 0;
  for (let level = prevs.length - 1; level >= 0; level--) {
    const P = prevs[level];
    const N = nexts[level];
    const { width: w, height: h } = P;
    // The coarser level's flow, doubled in size and in length.
    const nu = new Float32Array(w * h);
    const nv = new Float32Array(w * h);
    if (fw > 0) {
      const sx = fw / w;
      const sy = fh / h;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const cx = (x + 0.5) * sx - 0.5;
          const cy = (y + 0.5) * sy - 0.5;
          nu[y * w + x] = sample(u, fw, fh, cx, cy) / sx;
          nv[y * w + x] = sample(v, fw, fh, cx, cy) / sy;
        }
      }
    }
    u = nu;
    v = nv;
    fw = w;
    fh = h;
    const n = w * h;
    const ixx = new Float32Array(n);
    const ixy = new Float32Array(n);
    const iyy = new Float32Array(n);
    const ixt = new Float32Array(n);
    const iyt = new Float32Array(n);
    const warped = new Float32Array(n);
    for (let it = 0; it < iterations; it++) {
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) warped[y * w + x] = sample(P.data, w, h, x + u[y * w + x], y + v[y * w + x]);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const i = y * w + x;
          // Gradients of both frames averaged: symmetric, steadier than either alone.
          const gx = 0.25 * (warped[y * w + Math.min(w - 1, x + 1)] - warped[y * w + Math.max(0, x - 1)] + N.data[y * w + Math.min(w - 1, x + 1)] - N.data[y * w + Math.max(0, x - 1)]);
          const gy = 0.25 * (warped[Math.min(h - 1, y + 1) * w + x] - warped[Math.max(0, y - 1) * w + x] + N.data[Math.min(h - 1, y + 1) * w + x] - N.data[Math.max(0, y - 1) * w + x]);
          const gt = warped[i] - N.data[i];
          ixx[i] = gx * gx;
          ixy[i] = gx * gy;
          iyy[i] = gy * gy;
          ixt[i] = gx * gt;
          iyt[i] = gy * gt;
        }
      }
      const sxx = boxSum(ixx, w, h, r);
      const sxy = boxSum(ixy, w, h, r);
      const syy = boxSum(iyy, w, h, r);
      const sxt = boxSum(ixt, w, h, r);
      const syt = boxSum(iyt, w, h, r);
      const ridge = ridgePerPixel * (2 * r + 1) ** 2;
      for (let i = 0; i < n; i++) {
        const a = sxx[i] + ridge;
        const c = syy[i] + ridge;
        const b = sxy[i];
        const det = a * c - b * b;
        // prev(p + f + d) ≈ warped + ∇·d = next  ⇒  A d = −[Σ gx·gt, Σ gy·gt]
        const du = (-c * sxt[i] + b * syt[i]) / det;
        const dv = (b * sxt[i] - a * syt[i]) / det;
        // A step larger than a pixel at this level is not to be trusted (the linearisation breaks down).
        u[i] += Math.max(-1, Math.min(1, du));
        v[i] += Math.max(-1, Math.min(1, dv));
      }
      // Each window's flow averaged over its neighbours, weighted by how much texture they have: flat regions (a sky)
      // take their textured surroundings' motion instead of noise, which repeated warps would smear into streaks.
      const weight = new Float32Array(n);
      for (let i = 0; i < n; i++) weight[i] = sxx[i] + syy[i] + ridge;
      const wu = new Float32Array(n);
      const wv = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        wu[i] = weight[i] * u[i];
        wv[i] = weight[i] * v[i];
      }
      const sw = boxSum(weight, w, h, r);
      const su = boxSum(wu, w, h, r);
      const sv = boxSum(wv, w, h, r);
      for (let i = 0; i < n; i++) {
        u[i] = su[i] / sw[i];
        v[i] = sv[i] / sw[i];
      }
    }
  }
  return { u, v, width: fw, height: fh };
}

/**
 * `img` (any size) moved along `flow` (computed on a smaller grid of the same aspect): output pixel p takes `img` at
 * p + flow(p), bilinear, edges clamped.
 */
export function warpImage(img: FloatImage, flow: Flow): FloatImage {
  const { width: w, height: h } = img;
  const sx = flow.width / w;
  const sy = flow.height / h;
  const out = new Float32Array(img.data.length);
  const chan = [new Float32Array(w * h), new Float32Array(w * h), new Float32Array(w * h)];
  for (let i = 0; i < w * h; i++) for (let c = 0; c < 3; c++) chan[c][i] = img.data[i * 3 + c];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const fx = (x + 0.5) * sx - 0.5;
      const fy = (y + 0.5) * sy - 0.5;
      const du = sample(flow.u, flow.width, flow.height, fx, fy) / sx;
      const dv = sample(flow.v, flow.width, flow.height, fx, fy) / sy;
      for (let c = 0; c < 3; c++) out[(y * w + x) * 3 + c] = sample(chan[c], w, h, x + du, y + dv);
    }
  }
  return { data: out, width: w, height: h };
}
