// Synthetic test images made with sharp (or by hand), deterministic, no files from the internet.
import { constants, deflateSync, crc32 } from 'node:zlib';
import sharp from 'sharp';
import type { Sharp } from 'sharp';
import { seededRandom } from '../../src/engine/random.ts';

export type TestFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'avif' | 'tiff';

export interface RawRgb {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Deterministic PRNG (the engine's mulberry32). */
export const rng = seededRandom;

/**
 * A smooth, colourful, landscape-like picture as packed RGB: a sky gradient, a sun, rolling
 * hills with soft shading and a few tinted discs. Resolution-independent (coordinates are
 * normalised), so different sizes show the same scene.
 */
export function makePhotoLikeRgb(width: number, height: number): RawRgb {
  const data = new Uint8Array(width * height * 3);
  const discs = [
    { x: 0.25, y: 0.7, r: 0.08, c: [200, 60, 70] },
    { x: 0.6, y: 0.8, r: 0.06, c: [240, 200, 60] },
    { x: 0.85, y: 0.65, r: 0.1, c: [90, 70, 180] },
  ];
  for (let py = 0; py < height; py++) {
    const y = (py + 0.5) / height;
    for (let px = 0; px < width; px++) {
      const x = (px + 0.5) / width;
      // Sky: deep blue at the top fading to a warm horizon.
      let r = 60 + 180 * y;
      let g = 110 + 100 * y;
      let b = 220 - 60 * y;
      // Sun with a soft halo.
      const ds = Math.hypot((x - 0.75) * (width / height), y - 0.2);
      const sun = Math.max(0, 1 - ds / 0.12) ** 2;
      r += (255 - r) * sun;
      g += (240 - g) * sun;
      b += (180 - b) * sun;
      // Hills: green, darker lower down, with gentle stripes for texture.
      const horizon = 0.55 + 0.08 * Math.sin(x * 7) + 0.04 * Math.sin(x * 17 + 1);
      if (y > horizon) {
        const depth = (y - horizon) / (1 - horizon);
        const shade = 0.85 + 0.15 * Math.sin(x * 40 + y * 25);
        r = (70 + 40 * Math.sin(x * 3)) * (1 - 0.4 * depth) * shade;
        g = (150 - 50 * depth) * shade;
        b = (60 + 20 * Math.cos(x * 5)) * (1 - 0.3 * depth) * shade;
      }
      for (const d of discs) {
        const dd = Math.hypot((x - d.x) * (width / height), y - d.y);
        const a = Math.min(1, Math.max(0, (d.r - dd) / (d.r * 0.25))); // anti-aliased edge
        r += (d.c[0] - r) * a;
        g += (d.c[1] - g) * a;
        b += (d.c[2] - b) * a;
      }
      const i = (py * width + px) * 3;
      data[i] = r;
      data[i + 1] = g;
      data[i + 2] = b;
    }
  }
  return { data, width, height };
}

function encode(pipeline: Sharp, format: TestFormat): Promise<Buffer> {
  switch (format) {
    case 'jpeg': return pipeline.jpeg({ quality: 90 }).toBuffer();
    case 'png': return pipeline.png().toBuffer();
    case 'webp': return pipeline.webp({ quality: 90 }).toBuffer();
    case 'gif': return pipeline.gif().toBuffer();
    case 'avif': return pipeline.avif({ quality: 60, effort: 0 }).toBuffer();
    case 'tiff': return pipeline.tiff().toBuffer();
  }
}

const fromRaw = ({ data, width, height }: RawRgb) => sharp(data, { raw: { width, height, channels: 3 } });

/** Mean |a − b| over every byte of two pictures of the same size, in 0..255. */
export function meanAbsDiff(a: RawRgb, b: RawRgb): number {
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += Math.abs(a.data[i] - b.data[i]);
  return sum / a.data.length;
}

/** The photo-like picture encoded as `format`. */
export function makePhotoLike(width: number, height: number, format: TestFormat = 'jpeg'): Promise<Buffer> {
  return encode(fromRaw(makePhotoLikeRgb(width, height)), format);
}

/** Deterministic per-pixel noise: the worst case for compression. */
export function makeNoiseRgb(width: number, height: number, seed = 1): RawRgb {
  const next = rng(seed);
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = next() * 256;
  return { data, width, height };
}

/**
 * A blue w×h JPEG (stored orientation) with a red 1/4-size square in its stored top-left corner,
 * tagged with EXIF `orientation` (1–8). With orientation 6 a viewer shows it rotated 90° clockwise:
 * h×w with the red square top-right.
 */
export function makeJpegWithOrientation(width: number, height: number, orientation: number): Promise<Buffer> {
  const sq = { width: Math.ceil(width / 4), height: Math.ceil(height / 4) };
  return sharp({ create: { width, height, channels: 3, background: '#0000ff' } })
    .composite([{ input: { create: { ...sq, channels: 3, background: '#ff0000' } }, left: 0, top: 0 }])
    .jpeg({ quality: 95 })
    .withMetadata({ orientation })
    .toBuffer();
}

/** A PNG whose left half is opaque red and right half fully transparent (black, alpha 0). */
export function makeTransparentPng(width: number, height: number): Promise<Buffer> {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width / 2; x++) data.set([255, 0, 0, 255], (y * width + x) * 4);
  }
  return sharp(data, { raw: { width, height, channels: 4 } }).png().toBuffer();
}

/** An animated GIF with one solid-colour frame per entry of `colours` (RGB triples). */
export function makeAnimatedGif(
  width: number,
  height: number,
  colours: [number, number, number][] = [[255, 0, 0], [0, 255, 0], [0, 0, 255]],
): Promise<Buffer> {
  const frame = width * height * 3;
  const data = new Uint8Array(frame * colours.length);
  colours.forEach((c, f) => {
    for (let i = 0; i < width * height; i++) data.set(c, f * frame + i * 3);
  });
  return sharp(data, { raw: { width, height: height * colours.length, channels: 3, pageHeight: height } })
    .gif({ delay: colours.map(() => 100), loop: 0 })
    .toBuffer();
}

/** A small, valid SVG document (which sharp could rasterise, but we refuse). */
export function makeSvg(width = 64, height = 64): Buffer {
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
      `<rect width="100%" height="100%" fill="orange"/><circle cx="50%" cy="50%" r="25%" fill="purple"/></svg>`,
  );
}

function pngChunk(type: string, body: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  const typeAndBody = Buffer.concat([Buffer.from(type, 'latin1'), body]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndBody));
  return Buffer.concat([len, typeAndBody, crc]);
}

/**
 * A valid, all-black 1-bit greyscale PNG of width×height: a decompression bomb (20000×20000 is
 * ~50 KB on disk but 1.2 GB as RGB). Built by hand because sharp would have to process every pixel.
 */
export function makeBombPng(width = 20000, height = 20000): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([1, 0, 0, 0, 0], 8); // bit depth 1, greyscale, deflate, no filter method, no interlace
  const rows = Buffer.alloc((1 + Math.ceil(width / 8)) * height); // filter byte 0 + zero pixels per row
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    // Run-length matching finds the same 48 KB stream as level 9, in a sixth of the time.
    pngChunk('IDAT', deflateSync(rows, { level: 9, strategy: constants.Z_RLE })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** The first `fraction` (0–1) of the bytes, as an interrupted upload would leave them. */
export function truncate(buffer: Buffer | Uint8Array, fraction: number): Buffer {
  return Buffer.from(buffer.subarray(0, Math.floor(buffer.length * fraction)));
}
