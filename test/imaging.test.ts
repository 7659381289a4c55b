import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  encodeImage,
  encodeToFit,
  formatFromPath,
  ImageInputError,
  OutputFormatError,
  readImage,
  writeImage,
} from '../src/imaging/index.ts';
import type { RgbImage } from '../src/imaging/index.ts';
import {
  makeAnimatedGif,
  makeBombPng,
  makeJpegWithOrientation,
  makeNoiseRgb,
  makePhotoLike,
  makePhotoLikeRgb,
  makeSvg,
  makeTransparentPng,
  truncate,
  type TestFormat,
} from './helpers/images.ts';

const opts = { maxSide: 512, maxInputPixels: 40_000_000 };

/** RGB at (x, y). */
const pixel = (img: RgbImage, x: number, y: number) => {
  const i = (y * img.width + x) * 3;
  return [img.data[i], img.data[i + 1], img.data[i + 2]];
};

/** Expect `promise` to reject with an ImageInputError whose message matches `pattern`. */
async function expectInputError(promise: Promise<unknown>, pattern: RegExp) {
  const err = await promise.then(
    () => { throw new Error('expected an ImageInputError'); },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImageInputError);
  expect((err as Error).name).toBe('ImageInputError');
  expect((err as Error).message).toMatch(pattern);
}

let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'imaging-test-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

describe('readImage', () => {
  const formats: [TestFormat, string, string][] = [
    ['jpeg', 'jpeg', 'holiday.png'],
    ['png', 'png', 'holiday.jpg'],
    ['webp', 'webp', 'holiday.gif'],
    ['gif', 'gif', 'holiday.webp'],
    ['avif', 'avif', 'holiday.jpeg'],
    ['tiff', 'tiff', 'holiday.txt'],
  ];
  it.each(formats)('reads %s by content, even saved as %s', async (format, expected, lyingName) => {
    const file = join(dir, lyingName);
    await writeFile(file, await makePhotoLike(120, 80, format));
    const img = await readImage(await readFile(file), opts);
    expect(img.format).toBe(expected);
    expect([img.width, img.height, img.originalWidth, img.originalHeight]).toEqual([120, 80, 120, 80]);
    expect(img.data).toBeInstanceOf(Uint8Array);
    expect(img.data.length).toBe(120 * 80 * 3);
    // Same scene whatever the codec: the sky at the top is blue-ish, the hills at the bottom green.
    const [r, g, b] = pixel(img, 10, 2);
    expect(b).toBeGreaterThan(r);
    const [r2, g2, b2] = pixel(img, 10, 77);
    expect(g2).toBeGreaterThan(r2);
    expect(g2).toBeGreaterThan(b2);
    expect(g).toBeGreaterThan(0);
  });

  it('applies EXIF orientation 6: width/height swap and the picture is turned clockwise', async () => {
    const img = await readImage(await makeJpegWithOrientation(80, 40, 6), opts);
    expect([img.width, img.height, img.originalWidth, img.originalHeight]).toEqual([40, 80, 40, 80]);
    const [r, , b] = pixel(img, 39, 0); // stored top-left corner is now top-right
    expect(r).toBeGreaterThan(200);
    expect(b).toBeLessThan(60);
    const [r2, , b2] = pixel(img, 0, 0);
    expect(b2).toBeGreaterThan(200);
    expect(r2).toBeLessThan(60);
  });

  it('flattens transparency onto white', async () => {
    const img = await readImage(await makeTransparentPng(20, 10), opts);
    expect(img.data.length).toBe(20 * 10 * 3);
    expect(pixel(img, 19, 5)).toEqual([255, 255, 255]); // fully transparent (black) pixel
    expect(pixel(img, 0, 5)).toEqual([255, 0, 0]); // opaque pixel untouched
  });

  it.each([
    [2000, 1000, 500, 250],
    [999, 1601, 312, 500],
    [3000, 7, 500, 1], // never below 1 px
  ])('caps the longest side at maxSide, keeping aspect (%i×%i)', async (w, h, ew, eh) => {
    const input = await sharp({ create: { width: w, height: h, channels: 3, background: '#888' } }).png().toBuffer();
    const img = await readImage(input, { ...opts, maxSide: 500 });
    expect(Math.max(img.width, img.height)).toBe(500);
    expect([img.width, img.height]).toEqual([ew, eh]);
    const scale = 500 / Math.max(w, h); // each side within 1 px of the exact scaled size
    expect(Math.abs(img.width - w * scale)).toBeLessThanOrEqual(1);
    expect(Math.abs(img.height - h * scale)).toBeLessThanOrEqual(1);
    expect([img.originalWidth, img.originalHeight]).toEqual([w, h]);
  });

  it('does not upscale small images', async () => {
    const img = await readImage(await makePhotoLike(40, 30, 'png'), { ...opts, maxSide: 1024 });
    expect([img.width, img.height]).toEqual([40, 30]);
  });

  it('takes the first frame of an animated GIF', async () => {
    const img = await readImage(await makeAnimatedGif(30, 20), opts);
    expect([img.width, img.height]).toEqual([30, 20]);
    expect(pixel(img, 15, 10)).toEqual([255, 0, 0]);
    expect(pixel(img, 29, 19)).toEqual([255, 0, 0]);
  });

  it('refuses an empty file', async () => {
    await expectInputError(readImage(Buffer.alloc(0), opts), /^That file is empty\.$/);
  });

  it('refuses a text file', async () => {
    await expectInputError(
      readImage(Buffer.from('Hello, this is definitely not a picture.\n'), opts),
      /not an image I can read \(expected JPEG, PNG, WebP, GIF, AVIF or TIFF\)/,
    );
  });

  it('refuses SVG even though sharp could render it', async () => {
    expect((await sharp(makeSvg()).metadata()).format).toBe('svg');
    await expectInputError(readImage(makeSvg(), opts), /not an image I can read/);
  });

  it('refuses a truncated JPEG instead of half-decoding it', async () => {
    const jpeg = await makePhotoLike(300, 200, 'jpeg');
    await expectInputError(readImage(truncate(jpeg, 0.6), opts), /damaged or incomplete/);
  });

  it('refuses a truncated PNG', async () => {
    const png = await makePhotoLike(300, 200, 'png');
    await expectInputError(readImage(truncate(png, 0.6), opts), /damaged or incomplete/);
  });

  it('refuses a truncated TIFF (which failOn "truncated" would half-decode)', async () => {
    const tiff = await makePhotoLike(300, 200, 'tiff');
    await expectInputError(readImage(truncate(tiff, 0.9), opts), /damaged or incomplete/);
  });

  it('refuses a PNG bomb before decoding, giving size and limit', async () => {
    const bomb = makeBombPng(20000, 20000);
    expect(bomb.length).toBeLessThan(200_000);
    expect(await sharp(bomb, { limitInputPixels: false }).metadata()).toMatchObject({ width: 20000, height: 20000 });
    // Before decoding: sharp is never asked for pixels (toBuffer decodes), only for the header.
    const decode = vi.spyOn(sharp.prototype, 'toBuffer');
    try {
      await readImage(await makePhotoLike(64, 48, 'png'), opts);
      expect(decode).toHaveBeenCalled(); // an ordinary image is decoded through it
      decode.mockClear();
      await expectInputError(
        readImage(bomb, opts),
        /^That image is too large: 20000×20000 is 400\.0 megapixels; the limit is 40\.0 megapixels\.$/,
      );
      expect(decode).not.toHaveBeenCalled();
    } finally {
      decode.mockRestore();
    }
  });

  it('applies the pixel limit to ordinary images too', async () => {
    const input = await sharp({ create: { width: 3000, height: 2000, channels: 3, background: '#345' } }).png().toBuffer();
    await expectInputError(
      readImage(input, { ...opts, maxInputPixels: 5_000_000 }),
      /3000×2000 is 6\.0 megapixels; the limit is 5\.0 megapixels/,
    );
    expect((await readImage(input, { ...opts, maxInputPixels: 6_000_000 })).originalWidth).toBe(3000);
  });

  it('error messages are single friendly sentences', async () => {
    const cases = [Buffer.alloc(0), Buffer.from('nope'), makeSvg(), truncate(await makePhotoLike(64, 64, 'jpeg'), 0.5)];
    for (const input of cases) {
      const err = (await readImage(input, opts).catch((e: unknown) => e)) as Error;
      expect(err.message).toMatch(/^That [^\n]*\.$/);
      expect(err.message).not.toMatch(/vips|sharp|libpng|buffer/i);
    }
  });
});

describe('formatFromPath', () => {
  it.each([
    ['out.png', 'png'],
    ['/tmp/a.b/OUT.PNG', 'png'],
    ['dream.jpg', 'jpeg'],
    ['dream.JPEG', 'jpeg'],
    ['x/y/dream.WebP', 'webp'],
  ])('%s → %s', (path, format) => {
    expect(formatFromPath(path)).toBe(format);
  });

  it.each(['dream.gif', 'dream.tiff', 'dream', 'png', 'dream.png.txt'])('refuses %s', (path) => {
    expect(() => formatFromPath(path)).toThrow(OutputFormatError);
    expect(() => formatFromPath(path)).toThrow(/\.png, \.jpg, \.jpeg or \.webp/);
  });
});

describe('writeImage / encodeImage', () => {
  const photo = makePhotoLikeRgb(96, 64);

  it.each([
    ['out.png', 'png'],
    ['out.jpg', 'jpeg'],
    ['out.webp', 'webp'],
  ])('writes %s as a readable %s of the same size', async (name, format) => {
    const file = join(dir, name);
    await writeImage(photo, file);
    const back = await readImage(await readFile(file), opts);
    expect(back.format).toBe(format);
    expect([back.width, back.height]).toEqual([96, 64]);
    if (format === 'png') expect(Buffer.from(back.data).equals(Buffer.from(photo.data))).toBe(true);
  });

  it('leaves no file (not even a temp file) when the extension is bad', async () => {
    const sub = await mkdtemp(join(dir, 'bad-ext-'));
    await expect(writeImage(photo, join(sub, 'out.bmp'))).rejects.toThrow(OutputFormatError);
    expect(await readdir(sub)).toEqual([]);
  });

  it('leaves no file when the folder does not exist', async () => {
    await expect(writeImage(photo, join(dir, 'missing', 'out.png'))).rejects.toThrow();
    expect((await readdir(dir)).some((f) => f.endsWith('.tmp'))).toBe(false);
  });

  it('lower JPEG quality gives a smaller file; resizeTo resizes', async () => {
    const hi = await encodeImage(photo, 'jpeg', { quality: 95 });
    const lo = await encodeImage(photo, 'jpeg', { quality: 30 });
    expect(lo.length).toBeLessThan(hi.length);
    const small = await encodeImage(photo, 'webp', { resizeTo: { width: 48, height: 32 } });
    expect(await sharp(small).metadata()).toMatchObject({ format: 'webp', width: 48, height: 32 });
  });

  it('rejects pixel data of the wrong length', async () => {
    await expect(encodeImage({ data: new Uint8Array(10), width: 4, height: 4 }, 'png')).rejects.toThrow(/48 bytes/);
  });
});

describe('encodeToFit', () => {
  it('keeps PNG when it fits', async () => {
    const photo = makePhotoLikeRgb(64, 48);
    const out = await encodeToFit(photo, 1_000_000);
    expect(out).toMatchObject({ format: 'png', width: 64, height: 48 });
    expect(out.quality).toBeUndefined();
  });

  it('respects the byte budget on a noisy image and returns a valid image', async () => {
    const noise = makeNoiseRgb(800, 600);
    const raw = noise.data.length; // ~1.4 MB, and noise does not compress
    for (const budget of [400_000, 60_000, 8_000]) {
      const out = await encodeToFit(noise, budget);
      expect(out.buffer.length).toBeLessThanOrEqual(budget);
      expect(out.buffer.length).toBeLessThan(raw);
      expect(out.format).toBe('jpeg');
      const meta = await sharp(out.buffer).metadata();
      expect(meta).toMatchObject({ format: 'jpeg', width: out.width, height: out.height });
      expect(Math.abs(out.width / out.height - 4 / 3) * out.height).toBeLessThanOrEqual(1);
      const back = await readImage(out.buffer, { ...opts, maxSide: 10_000 });
      expect(back.data.length).toBe(out.width * out.height * 3);
    }
  });

  it('shrinks when quality alone is not enough', async () => {
    const out = await encodeToFit(makeNoiseRgb(800, 600), 20_000);
    expect(out.width).toBeLessThan(800);
    expect(out.quality).toBe(80);
  });

  it('throws when it cannot fit even at 64 px', async () => {
    await expect(encodeToFit(makeNoiseRgb(800, 600), 500)).rejects.toThrow(/64 px/);
  });
});
