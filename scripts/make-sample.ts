/**
 * Renders a procedural landscape "photo" we are free to redistribute as a sample input.
 *
 *   npx tsx scripts/make-sample.ts [out.jpg]     (default samples/landscape.jpg)
 *
 * Everything is computed in a Float32 RGB buffer from a fixed seed, so the output is
 * byte-for-byte repeatable. The scene is built back to front: sky and clouds, three
 * mountain ranges, a lake that mirrors what is above the horizon, a meadow, conifers,
 * then grain and a vignette so it reads as a photograph rather than vector art.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
// The engine's seeded PRNG, so the sample is identical on every run.
import { seededRandom } from '../src/engine/random.ts';

const W = 768;
const H = 512;
const SEED = 20240611;
const HORIZON = 330; // lake surface line; everything above it is mirrored into the lake
const SUN = { x: 585, y: 150 };

type RGB = [number, number, number];
type Noise2 = (x: number, y: number) => number;

// ---------------------------------------------------------------------------------------------
// Math helpers
// ---------------------------------------------------------------------------------------------

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);
const lerp = (a: number, b: number, t: number): number => a + (b - a) * t;
const smoothstep = (e0: number, e1: number, v: number): number => {
  const t = clamp01((v - e0) / (e1 - e0));
  return t * t * (3 - 2 * t);
};
const mix = (a: RGB, b: RGB, t: number): RGB => [lerp(a[0], b[0], t), lerp(a[1], b[1], t), lerp(a[2], b[2], t)];
const scale = (a: RGB, k: number): RGB => [a[0] * k, a[1] * k, a[2] * k];

/** Classic 2D Perlin gradient noise, roughly in [-0.7, 0.7]; gradients and permutation come from the PRNG. */
function makePerlin(rand: () => number): Noise2 {
  const perm = new Uint8Array(512);
  const p = Array.from({ length: 256 }, (_, i) => i);
  for (let i = 255; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  for (let i = 0; i < 512; i++) perm[i] = p[i & 255];
  const gx = new Float32Array(256);
  const gy = new Float32Array(256);
  for (let i = 0; i < 256; i++) {
    const a = rand() * Math.PI * 2;
    gx[i] = Math.cos(a);
    gy[i] = Math.sin(a);
  }
  const fade = (t: number): number => t * t * t * (t * (t * 6 - 15) + 10);
  return (x, y) => {
    const xi = Math.floor(x);
    const yi = Math.floor(y);
    const xf = x - xi;
    const yf = y - yi;
    const X = xi & 255;
    const Y = yi & 255;
    const h00 = perm[X + perm[Y]];
    const h10 = perm[X + 1 + perm[Y]];
    const h01 = perm[X + perm[Y + 1]];
    const h11 = perm[X + 1 + perm[Y + 1]];
    const n00 = gx[h00] * xf + gy[h00] * yf;
    const n10 = gx[h10] * (xf - 1) + gy[h10] * yf;
    const n01 = gx[h01] * xf + gy[h01] * (yf - 1);
    const n11 = gx[h11] * (xf - 1) + gy[h11] * (yf - 1);
    const u = fade(xf);
    const v = fade(yf);
    return lerp(lerp(n00, n10, u), lerp(n01, n11, u), v);
  };
}

// Each octave is rotated and shifted so lattice-aligned artefacts of the noise don't stack up.
const ROT_C = Math.cos(0.6);
const ROT_S = Math.sin(0.6);

/** Fractal Brownian motion: sum of octaves of noise, result roughly in [-1, 1]. */
function fbm(noise: Noise2, x: number, y: number, octaves: number, gain = 0.5): number {
  let sum = 0;
  let amp = 1;
  let norm = 0;
  for (let o = 0; o < octaves; o++) {
    sum += amp * noise(x, y);
    norm += amp;
    amp *= gain;
    const nx = (x * ROT_C - y * ROT_S) * 2.03 + 17.1;
    y = (x * ROT_S + y * ROT_C) * 2.03 + 5.3;
    x = nx;
  }
  return (sum / norm) * 1.6;
}

/** Ridged multifractal: sharp crests where the noise crosses zero; result in [0, 1]. */
function ridged(noise: Noise2, x: number, y: number, octaves: number): number {
  let sum = 0;
  let amp = 0.5;
  let weight = 1;
  let norm = 0;
  for (let o = 0; o < octaves; o++) {
    let n = 1 - Math.abs(noise(x, y) * 1.4);
    n *= n;
    n *= weight;
    weight = clamp01(n * 1.6); // crests get sharper detail, valleys stay smooth
    sum += n * amp;
    norm += amp;
    amp *= 0.5;
    const nx = (x * ROT_C - y * ROT_S) * 2.07 + 31.7;
    y = (x * ROT_S + y * ROT_C) * 2.07 + 11.9;
    x = nx;
  }
  return sum / norm;
}

// ---------------------------------------------------------------------------------------------
// Scene
// ---------------------------------------------------------------------------------------------

const rand = seededRandom(SEED);
const noiseA = makePerlin(rand);
const noiseB = makePerlin(rand);
const noiseC = makePerlin(rand);

function skyColor(x: number, y: number): RGB {
  const t = clamp01(y / HORIZON);
  // Deep blue overhead fading to a pale, slightly warm horizon.
  let c = mix([0.2, 0.38, 0.68], [0.62, 0.74, 0.86], Math.pow(t, 0.8));
  c = mix(c, [0.86, 0.86, 0.83], smoothstep(0.7, 1, t));
  const dx = x - SUN.x;
  const dy = (y - SUN.y) * 1.25;
  const d = Math.sqrt(dx * dx + dy * dy);
  // Wide warm glow plus a tight hot core; the disc itself is mostly blown out as in a real photo.
  const glow = 0.5 * Math.exp(-d / 190) + 0.65 * Math.exp(-d / 50);
  c = mix(c, [1.0, 0.92, 0.76], clamp01(glow));
  const disc = smoothstep(26, 15, d);
  c = mix(c, [1.0, 0.99, 0.95], disc);
  return c;
}

/** Cloud density on a horizontal plane seen in perspective: clouds shrink and flatten toward the horizon. */
function cloudDensity(x: number, y: number): number {
  const above = HORIZON + 60 - y;
  if (above <= 0) return 0;
  const px = ((x - W / 2) / above) * 2.2 + 3.7;
  const pz = (300 / above) * 3.0;
  // Mild domain warping breaks up the lattice look and gives billowy edges.
  const wx = fbm(noiseB, px * 0.5, pz * 0.5, 3);
  const wz = fbm(noiseB, px * 0.5 + 9.2, pz * 0.5 + 4.1, 3);
  const d = fbm(noiseA, px + wx * 0.35, pz + wz * 0.35, 6, 0.55);
  return smoothstep(-0.1, 0.5, d);
}

function renderSky(x: number, y: number): RGB {
  const base = skyColor(x, y);
  const dens = cloudDensity(x, y);
  if (dens <= 0.001) return base;
  // Cheap self-shadowing: a cloud is darker where there is more cloud between it and the sun.
  const toSunX = SUN.x - x;
  const toSunY = SUN.y - y;
  const len = Math.hypot(toSunX, toSunY) || 1;
  const ahead = cloudDensity(x + (toSunX / len) * 6, y + (toSunY / len) * 6);
  const lit = clamp01(0.7 + (dens - ahead) * 2.5 - dens * 0.35);
  const sunNear = Math.exp(-Math.hypot(x - SUN.x, y - SUN.y) / 140);
  let cloud = mix([0.55, 0.59, 0.68], [1.0, 0.97, 0.93], lit);
  cloud = mix(cloud, [1.0, 0.93, 0.8], sunNear * 0.6); // silver lining near the sun
  const fade = smoothstep(HORIZON - 5, HORIZON - 90, y); // thin out into the horizon haze
  return mix(base, cloud, dens * 0.92 * fade);
}

interface Range {
  /** Silhouette row for a column. */
  ridge: Float32Array;
  haze: number;
  rock: RGB;
  dark: RGB;
  snow: boolean;
  texScale: number;
  seedY: number;
}

const RIDGE_PAD = 64;

function makeRidge(seedY: number, base: number, amp: number, freq: number, octaves: number, envFreq: number): Float32Array {
  const out = new Float32Array(W + RIDGE_PAD * 2);
  for (let i = 0; i < out.length; i++) {
    const x = i - RIDGE_PAD;
    const r = ridged(noiseC, x * freq, seedY, octaves);
    // A slow envelope so peaks group into massifs instead of a uniform saw blade.
    const env = 0.55 + 0.45 * fbm(noiseB, x * envFreq, seedY + 40, 2);
    const crags = fbm(noiseA, x * 0.06, seedY + 80, 3) * amp * 0.012; // broken, rocky skyline
    out[i] = base - amp * r * env + crags;
  }
  return out;
}

const ranges: Range[] = [
  {
    ridge: makeRidge(1.3, 300, 230, 0.0042, 7, 0.0025),
    haze: 0.32,
    rock: [0.52, 0.56, 0.65],
    dark: [0.22, 0.26, 0.36],
    snow: true,
    texScale: 1,
    seedY: 1.3,
  },
  {
    ridge: makeRidge(7.7, 322, 120, 0.0065, 6, 0.004),
    haze: 0.22,
    rock: [0.34, 0.37, 0.36],
    dark: [0.12, 0.15, 0.18],
    snow: false,
    texScale: 1.4,
    seedY: 7.7,
  },
  {
    ridge: makeRidge(13.1, 334, 55, 0.009, 5, 0.006),
    haze: 0.1,
    rock: [0.2, 0.28, 0.17],
    dark: [0.07, 0.11, 0.07],
    snow: false,
    texScale: 2.2,
    seedY: 13.1,
  },
];

const ridgeAt = (r: Range, x: number): number => r.ridge[Math.max(0, Math.min(r.ridge.length - 1, Math.round(x) + RIDGE_PAD))];

/** Rock relief on a range's face: eroded ridges stretched down-slope plus fine crumbly noise. */
function rockHeight(r: Range, x: number, y: number): number {
  const k = r.texScale;
  return ridged(noiseA, x * 0.011 * k, y * 0.02 * k + r.seedY * 10, 6) + 0.25 * fbm(noiseB, x * 0.05 * k, y * 0.05 * k + r.seedY * 5, 3);
}

// Light comes from the upper right, a little from behind the viewer, so faces show relief.
const LIGHT = (() => {
  const l = [0.75, -0.55, 0.45];
  const n = Math.hypot(l[0], l[1], l[2]);
  return [l[0] / n, l[1] / n, l[2] / n];
})();

function shadeRange(r: Range, idx: number, x: number, y: number, top: number): RGB {
  const depth = y - top;
  // Facet orientation from the silhouette: the slope that descends toward the sun (right) is lit.
  // Deeper below the crest we look at a wider span, i.e. a broader, smoother facet.
  const span = 3 + depth * 0.6;
  const facet = (ridgeAt(r, x + span) - ridgeAt(r, x - span)) / (2 * span);
  // Per-pixel normal from the relief height field (finite differences) for rocky detail.
  const h = rockHeight(r, x, y);
  const hx = (rockHeight(r, x + 1, y) - h) * 9 + facet * 0.9;
  const hy = (rockHeight(r, x, y + 1) - h) * 9 - 0.35;
  const nl = Math.hypot(hx, hy, 1);
  const diffuse = (-hx * LIGHT[0] - hy * LIGHT[1] + LIGHT[2]) / nl;
  const light = clamp01(0.15 + diffuse * 0.95);
  let c = mix(r.dark, r.rock, light);

  if (idx === 2) {
    // The nearest range is forested: speckled dark canopy instead of bare rock.
    const canopy = fbm(noiseC, x * 0.35, y * 0.45, 3);
    c = scale(c, 0.8 + canopy * 0.35);
  }

  if (r.snow) {
    // Snow clings above a wavy snowline, in hollows and on gentle ledges, not on steep crags.
    const snowline = 225 + fbm(noiseC, x * 0.012, 3.3, 3) * 35;
    const ledge = 1 - clamp01(Math.hypot(hx, hy) * 0.9);
    const cover = smoothstep(snowline + 25, snowline - 40, y) + (h - 0.45) * 0.9 + ledge * 0.4 - 0.55;
    const s = smoothstep(0.0, 0.25, cover);
    const snowLit: RGB = [0.98, 0.97, 0.95];
    const snowShade: RGB = [0.6, 0.67, 0.8];
    c = mix(c, mix(snowShade, snowLit, clamp01(0.1 + diffuse * 1.1)), s);
  }

  // Atmospheric perspective, plus mist pooling in the valley at each range's foot.
  const mist = smoothstep(HORIZON - 60, HORIZON + 5, y) * (idx === 2 ? 0.15 : 0.45);
  return mix(c, skyColor(x, HORIZON - 20), clamp01(r.haze + mist * (1 - r.haze)));
}

/** Everything above the horizon (sky + mountains): also the source the lake reflects. */
function renderUpper(buf: Float32Array): void {
  for (let y = 0; y < HORIZON; y++) {
    for (let x = 0; x < W; x++) {
      // Skip whatever a nearer range hides completely: the relief shading is the costly part.
      let first = 0;
      for (let i = ranges.length - 1; i >= 0; i--) {
        if (y - ridgeAt(ranges[i], x) >= 0.5) {
          first = i;
          break;
        }
      }
      let c: RGB = first === 0 ? renderSky(x, y) : [0, 0, 0];
      for (let i = first; i < ranges.length; i++) {
        const r = ranges[i];
        const top = ridgeAt(r, x);
        const cover = clamp01(y - top + 0.5); // 1px antialiased silhouette
        if (cover > 0) c = mix(c, shadeRange(r, i, x, y, top), cover);
      }
      const o = (y * W + x) * 3;
      buf[o] = c[0];
      buf[o + 1] = c[1];
      buf[o + 2] = c[2];
    }
  }
}

function sampleBilinear(buf: Float32Array, x: number, y: number): RGB {
  x = Math.max(0, Math.min(W - 1.001, x));
  y = Math.max(0, Math.min(HORIZON - 1.001, y));
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  const out: RGB = [0, 0, 0];
  for (let ch = 0; ch < 3; ch++) {
    const a = buf[(y0 * W + x0) * 3 + ch];
    const b = buf[(y0 * W + x0 + 1) * 3 + ch];
    const c = buf[((y0 + 1) * W + x0) * 3 + ch];
    const d = buf[((y0 + 1) * W + x0 + 1) * 3 + ch];
    out[ch] = lerp(lerp(a, b, fx), lerp(c, d, fx), fy);
  }
  return out;
}

/** Where the meadow begins: a wavy near shore that climbs on the left into a grassy bank. */
function shoreline(x: number): number {
  return 418 + fbm(noiseA, x * 0.008, 21.5, 4) * 14 - 62 * Math.pow(smoothstep(300, 0, x), 1.3) - 28 * smoothstep(600, 768, x);
}

function renderLake(x: number, y: number, upper: Float32Array): RGB {
  // Ground-plane perspective: row distance below the horizon maps to depth on the water.
  const d = y - HORIZON + 1.5;
  const wz = 400 / d;
  const wx = (x - W / 2) / d;
  // Ripples are long horizontal crests, so the noise is stretched across X.
  const n1 = fbm(noiseB, wx * 0.6, wz * 3.2, 4);
  const n2 = fbm(noiseC, wx * 0.5 + 7, wz * 2.6, 3);
  const amp = 0.6 + d * 0.09;
  const srcX = x + n2 * amp * 0.8;
  const srcY = 2 * HORIZON - y - 1 + n1 * amp * 1.6;
  let c = sampleBilinear(upper, srcX, srcY);
  // Fresnel: grazing water far away is a near-perfect mirror; close up we see into darker water.
  const near = clamp01(d / 110);
  const reflect = lerp(0.92, 0.55, Math.pow(near, 0.8));
  c = mix([0.05, 0.12, 0.14], scale(c, 0.95), reflect);
  // Sun glitter: bright specks on ripple crests in the sun's column.
  const col = Math.exp(-Math.pow((x - SUN.x) / (18 + d * 0.6), 2));
  const spark = smoothstep(0.35, 0.7, n1 + fbm(noiseA, wx * 3, wz * 9, 2) * 0.5) * col;
  c = mix(c, [1.0, 0.96, 0.86], spark * 0.85);
  // Faint wind lines near the horizon, typical of calm lakes.
  const wind = smoothstep(0.55, 0.8, fbm(noiseA, wx * 0.15, wz * 0.7 + 3, 3)) * (1 - near) * 0.12;
  return mix(c, [0.85, 0.88, 0.9], wind);
}

function renderMeadow(x: number, y: number, shore: number): RGB {
  // Closer rows (larger k) get bigger blades, like grass receding in perspective.
  const k = clamp01((y - shore + 10) / (H - shore + 10));
  const fy = smoothstep(HORIZON, H, y);
  // Blades: noise squeezed horizontally so it streaks vertically. Scale must not vary per pixel
  // (x / f(y) fans the streaks into diagonals), so fixed-scale layers are crossfaded instead, like
  // mip levels; widths stay above ~2px so nothing aliases into moiré.
  // A slight lean plus a slow sideways warp, as if the grass were combed by a breeze.
  const xw = x + y * 0.12 + fbm(noiseB, x * 0.012, y * 0.005 + 70, 2) * (6 + 10 * fy);
  const bladeLayer = (sx: number, sy: number, o: number): number =>
    noiseC(xw / sx + o, y / sy) * 0.7 + noiseC(xw / (sx * 0.6) + 31 + o, y / (sy * 0.6)) * 0.45;
  const far = bladeLayer(2.2, 9, 0);
  const mid = bladeLayer(3.6, 18, 57);
  const close = bladeLayer(6, 34, 113);
  const blades = smoothstep(-0.55, 0.55, fy < 0.5 ? lerp(far, mid, fy * 2) : lerp(mid, close, fy * 2 - 1));
  const fine = fbm(noiseA, x * 0.06, y * 0.12, 3); // clumps with shadowed hollows
  const patches = fbm(noiseB, x * 0.006, y * 0.018 + 50, 4);
  const base = mix([0.47, 0.53, 0.26], [0.17, 0.27, 0.1], Math.pow(k, 0.7));
  let c = mix(base, [0.62, 0.57, 0.3], clamp01(patches * 0.7 + 0.15)); // dry, yellowish patches
  c = scale(c, 0.5 + blades * 0.7 + fine * 0.25);
  // Small flowers scattered in the grass, more visible up close.
  const fl = noiseB(x * 0.45, y * 0.45 * (1.2 - 0.6 * fy));
  if (fl > 0.58 && patches > -0.1) c = mix(c, [0.95, 0.9, 0.55], smoothstep(0.58, 0.66, fl) * 0.7);
  // Damp, darker strip right at the water's edge; a cloud shadow darkens the near foreground.
  c = scale(c, 0.65 + 0.35 * smoothstep(shore, shore + 9, y));
  c = scale(c, 1 - 0.3 * smoothstep(440, 512, y) * smoothstep(-0.2, 0.3, fbm(noiseC, x * 0.004, 9.1, 2)));
  return c;
}

interface Tree {
  x: number;
  base: number;
  h: number;
  w: number;
  tiers: number;
  phase: number;
}

function makeTrees(): Tree[] {
  const trees: Tree[] = [];
  const add = (x: number, sizeScale: number): void => {
    const base = shoreline(x) + 6 + rand() * 18 * sizeScale;
    const h = (110 + rand() * 90) * sizeScale;
    trees.push({ x, base, h, w: h * (0.2 + rand() * 0.06), tiers: 7 + Math.floor(rand() * 5), phase: rand() * 10 });
  };
  // A stand of firs on the left bank, a couple more on the right to frame the view.
  for (const x of [28, 70, 105, 150, 196, 238]) add(x + (rand() - 0.5) * 14, x < 160 ? 1.25 : 0.85);
  for (const x of [688, 735]) add(x + (rand() - 0.5) * 10, 0.75);
  return trees.sort((a, b) => a.base - b.base); // far to near
}

function drawTrees(buf: Float32Array, trees: Tree[]): void {
  for (const t of trees) {
    const top = Math.max(0, Math.floor(t.base - t.h));
    for (let y = top; y < Math.min(H, t.base + 2); y++) {
      const v = Math.max(0, (y - (t.base - t.h)) / t.h); // 0 at the tip, 1 at the ground
      // Whorls of drooping branches: each tier widens toward its lower edge then steps back in.
      // Noise on the tier phase keeps them from being evenly spaced like a stencil.
      const tier = (v * t.tiers + t.phase + noiseB(v * 6, t.phase) * 0.6 + 10) % 1;
      const taper = 0.03 + 0.97 * Math.pow(v, 0.9);
      const skirt = smoothstep(0.93, 0.8, v); // the crown stops a little above the ground
      const crown = t.w * taper * (0.55 + 0.45 * Math.pow(tier, 0.7)) * skirt;
      // Each side gets its own branch lengths, so the silhouette is asymmetric and ragged.
      // The high-frequency term pokes out single twigs.
      const side = (o: number): number =>
        crown * (1 + 0.4 * fbm(noiseC, y * 0.09, t.phase * 3 + o, 3) + 0.35 * Math.max(0, noiseA(y * 0.45, t.phase + o)));
      const left = side(0);
      const right = side(40);
      for (let x = Math.floor(t.x - t.w * 1.6 - 2); x <= Math.ceil(t.x + t.w * 1.6 + 2); x++) {
        if (x < 0 || x >= W) continue;
        const dx = x - t.x;
        const reach = (dx < 0 ? left : right) * (1 + 0.25 * noiseA(x * 0.4 + t.phase, y * 0.4));
        let cover = clamp01(reach - Math.abs(dx) + 0.5);
        const trunk = v > 0.75 ? clamp01(t.w * 0.05 + 1 - Math.abs(dx)) : 0;
        const isTrunk = trunk > cover;
        cover = Math.max(cover, trunk);
        if (cover <= 0) continue;
        const needles = fbm(noiseB, x * 0.22, y * 0.3 + t.phase * 7, 3);
        // Mostly silhouette: shadow under each tier, a faint warm rim on the sun side.
        const shade = 0.6 + 0.4 * tier;
        const rim = clamp01(dx / (right + 1)) * smoothstep(0.0, 0.5, needles + 0.2);
        let c: RGB = scale(mix([0.025, 0.05, 0.035], [0.11, 0.16, 0.08], clamp01(0.35 + needles * 0.7)), shade);
        c = mix(c, [0.32, 0.33, 0.16], rim * 0.35);
        if (isTrunk) c = [0.08, 0.06, 0.045];
        const o = (y * W + x) * 3;
        buf[o] = lerp(buf[o], c[0], cover);
        buf[o + 1] = lerp(buf[o + 1], c[1], cover);
        buf[o + 2] = lerp(buf[o + 2], c[2], cover);
      }
    }
  }
}

/** Film grain, gentle S-curve and vignette, then quantise to 8-bit RGB. */
function finish(buf: Float32Array): Buffer {
  const out = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const o = (y * W + x) * 3;
      const nx = x / W - 0.5;
      const ny = y / H - 0.5;
      const vig = 1 - 0.35 * (nx * nx + ny * ny) * 1.6;
      // Sum of uniforms ≈ Gaussian; mostly luminance grain with a little chroma, like film.
      const g = (rand() + rand() + rand() - 1.5) * 0.028;
      for (let ch = 0; ch < 3; ch++) {
        let v = buf[o + ch] * vig + g + (rand() - 0.5) * 0.012;
        v = clamp01(v);
        v = v + 0.12 * v * (1 - v) * (2 * v - 1); // mild contrast curve
        out[o + ch] = Math.round(clamp01(v) * 255);
      }
    }
  }
  return out;
}

function render(): Buffer {
  const buf = new Float32Array(W * H * 3);
  renderUpper(buf);
  for (let x = 0; x < W; x++) {
    const shore = shoreline(x);
    for (let y = HORIZON; y < H; y++) {
      // Antialiased shore: blade noise makes the grass line ragged instead of a clean curve.
      const edge = shore - Math.max(0, noiseC(x * 0.4, 3.1) + 0.15) * 4;
      const meadow = clamp01(y - edge + 0.5);
      let c: RGB = meadow < 1 ? renderLake(x, y, buf) : [0, 0, 0];
      if (meadow > 0) c = mix(c, renderMeadow(x, y, shore), meadow);
      const o = (y * W + x) * 3;
      buf[o] = c[0];
      buf[o + 1] = c[1];
      buf[o + 2] = c[2];
    }
  }
  drawTrees(buf, makeTrees());
  return finish(buf);
}

async function main(): Promise<void> {
  const out = process.argv[2] ?? 'samples/landscape.jpg';
  const started = performance.now();
  const pixels = render();
  await mkdir(path.dirname(out), { recursive: true });
  await sharp(pixels, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 90 }).toFile(out);
  console.log(`wrote ${out} (${W}×${H}) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

await main();
