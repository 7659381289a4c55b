// Heatmaps (e.g. Grad-CAM) on pictures: a perceptual colour map, overlays, a legend, and captioned panels.
import sharp, { type OverlayOptions as SharpOverlay } from 'sharp';
import type { RgbImage } from './rgb-image.ts';

/** Values in [0, 1] (1 = hottest) on a grid, row-major; it covers a whole picture whatever its resolution. */
export interface Heatmap {
  data: Float32Array;
  width: number;
  height: number;
}

const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);

/**
 * Google's Turbo colour map (dark blue → cyan → green → yellow → red), by its published polynomial fit
 * (Mikhailov 2019): perceptually smoother than jet, and readable by most colour-blind people. 0..255 per channel.
 */
export function turbo(t: number): [number, number, number] {
  const x = clamp01(t);
  const r = 0.13572138 + x * (4.6153926 + x * (-42.66032258 + x * (132.13108234 + x * (-152.94239396 + x * 59.28637943))));
  const g = 0.09140261 + x * (2.19418839 + x * (4.84296658 + x * (-14.18503333 + x * (4.27729857 + x * 2.82956604))));
  const b = 0.1066733 + x * (12.64194608 + x * (-60.58204836 + x * (110.36276771 + x * (-89.90310912 + x * 27.34824973))));
  return [Math.round(clamp01(r) * 255), Math.round(clamp01(g) * 255), Math.round(clamp01(b) * 255)];
}

/** 256 colours, so images are coloured by lookup. */
const TURBO_LUT: Uint8Array = (() => {
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) lut.set(turbo(i / 255), i * 3);
  return lut;
})();

function checkHeat(heat: Heatmap): void {
  if (!(heat.width >= 1 && heat.height >= 1) || heat.data.length !== heat.width * heat.height) {
    throw new Error(`imaging: a ${heat.width}×${heat.height} heatmap needs ${heat.width * heat.height} values, got ${heat.data.length}`);
  }
}

/**
 * The heatmap resized to `width × height` bilinearly, each cell's value at its centre (half-pixel centres, edges
 * held), clamped to [0, 1].
 */
export function upsampleHeatmap(heat: Heatmap, width: number, height: number): Float32Array {
  checkHeat(heat);
  const { width: hw, height: hh, data } = heat;
  const axis = (n: number, from: number) => {
    const lo = new Int32Array(n);
    const frac = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const s = Math.min(from - 1, Math.max(0, ((i + 0.5) * from) / n - 0.5));
      lo[i] = Math.min(from - 2, Math.floor(s));
      if (lo[i] < 0) lo[i] = 0;
      frac[i] = from === 1 ? 0 : s - lo[i];
    }
    return { lo, frac };
  };
  const xs = axis(width, hw);
  const ys = axis(height, hh);
  const out = new Float32Array(width * height);
  const x1 = (i: number) => Math.min(hw - 1, xs.lo[i] + 1);
  for (let y = 0; y < height; y++) {
    const r0 = ys.lo[y] * hw;
    const r1 = Math.min(hh - 1, ys.lo[y] + 1) * hw;
    const fy = ys.frac[y];
    for (let x = 0; x < width; x++) {
      const fx = xs.frac[x];
      const top = data[r0 + xs.lo[x]] * (1 - fx) + data[r0 + x1(x)] * fx;
      const bottom = data[r1 + xs.lo[x]] * (1 - fx) + data[r1 + x1(x)] * fx;
      out[y * width + x] = clamp01(top * (1 - fy) + bottom * fy);
    }
  }
  return out;
}

/** The heatmap in Turbo colours at `width × height` (default: its own size). */
export function colorizeHeatmap(heat: Heatmap, width = heat.width, height = heat.height): RgbImage {
  const values = upsampleHeatmap(heat, width, height);
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < values.length; i++) {
    const at = Math.round(values[i] * 255) * 3;
    data[i * 3] = TURBO_LUT[at];
    data[i * 3 + 1] = TURBO_LUT[at + 1];
    data[i * 3 + 2] = TURBO_LUT[at + 2];
  }
  return { data, width, height };
}

export interface OverlayOptions {
  /** Opacity of the colour map over the picture, 0..1 (default 0.5). */
  alpha?: number;
}

/** The picture with the heatmap (upsampled bilinearly to its size) blended over it in Turbo colours. */
export function overlayHeatmap(image: RgbImage, heat: Heatmap, opts: OverlayOptions = {}): RgbImage {
  const alpha = opts.alpha ?? 0.5;
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`imaging: overlay alpha must be from 0 to 1, got ${alpha}`);
  const { width, height } = image;
  if (image.data.length !== width * height * 3) throw new Error(`imaging: RgbImage ${width}×${height} needs ${width * height * 3} bytes, got ${image.data.length}`);
  const colours = colorizeHeatmap(heat, width, height).data;
  const data = new Uint8Array(image.data.length);
  for (let i = 0; i < data.length; i++) data[i] = Math.round((1 - alpha) * image.data[i] + alpha * colours[i]);
  return { data, width, height };
}

// ---- Text (sharp renders Pango markup through fontconfig) ----

const BACKGROUND = { r: 30, g: 31, b: 34 };
const FOREGROUND = '#f2f3f5';

interface TextImage {
  data: Buffer;
  width: number;
  height: number;
}

const escapeMarkup = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

async function renderLine(text: string, size: number): Promise<TextImage> {
  const { data, info } = await sharp({
    text: { text: `<span foreground="${FOREGROUND}">${escapeMarkup(text)}</span>`, font: `sans ${size}`, dpi: 72, rgba: true, wrap: 'none' },
  })
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

let textCheck: Promise<boolean> | undefined;

/**
 * Whether captions can be drawn: sharp needs a font through fontconfig (Debian: `fonts-dejavu-core`). Without one,
 * Pango draws every character as the same empty box, so "iiii" and "WWWW" come out equally wide. Checked once.
 */
export function textRenderingAvailable(): Promise<boolean> {
  textCheck ??= (async () => {
    try {
      const [narrow, wide] = await Promise.all([renderLine('iiiiiiiiii', 20), renderLine('WWWWWWWWWW', 20)]);
      return wide.width > narrow.width * 1.5;
    } catch {
      return false;
    }
  })();
  return textCheck;
}

/** One line of text, or null when it cannot be drawn (no fonts, or a renderer error): captions are then left out. */
async function textLine(text: string, size: number): Promise<TextImage | null> {
  if (!text.trim() || !(await textRenderingAvailable())) return null;
  try {
    return await renderLine(text, size);
  } catch {
    return null;
  }
}

type Overlay = SharpOverlay;

/** A text line composited at (left, top), cropped to `maxWidth`. */
async function placeText(text: string, size: number, left: number, top: number, maxWidth: number): Promise<Overlay | null> {
  const line = await textLine(text, size);
  if (!line || maxWidth < 1) return null;
  let { data, width } = line;
  const { height } = line;
  if (width > maxWidth) {
    data = await sharp(data, { raw: { width, height, channels: 4 } }).extract({ left: 0, top: 0, width: maxWidth, height }).raw().toBuffer();
    width = maxWidth;
  }
  return { input: data, raw: { width, height, channels: 4 }, left: Math.round(left), top: Math.round(top) };
}

const rawOverlay = (img: RgbImage, left: number, top: number): Overlay => ({
  input: Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength),
  raw: { width: img.width, height: img.height, channels: 3 },
  left,
  top,
});

async function compose(width: number, height: number, overlays: Overlay[]): Promise<RgbImage> {
  // Anything that would stick out (a legend on a very narrow canvas) is left out rather than failing.
  const fits = (o: Overlay) => o.raw !== undefined && (o.left ?? 0) >= 0 && (o.top ?? 0) >= 0 && (o.left ?? 0) + o.raw.width <= width && (o.top ?? 0) + o.raw.height <= height;
  const data = await sharp({ create: { width, height, channels: 3, background: BACKGROUND } })
    .composite(overlays.filter(fits))
    .removeAlpha()
    .raw()
    .toBuffer();
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height };
}

export interface LegendOptions {
  /** Words at the cold and hot ends (default "low" and "high"). */
  low?: string;
  high?: string;
  /** Text size in px (default 14). */
  fontSize?: number;
}

function fontSizeFor(height: number): number {
  return Math.max(11, Math.min(20, Math.round(height / 24)));
}

/** The overlays of a legend: "low", a Turbo colour bar, "high", in a `width`-wide strip at (left, top). */
async function legendOverlays(left: number, top: number, width: number, o: LegendOptions): Promise<{ overlays: Overlay[]; height: number }> {
  const size = o.fontSize ?? 14;
  const barHeight = Math.max(6, Math.round(size * 0.8));
  const height = Math.round(size * 1.4);
  const [low, high] = await Promise.all([textLine(o.low ?? 'low', size), textLine(o.high ?? 'high', size)]);
  const gap = Math.round(size / 2);
  const lowWidth = low ? low.width + gap : 0;
  const highWidth = high ? high.width + gap : 0;
  const barWidth = Math.max(16, width - lowWidth - highWidth);
  const bar = new Uint8Array(barWidth * barHeight * 3);
  for (let x = 0; x < barWidth; x++) {
    const at = Math.round((x / Math.max(1, barWidth - 1)) * 255) * 3;
    for (let y = 0; y < barHeight; y++) bar.set(TURBO_LUT.subarray(at, at + 3), (y * barWidth + x) * 3);
  }
  const overlays: Overlay[] = [rawOverlay({ data: bar, width: barWidth, height: barHeight }, left + lowWidth, top + Math.round((height - barHeight) / 2))];
  const textAt = (t: TextImage, x: number): Overlay => ({ input: t.data, raw: { width: t.width, height: t.height, channels: 4 }, left: Math.round(x), top: top + Math.max(0, Math.round((height - t.height) / 2)) });
  if (low) overlays.push(textAt(low, left));
  if (high) overlays.push(textAt(high, left + lowWidth + barWidth + gap));
  return { overlays, height };
}

/** A legend strip for a heatmap: "low", the colour bar, "high" (the words are left out when no font is installed). */
export async function heatmapLegend(width: number, opts: LegendOptions = {}): Promise<RgbImage> {
  const pad = 4;
  const { overlays, height } = await legendOverlays(pad, pad, width - 2 * pad, opts);
  return compose(width, height + 2 * pad, overlays);
}

export interface Panel {
  image: RgbImage;
  /** Lines under the picture, e.g. ["seashore 31%", "sandbar 12%"]. */
  caption: string[];
}

export interface SideBySideOptions {
  /** Height every picture is scaled to (default: the tallest picture's, at most 512 px). */
  height?: number;
  /** A heatmap legend strip under the panels (default false); an object sets its words. */
  legend?: boolean | LegendOptions;
}

/**
 * Pictures next to each other, each scaled to the same height, with its caption lines under it, on a dark
 * background; optionally a heatmap legend at the bottom. Encode the result with `encodeImage` (PNG).
 * Without fonts the captions and legend words are left out (see `textRenderingAvailable`); nothing throws.
 */
export async function sideBySide(panels: Panel[], opts: SideBySideOptions = {}): Promise<RgbImage> {
  if (panels.length === 0) throw new Error('imaging: sideBySide needs at least one panel');
  const height = Math.round(opts.height ?? Math.min(512, Math.max(...panels.map((p) => p.image.height))));
  if (!(height >= 16 && height <= 4096)) throw new Error(`imaging: panel height must be from 16 to 4096 px, got ${height}`);
  const pad = Math.max(6, Math.round(height / 48));
  const size = fontSizeFor(height);
  const lineHeight = Math.round(size * 1.4);
  // Without a font the captions are left out, and so is their room.
  const lines = (await textRenderingAvailable()) ? Math.max(0, ...panels.map((p) => p.caption.length)) : 0;
  const scaled = await Promise.all(
    panels.map(async ({ image }) => {
      const width = Math.max(1, Math.round((image.width * height) / image.height));
      if (width === image.width && height === image.height) return image;
      const data = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
        .resize(width, height, { fit: 'fill' })
        .raw()
        .toBuffer();
      return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height };
    }),
  );
  const width = pad + scaled.reduce((sum, img) => sum + img.width + pad, 0);
  const captionTop = pad + height + (lines ? Math.round(pad / 2) : 0);
  const legendTop = captionTop + lines * lineHeight + (lines ? Math.round(pad / 2) : 0);
  const overlays: Overlay[] = [];
  let x = pad;
  for (let i = 0; i < panels.length; i++) {
    overlays.push(rawOverlay(scaled[i], x, pad));
    const texts = await Promise.all(panels[i].caption.map((line, j) => placeText(line, size, x, captionTop + j * lineHeight, scaled[i].width)));
    for (const t of texts) if (t) overlays.push(t);
    x += scaled[i].width + pad;
  }
  let total = legendTop;
  if (opts.legend) {
    const legend = await legendOverlays(pad, legendTop, Math.min(width - 2 * pad, 480), { fontSize: size, ...(typeof opts.legend === 'object' ? opts.legend : {}) });
    overlays.push(...legend.overlays);
    total += legend.height;
  }
  return compose(width, total + pad, overlays);
}
