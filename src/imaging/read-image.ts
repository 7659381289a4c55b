import sharp from 'sharp';
import type { Metadata, OutputInfo } from 'sharp';
import { ImageInputError } from './errors.ts';
import { fitWithin, type RgbImage } from './rgb-image.ts';

export interface ReadImageOptions {
  /** Longest side of the returned image; larger images are downscaled, smaller ones left alone. */
  maxSide: number;
  /** Refuse images whose width × height exceeds this, before decoding any pixels. */
  maxInputPixels: number;
}

export interface ReadImageResult extends RgbImage {
  /** Detected from the content: jpeg, png, webp, gif, avif, heif or tiff. */
  format: string;
  /** Size after EXIF orientation, before downscaling. */
  originalWidth: number;
  originalHeight: number;
}

// SVG and PDF are deliberately absent: they can reference external resources.
const ACCEPTED = new Set(['jpeg', 'png', 'webp', 'gif', 'heif', 'tiff']);

const NOT_AN_IMAGE = { code: 'image.unreadable', params: {} } as const;
const DAMAGED = { code: 'image.damaged', params: {} } as const;

// 'truncated' still lets a truncated JPEG-in-TIFF through half-decoded; 'warning' (sharp's
// default) also rejects files with harmless decoder warnings. 'error' is the middle ground.
const FAIL_ON = 'error';

function tooLarge(width: number, height: number, limit: number): ImageInputError {
  return new ImageInputError({ code: 'image.too-many-pixels', params: { width, height, limit } });
}

/**
 * Decode an uploaded image into packed sRGB: format detected by content, EXIF orientation applied,
 * alpha flattened onto white, first frame only, downscaled to `maxSide`.
 * Throws ImageInputError (with a user-facing message) for anything we refuse or cannot decode.
 */
export async function readImage(input: Buffer | Uint8Array, opts: ReadImageOptions): Promise<ReadImageResult> {
  if (input.length === 0) throw new ImageInputError({ code: 'image.empty', params: {} });

  // Header only. The pixel limit is disabled here because sharp's metadata() enforces it too and
  // would throw its own message before we can produce ours.
  let meta: Metadata;
  try {
    meta = await sharp(input, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new ImageInputError(/unsupported image format/i.test(String(err)) ? NOT_AN_IMAGE : DAMAGED);
  }
  if (!ACCEPTED.has(meta.format)) throw new ImageInputError(NOT_AN_IMAGE);
  const { width, height } = meta;
  if (!width || !height) throw new ImageInputError(DAMAGED);
  // Orientation does not change the pixel count, so the stored size is fine for this check.
  if (width * height > opts.maxInputPixels) throw tooLarge(width, height, opts.maxInputPixels);

  const oriented = meta.autoOrient; // size after EXIF orientation
  const target = fitWithin(oriented.width, oriented.height, opts.maxSide);
  let data: Buffer;
  let info: OutputInfo;
  try {
    ({ data, info } = await sharp(input, {
      failOn: FAIL_ON,
      limitInputPixels: opts.maxInputPixels, // second guard, in case the header lied
      autoOrient: true,
      pages: 1,
    })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .resize(target.width, target.height, { fit: 'fill' })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true }));
  } catch (err) {
    if (/pixel limit/i.test(String(err))) throw tooLarge(width, height, opts.maxInputPixels);
    if (meta.format === 'heif' && meta.compression === 'hevc') {
      // iPhone HEIC photos: the prebuilt libvips has no HEVC decoder.
      throw new ImageInputError({ code: 'image.heic', params: {} });
    }
    throw new ImageInputError(DAMAGED);
  }
  if (info.channels !== 3) throw new Error(`imaging: expected 3 channels after conversion, got ${info.channels}`);

  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    width: info.width,
    height: info.height,
    format: meta.format === 'heif' && meta.compression === 'av1' ? 'avif' : meta.format,
    originalWidth: oriented.width,
    originalHeight: oriented.height,
  };
}
