import { randomBytes } from 'node:crypto';
import { rename, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import sharp from 'sharp';
import { OutputFormatError } from './errors.ts';
import { fitWithin, type RgbImage } from './rgb-image.ts';

export type OutputFormat = 'png' | 'jpeg' | 'webp';

export interface EncodeOptions {
  /** 1–100, for JPEG and WebP (default 90). PNG is lossless and ignores it. */
  quality?: number;
  /** Resize (exactly, no aspect correction) before encoding. */
  resizeTo?: { width: number; height: number };
}

const EXTENSIONS: Record<string, OutputFormat> = { '.png': 'png', '.jpg': 'jpeg', '.jpeg': 'jpeg', '.webp': 'webp' };

/** Output format from the file extension (case-insensitive). */
export function formatFromPath(path: string): OutputFormat {
  const ext = extname(path).toLowerCase();
  const format = EXTENSIONS[ext];
  if (!format) {
    throw new OutputFormatError(
      `Cannot write "${basename(path)}": the output file must end in .png, .jpg, .jpeg or .webp.`,
    );
  }
  return format;
}

export async function encodeImage(img: RgbImage, format: OutputFormat, opts: EncodeOptions = {}): Promise<Buffer> {
  const { data, width, height } = img;
  if (data.length !== width * height * 3) {
    throw new Error(`imaging: RgbImage ${width}×${height} needs ${width * height * 3} bytes, got ${data.length}`);
  }
  const quality = opts.quality ?? 90;
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new Error(`imaging: quality must be an integer 1–100, got ${quality}`);
  }
  let pipeline = sharp(data, { raw: { width, height, channels: 3 } });
  if (opts.resizeTo) pipeline = pipeline.resize(opts.resizeTo.width, opts.resizeTo.height, { fit: 'fill' });
  switch (format) {
    case 'png':
      return pipeline.png().toBuffer();
    case 'jpeg':
      return pipeline.jpeg({ quality, mozjpeg: false }).toBuffer();
    case 'webp':
      return pipeline.webp({ quality }).toBuffer();
  }
}

/**
 * Encode in the format named by the extension and write atomically: the bytes go to a temp file
 * in the same folder which is then renamed, so a failure never leaves a half-written output.
 */
export async function writeImage(img: RgbImage, path: string, opts?: EncodeOptions): Promise<void> {
  await writeFileAtomically(path, await encodeImage(img, formatFromPath(path), opts));
}

/** Writes bytes through a temp file in the same folder, then renames it: never a half-written file at `path`. */
export async function writeFileAtomically(path: string, buffer: Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, buffer);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

export interface FittedImage {
  buffer: Buffer;
  format: OutputFormat;
  width: number;
  height: number;
  /** Undefined for PNG. */
  quality?: number;
}

const MIN_SIDE = 64;

/**
 * Encode within `maxBytes` (e.g. an upload limit): the preferred format first (PNG lossless,
 * WebP at 90), then JPEG at falling quality, then JPEG q80 at 80 % of the previous size, down to
 * a longest side of 64 px. Throws if even that does not fit.
 */
export async function encodeToFit(img: RgbImage, maxBytes: number, preferred: OutputFormat = 'png'): Promise<FittedImage> {
  const { width, height } = img;
  const fits = (buffer: Buffer) => buffer.length <= maxBytes;

  if (preferred !== 'jpeg') {
    const quality = preferred === 'webp' ? 90 : undefined;
    const buffer = await encodeImage(img, preferred, { quality });
    if (fits(buffer)) return { buffer, format: preferred, width, height, quality };
  }
  for (const quality of [92, 85, 75, 65]) {
    const buffer = await encodeImage(img, 'jpeg', { quality });
    if (fits(buffer)) return { buffer, format: 'jpeg', width, height, quality };
  }
  const longest = Math.max(width, height);
  const floor = Math.min(MIN_SIDE, longest);
  for (let side = longest; side > floor; ) {
    side = Math.max(floor, Math.round(side * 0.8));
    const size = fitWithin(width, height, side);
    const buffer = await encodeImage(img, 'jpeg', { quality: 80, resizeTo: size });
    if (fits(buffer)) return { buffer, format: 'jpeg', ...size, quality: 80 };
  }
  throw new Error(`imaging: cannot encode a ${width}×${height} image within ${maxBytes} bytes, even at ${floor} px`);
}
