import sharp from 'sharp';
import type { Metadata } from 'sharp';
import type { AnimationFormat } from './animation.ts';
import { ImageInputError } from './errors.ts';
import { fitWithin, type RgbImage } from './rgb-image.ts';

/** What an animated GIF or WebP's header says, before any frame is decoded. */
export interface AnimationHeader {
  format: AnimationFormat;
  /** Frames in the file (2 or more). */
  frames: number;
  /** One frame's size as stored. */
  width: number;
  height: number;
  /** Each frame's delay in ms (a missing or zero delay reads as 100 ms, as browsers show it). */
  delays: number[];
  /** Times to play; 0 loops forever. */
  loop: number;
}

/** A GIF frame of 0 ms (or none) plays at about 10 frames a second in browsers and Discord. */
const DEFAULT_DELAY_MS = 100;

async function headerOf(input: Buffer | Uint8Array): Promise<Metadata | undefined> {
  try {
    return await sharp(input, { animated: true, limitInputPixels: false }).metadata();
  } catch {
    return undefined; // not an image: readImage words that
  }
}

/**
 * The header of an animated GIF or WebP of two frames or more; undefined for a still picture, a one-frame GIF or
 * any other format. Reads the header only (milliseconds, whatever the file holds).
 */
export async function probeAnimation(input: Buffer | Uint8Array): Promise<AnimationHeader | undefined> {
  const meta = await headerOf(input);
  if (!meta || (meta.format !== 'gif' && meta.format !== 'webp')) return undefined;
  const frames = meta.pages ?? 1;
  const height = meta.pageHeight ?? meta.height;
  if (frames < 2 || !meta.width || !height) return undefined;
  const delays = Array.from({ length: frames }, (_, i) => {
    const d = meta.delay?.[i];
    return d && d > 0 ? d : DEFAULT_DELAY_MS;
  });
  return { format: meta.format, frames, width: meta.width, height, delays, loop: meta.loop ?? 0 };
}

/** The frames kept from an animation: their indices, and how long each shows. */
export interface FramePlan {
  pages: number[];
  delays: number[];
}

/**
 * At most `max` frames, evenly spaced (the first kept); each kept frame shows for the summed delays of the frames
 * up to the next kept one, so the animation lasts as long as the original.
 */
export function sampleFrames(delays: number[], max: number): FramePlan {
  const n = delays.length;
  const count = Math.max(1, Math.min(n, Math.floor(max)));
  const pages = Array.from({ length: count }, (_, k) => Math.floor((k * n) / count));
  const out = pages.map((p, k) => {
    const end = k + 1 < count ? pages[k + 1] : n;
    let sum = 0;
    for (let i = p; i < end; i++) sum += delays[i];
    return sum;
  });
  return { pages, delays: out };
}

export interface ReadAnimationOptions {
  /** Longest side of the returned frames. */
  maxSide: number;
  /** One frame's width × height may not exceed this (as for a still). */
  maxInputPixels: number;
  /** Frames to keep at most (sampled evenly, delays summed). */
  maxFrames: number;
  /** Frames decoded × their stored width × height may not exceed this: checked from the header, before decoding. */
  maxPixels: number;
}

export interface DecodedAnimation extends AnimationHeader {
  /** The kept frames at the dream size, in order. */
  images: RgbImage[];
  /** How long each kept frame shows, in ms (summed over skipped frames). */
  frameDelays: number[];
}

/**
 * An animated GIF or WebP decoded one frame at a time at `maxSide` (memory bounded by one stored frame, whatever the
 * file holds): sampled to `maxFrames`, each frame flattened onto white like a still. The budgets are checked from the
 * header first; ImageInputError sentences for what is refused.
 */
export async function readAnimation(input: Buffer | Uint8Array, header: AnimationHeader, opts: ReadAnimationOptions): Promise<DecodedAnimation> {
  const { width, height } = header;
  if (width * height > opts.maxInputPixels) throw new ImageInputError({ code: 'image.too-many-pixels', params: { width, height, limit: opts.maxInputPixels } });
  const plan = sampleFrames(header.delays, opts.maxFrames);
  if (plan.pages.length * width * height > opts.maxPixels) {
    throw new ImageInputError({ code: 'image.animation-too-large', params: { frames: plan.pages.length, width, height, limit: opts.maxPixels } });
  }
  const target = fitWithin(width, height, opts.maxSide);
  const images: RgbImage[] = [];
  for (const page of plan.pages) images.push(await readFrame(input, page, target, opts.maxInputPixels));
  return { ...header, images, frameDelays: plan.delays };
}

/** One frame (`page`), resized exactly to `size` (every frame of an animation has the same size). */
async function readFrame(input: Buffer | Uint8Array, page: number, size: { width: number; height: number }, maxInputPixels: number): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(input, { page, pages: 1, failOn: 'error', limitInputPixels: maxInputPixels })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .resize(size.width, size.height, { fit: 'fill' })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`imaging: expected 3 channels, got ${info.channels}`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('imaging:')) throw err;
    throw new ImageInputError({ code: 'image.damaged', params: {} });
  }
}
