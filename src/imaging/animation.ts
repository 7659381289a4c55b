import sharp from 'sharp';
import { encodeToFit, type FittedImage, type OutputFormat } from './write-image.ts';
import { fitWithin, type RgbImage } from './rgb-image.ts';

export type AnimationFormat = 'gif' | 'webp';

export interface AnimationOptions {
  format: AnimationFormat;
  /** Time each frame shows, in ms (default 100: 10 frames a second). */
  delayMs?: number;
  /** Each frame's own delay in ms (an animation read from a file); overrides `delayMs`. */
  delays?: number[];
  /** Times to play; 0 (the default) loops forever. */
  loop?: number;
  /**
   * GIF palette size, 2–256 (default 256). sharp 0.35 rounds it up to a bit depth, so only 2, 4, 16 and 256
   * colours are distinct steps.
   */
  colours?: number;
  /** GIF Floyd–Steinberg dithering, 0–1 (default 1). Undithered frames compress much better. */
  dither?: number;
  /** WebP quality, 1–100 (default 80). */
  quality?: number;
  /** Resize every frame (exactly, no aspect correction) before encoding. */
  resizeTo?: { width: number; height: number };
}

/**
 * RGB distance (0–441) under which a GIF pixel keeps the previous frame's (libvips' interframe_maxerror; the
 * encoder compares with what is shown, so changes never pile up past it). scripts/animation-cli-check.ts, a still
 * photo with a moving ball dreamed by the CLI: away from the ball consecutive frames differed by 6.6/255 after
 * encoding at 0 (2.9 before it: dithering and per-frame palettes), 2.7 at 8, and the GIF was half the size.
 */
const GIF_STILL_ERROR = 8;

const EXTENSIONS: Record<string, AnimationFormat> = { '.gif': 'gif', '.webp': 'webp' };

/** The animation format named by a file's extension, or undefined when it names none (case-insensitive). */
export function animationFormatOf(path: string): AnimationFormat | undefined {
  const dot = path.lastIndexOf('.');
  return dot < 0 ? undefined : EXTENSIONS[path.slice(dot).toLowerCase()];
}

async function resizeFrame(img: RgbImage, size: { width: number; height: number }): Promise<Buffer> {
  if (img.width === size.width && img.height === size.height) return Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).resize(size.width, size.height, { fit: 'fill' }).raw().toBuffer();
}

/**
 * Frames of the same size as one animated GIF or WebP that loops (by default) and keeps every frame, even a
 * repeated one, so the file has exactly `frames.length` frames.
 */
export async function encodeAnimation(frames: RgbImage[], opts: AnimationOptions): Promise<Buffer> {
  if (frames.length === 0) throw new Error('imaging: an animation needs at least one frame');
  const { width, height } = frames[0];
  for (const f of frames) {
    if (f.width !== width || f.height !== height) throw new Error(`imaging: animation frames differ in size (${f.width}×${f.height} vs ${width}×${height})`);
    if (f.data.length !== width * height * 3) throw new Error(`imaging: RgbImage ${width}×${height} needs ${width * height * 3} bytes, got ${f.data.length}`);
  }
  const size = opts.resizeTo ?? { width, height };
  // Frames stacked as one tall raw image; pageHeight makes sharp treat each slice as a frame.
  const stacked = Buffer.concat(await Promise.all(frames.map((f) => resizeFrame(f, size))));
  const pipeline = sharp(stacked, { raw: { width: size.width, height: size.height * frames.length, channels: 3, pageHeight: size.height } });
  // One delay per frame: a single number sets only the first frame's in sharp 0.35.
  if (opts.delays && opts.delays.length !== frames.length) throw new Error(`imaging: ${frames.length} frames need ${frames.length} delays, got ${opts.delays.length}`);
  const delay = frames.map((_, i) => Math.round(opts.delays?.[i] ?? opts.delayMs ?? 100));
  const loop = opts.loop ?? 0;
  if (opts.format === 'webp') return pipeline.webp({ loop, delay, quality: opts.quality ?? 80, effort: 4 }).toBuffer();
  // Effort 1: as small as effort 3 and ~4× faster than the default 7, which was 5–10 % smaller.
  // interFrameMaxError: a pixel within GIF_STILL_ERROR of what the last frame showed keeps showing it, so a still
  // background is not re-dithered into flicker every frame.
  return pipeline
    .gif({ loop, delay, colours: opts.colours ?? 256, dither: opts.dither ?? 1, effort: 1, keepDuplicateFrames: true, interFrameMaxError: GIF_STILL_ERROR })
    .toBuffer();
}

export interface FittedAnimation {
  buffer: Buffer;
  format: AnimationFormat;
  width: number;
  height: number;
  /** Frames in the file (fewer than given when frames had to be dropped). */
  frames: number;
  delayMs: number;
  /** Each frame's delay in ms (summed over dropped frames, so the animation lasts as long). */
  delays: number[];
  /** GIF: palette size and dithering used. */
  colours?: number;
  dither?: number;
  /** WebP: quality used. */
  quality?: number;
  /** What was given up to fit, in order, e.g. ["no dithering", "16 colours", "scaled to 410×273"]; empty if nothing. */
  steps: string[];
}

export interface FitAnimationOptions {
  delayMs?: number;
  /** Each frame's own delay in ms (overrides `delayMs`). */
  delays?: number[];
  /** Times to play; 0 (the default) loops forever. */
  loop?: number;
  /** Smallest longest side to shrink to before dropping frames (default 160). */
  minSide?: number;
}

/** The encoder's palette/quality steps, best first: fewer colours (or a lower WebP quality) step by step. */
const GIF_STEPS = [
  { colours: 256, dither: 1, note: '' },
  { colours: 256, dither: 0, note: 'no dithering' },
  { colours: 16, dither: 1, note: '16 colours' },
];
const WEBP_STEPS = [
  { quality: 80, note: '' },
  { quality: 60, note: 'quality 60' },
  { quality: 40, note: 'quality 40' },
];

/**
 * Encode an animation within `maxBytes` (e.g. an upload limit): fewer colours first (GIF: undithered, then 16
 * colours; WebP: lower quality), then smaller frames (sized from the last attempt's bytes, down to `minSide`), then
 * fewer frames (every k-th, each shown k times as long, so the animation lasts as long). Says what it did.
 * Throws if two frames at the smallest size still do not fit.
 */
export async function encodeAnimationToFit(frames: RgbImage[], maxBytes: number, format: AnimationFormat, opts: FitAnimationOptions = {}): Promise<FittedAnimation> {
  if (frames.length === 0) throw new Error('imaging: an animation needs at least one frame');
  const delayMs = opts.delayMs ?? 100;
  const delays = opts.delays ?? frames.map(() => delayMs);
  const loop = opts.loop ?? 0;
  const { width, height } = frames[0];
  const notes = (...parts: string[]) => parts.filter(Boolean);

  const ladder = format === 'gif' ? GIF_STEPS : WEBP_STEPS;
  const settings = (i: number): Partial<AnimationOptions> => {
    const s = ladder[i];
    return 'colours' in s ? { colours: s.colours, dither: s.dither } : { quality: s.quality };
  };
  const result = (buffer: Buffer, step: number, size: { width: number; height: number }, kept: number[], extra: string[]): FittedAnimation => ({
    buffer,
    format,
    ...size,
    frames: kept.length,
    delayMs: kept[kept.length - 1],
    delays: kept,
    ...settings(step),
    steps: notes(...ladder.slice(1, step + 1).map((s) => s.note), ...extra),
  });

  let last = 0;
  for (let i = 0; i < ladder.length; i++) {
    const buffer = await encodeAnimation(frames, { format, delays, loop, ...settings(i) });
    if (buffer.length <= maxBytes) return result(buffer, i, { width, height }, delays, []);
    last = buffer.length;
  }

  // Smaller: bytes go roughly with the pixel count, so aim at the budget from the last size, 5 % under.
  const step = ladder.length - 1;
  const longest = Math.max(width, height);
  const floor = Math.min(longest, opts.minSide ?? 160);
  let side = longest;
  while (side > floor) {
    side = Math.max(floor, Math.min(Math.round(side * 0.9), Math.floor(side * Math.sqrt(maxBytes / last) * 0.95)));
    const size = fitWithin(width, height, side);
    const buffer = await encodeAnimation(frames, { format, delays, loop, ...settings(step), resizeTo: size });
    if (buffer.length <= maxBytes) return result(buffer, step, size, delays, [`scaled to ${size.width}×${size.height}`]);
    last = buffer.length;
  }

  // Fewer frames: every k-th (the last one kept), each shown as long as the frames it stands for.
  const size = fitWithin(width, height, floor);
  const scaled = size.width === width && size.height === height ? [] : [`scaled to ${size.width}×${size.height}`];
  for (let k = Math.max(2, Math.ceil(last / maxBytes)); Math.ceil(frames.length / k) >= 2; k++) {
    const keptAt = frames.map((_, i) => i).filter((i) => (frames.length - 1 - i) % k === 0);
    const kept = keptAt.map((i) => frames[i]);
    // A kept frame shows for itself and the dropped frames before it (the first one: all before it).
    const keptDelays = keptAt.map((i, j) => delays.slice(j === 0 ? 0 : keptAt[j - 1] + 1, i + 1).reduce((a, b) => a + b, 0));
    const buffer = await encodeAnimation(kept, { format, delays: keptDelays, loop, ...settings(step), resizeTo: size });
    if (buffer.length <= maxBytes) return result(buffer, step, size, keptDelays, [...scaled, `${kept.length} of ${frames.length} frames`]);
    last = buffer.length;
  }
  throw new Error(`imaging: cannot encode ${frames.length} frames of ${width}×${height} within ${maxBytes} bytes, even as 2 frames at ${size.width}×${size.height}`);
}

/** The animation's last frame as a still within `maxBytes` (PNG, else JPEG, else smaller: see encodeToFit). */
export function encodeLastFrame(frames: RgbImage[], maxBytes: number, preferred: OutputFormat = 'png'): Promise<FittedImage> {
  const last = frames[frames.length - 1];
  if (!last) throw new Error('imaging: an animation needs at least one frame');
  return encodeToFit(last, maxBytes, preferred);
}
