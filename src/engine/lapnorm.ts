// Soft dreams: the gradient normalised band by band on a Laplacian pyramid (the original DeepDream notebook's
// `lap_normalize`), so coarse structure is pushed as hard as fine grain instead of drowning under it.

/** Pyramid levels: 4 bands, as in the notebook. */
export const LAP_LEVELS = 4;
/**
 * Weight of the coarsest (low-pass) band after normalisation. At full weight it washes whole regions in one colour
 * (pink and magenta on the sample); at 0 the soft dream keeps more grain. Chosen by looking at real photos.
 */
export const LAP_COARSE_WEIGHT = 0.5;

// The notebook's 5-tap binomial kernel [1 4 6 4 1] / 16, applied separably.
const K = [1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16];

interface Plane {
  data: Float32Array;
  h: number;
  w: number;
}

/** An index mirrored back inside [0, n) at the edges (…2 1 0 | 0 1 2…), as far as a 5-tap kernel reaches. */
function clampIndex(i: number, n: number): number {
  if (i < 0) return Math.min(n - 1, -i - 1);
  if (i >= n) return Math.max(0, 2 * n - i - 1);
  return i;
}

/** Blur with the kernel and keep every other pixel: [h, w, 3] → [ceil(h/2), ceil(w/2), 3] (edges mirrored). */
function down(src: Plane): Plane {
  const { h, w } = src;
  const w2 = Math.ceil(w / 2);
  const h2 = Math.ceil(h / 2);
  const rows = new Float32Array(h * w2 * 3);
  const s = src.data;
  const [k0, k1, k2] = K;
  for (let y = 0; y < h; y++) {
    const r = y * w * 3;
    const o = y * w2 * 3;
    for (let x = 0; x < w2; x++) {
      const cx = 2 * x;
      if (cx >= 2 && cx + 2 < w) {
        // Interior: the five taps without index clamping (the hot path).
        const i = r + cx * 3;
        const out = o + x * 3;
        rows[out] = k0 * (s[i - 6] + s[i + 6]) + k1 * (s[i - 3] + s[i + 3]) + k2 * s[i];
        rows[out + 1] = k0 * (s[i - 5] + s[i + 7]) + k1 * (s[i - 2] + s[i + 4]) + k2 * s[i + 1];
        rows[out + 2] = k0 * (s[i - 4] + s[i + 8]) + k1 * (s[i - 1] + s[i + 5]) + k2 * s[i + 2];
        continue;
      }
      for (let c = 0; c < 3; c++) {
        let a = 0;
        for (let k = 0; k < 5; k++) a += K[k] * s[r + clampIndex(cx + k - 2, w) * 3 + c];
        rows[o + x * 3 + c] = a;
      }
    }
  }
  const out = new Float32Array(h2 * w2 * 3);
  const stride = w2 * 3;
  for (let y = 0; y < h2; y++) {
    const o = y * stride;
    // One pass over the five source rows (not five read-modify-write passes over the output row).
    const r0 = clampIndex(2 * y - 2, h) * stride;
    const r1 = clampIndex(2 * y - 1, h) * stride;
    const r2 = clampIndex(2 * y, h) * stride;
    const r3 = clampIndex(2 * y + 1, h) * stride;
    const r4 = clampIndex(2 * y + 2, h) * stride;
    for (let i = 0; i < stride; i++) out[o + i] = k0 * (rows[r0 + i] + rows[r4 + i]) + k1 * (rows[r1 + i] + rows[r3 + i]) + k2 * rows[r2 + i];
  }
  return { data: out, h: h2, w: w2 };
}

/**
 * The adjoint-style upsampling of {@link down} (zeros between samples, then the kernel ×2 per axis), to [h, w, 3].
 * A source pixel i lands on output 2i; output y gathers the taps k with 2i = y + k − 2.
 */
function up(src: Plane, h: number, w: number): Float32Array {
  const { h: sh, w: sw } = src;
  const s = src.data;
  const cols = new Float32Array(sh * w * 3);
  // Even outputs take taps 0, 2, 4 (source x/2 − 1, x/2, x/2 + 1); odd ones taps 1, 3 (source (x−1)/2, (x+1)/2).
  const e0 = 2 * K[0];
  const e2 = 2 * K[2];
  const o1 = 2 * K[1];
  for (let y = 0; y < sh; y++) {
    const r = y * sw * 3;
    const o = y * w * 3;
    const last = r + (sw - 1) * 3;
    for (let x = 0; x < w; x++) {
      const half = x >> 1;
      const out = o + x * 3;
      const b = Math.min(last, r + half * 3);
      const c = Math.min(last, r + (half + 1) * 3);
      if ((x & 1) === 0) {
        const a = Math.max(r, r + (half - 1) * 3);
        cols[out] = e0 * (s[a] + s[c]) + e2 * s[b];
        cols[out + 1] = e0 * (s[a + 1] + s[c + 1]) + e2 * s[b + 1];
        cols[out + 2] = e0 * (s[a + 2] + s[c + 2]) + e2 * s[b + 2];
      } else {
        cols[out] = o1 * (s[b] + s[c]);
        cols[out + 1] = o1 * (s[b + 1] + s[c + 1]);
        cols[out + 2] = o1 * (s[b + 2] + s[c + 2]);
      }
    }
  }
  const out = new Float32Array(h * w * 3);
  const stride = w * 3;
  const row = (i: number) => Math.min(sh - 1, Math.max(0, i)) * stride;
  for (let y = 0; y < h; y++) {
    const o = y * stride;
    const half = y >> 1;
    const b = row(half);
    const c = row(half + 1);
    if ((y & 1) === 0) {
      const a = row(half - 1);
      for (let i = 0; i < stride; i++) out[o + i] = e0 * (cols[a + i] + cols[c + i]) + e2 * cols[b + i];
    } else for (let i = 0; i < stride; i++) out[o + i] = o1 * (cols[b + i] + cols[c + i]);
  }
  return out;
}

function sumOfSquares(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return s;
}

const rms = (a: Float32Array) => Math.sqrt(sumOfSquares(a) / a.length);

/**
 * The gradient ([h, w, 3], in place) split into {@link LAP_LEVELS} Laplacian bands, each divided by its own RMS
 * (the coarsest weighted by {@link LAP_COARSE_WEIGHT}), and summed back. The result is then scaled to unit RMS,
 * so a step size means the same size of change as with the classic normalisation (by the standard deviation).
 */
export function lapNormalise(grad: Float32Array, h: number, w: number, levels = LAP_LEVELS, coarseWeight = LAP_COARSE_WEIGHT): void {
  const bands: Float32Array[] = [];
  /** Each band's sum of squares, taken as it is written (one pass fewer per band). */
  const squares: number[] = [];
  const sizes: [number, number][] = [];
  let cur: Plane = { data: grad, h, w };
  for (let l = 0; l < levels - 1 && Math.min(cur.h, cur.w) >= 4; l++) {
    const lo = down(cur);
    // The band, written over the blurred copy (one array fewer).
    const hi = up(lo, cur.h, cur.w);
    let sq = 0;
    for (let i = 0; i < hi.length; i++) {
      hi[i] = cur.data[i] - hi[i];
      sq += hi[i] * hi[i];
    }
    bands.push(hi);
    squares.push(sq);
    sizes.push([cur.h, cur.w]);
    cur = lo;
  }
  // Rebuild from the coarsest band up, each band normalised.
  let acc = cur.data;
  const coarse = coarseWeight / (rms(acc) + 1e-10);
  for (let i = 0; i < acc.length; i++) acc[i] *= coarse;
  let accPlane: Plane = { data: acc, h: cur.h, w: cur.w };
  let accSquares = 0;
  for (let l = bands.length - 1; l >= 0; l--) {
    const [bh, bw] = sizes[l];
    const upsampled = up(accPlane, bh, bw);
    const band = bands[l];
    const scale = 1 / (Math.sqrt(squares[l] / band.length) + 1e-10);
    // The finest band's sum also gives the result's RMS (one pass fewer).
    let sq = 0;
    for (let i = 0; i < band.length; i++) {
      upsampled[i] += band[i] * scale;
      sq += upsampled[i] * upsampled[i];
    }
    accSquares = sq;
    accPlane = { data: upsampled, h: bh, w: bw };
  }
  const total = 1 / (Math.sqrt((bands.length ? accSquares : sumOfSquares(accPlane.data)) / accPlane.data.length) + 1e-10);
  for (let i = 0; i < grad.length; i++) grad[i] = accPlane.data[i] * total;
}
