// Endless zoom (frames, seeds, cancelling) and fitting an animation into a byte budget. Guided dreams, and the dream
// command's --zoom-frames and --guide flags, are test/guide.test.ts (the two files run side by side).
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { DreamCancelledError, DreamParamsError, dreamZoom, frameSeed, resolveZoomParams, type Dreamer, type ZoomProgress } from '../src/engine/index.ts';
import { zoomIn } from '../src/engine/zoom.ts';
import { encodeAnimation, encodeAnimationToFit, encodeLastFrame, type RgbImage } from '../src/imaging/index.ts';
import { makeNoiseRgb, makePhotoLikeRgb, meanAbsDiff } from './helpers/images.ts';
import { stockDreamer } from './helpers/model.ts';

const same = (a: RgbImage, b: RgbImage) => Buffer.from(a.data).equals(Buffer.from(b.data));

/** Noise on the top half (seeded), a smooth colour gradient that shifts with the seed on the bottom half. */
function halfNoiseHalfGradient(width: number, height: number, seed: number): RgbImage {
  const img = makeNoiseRgb(width, height, seed);
  const top = height / 2;
  for (let y = top; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      img.data[i] = (x * 255) / (width - 1);
      img.data[i + 1] = ((y - top) * 255) / (height - top - 1);
      img.data[i + 2] = (128 + 40 * seed + x + y) % 256;
    }
  }
  return img;
}

describe('endless zoom', () => {
  const photo = makePhotoLikeRgb(96, 72);
  let dreamer: Dreamer;
  let frames: RgbImage[];
  const events: ZoomProgress[] = [];

  beforeAll(async () => {
    dreamer = await stockDreamer();
    const params = resolveZoomParams(dreamer.manifest, { intensity: 'low', frames: 7, seed: 11 });
    frames = await dreamZoom(dreamer, photo, params, { previewEvery: 3, onProgress: (p) => events.push(p) });
  });

  it('gives the asked number of frames, the input first, each different from the last', () => {
    expect(frames).toHaveLength(7);
    expect(same(frames[0], photo)).toBe(true);
    for (let i = 1; i < frames.length; i++) {
      expect([frames[i].width, frames[i].height]).toEqual([96, 72]);
      expect(meanAbsDiff(frames[i], frames[i - 1])).toBeGreaterThan(1);
    }
  });

  it('gives the same frames for the same seed, other frames for another', async () => {
    const params = resolveZoomParams(dreamer.manifest, { intensity: 'low', frames: 7, seed: 11 });
    const again = await dreamZoom(dreamer, photo, params);
    again.forEach((f, i) => expect(same(f, frames[i])).toBe(true));
    const other = await dreamZoom(dreamer, photo, { ...params, frames: 3, seed: 12 });
    expect(meanAbsDiff(other[2], frames[2])).toBeGreaterThan(0.5);
    // Each frame's seed depends on the frame, not only on the animation's.
    expect(new Set([1, 2, 3].map((i) => frameSeed(11, i))).size).toBe(3);
  });

  it('reports progress per frame with an ETA, and a preview every few frames and at the end', () => {
    const ends = events.filter((e) => e.frameDone);
    expect(ends.map((e) => e.frame)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(ends.map((e) => e.preview !== undefined)).toEqual([false, false, true, false, false, true]);
    expect(same(ends[2].preview!, frames[3])).toBe(true);
    const fractions = events.map((e) => e.fraction);
    expect(fractions.every((f, i) => i === 0 || f >= fractions[i - 1])).toBe(true);
    expect(fractions.at(-1)).toBe(1);
    expect(events.every((e) => e.frames === 7 && Number.isFinite(e.etaSeconds) && e.etaSeconds >= 0)).toBe(true);
  });

  it('is cancelled between frames, keeping nothing', async () => {
    const abort = new AbortController();
    const params = resolveZoomParams(dreamer.manifest, { intensity: 'low', frames: 6, seed: 1 });
    const done: number[] = [];
    const run = dreamZoom(dreamer, photo, params, {
      signal: abort.signal,
      onProgress: (p) => {
        if (p.frameDone) done.push(p.frame);
        if (p.frame === 2 && p.frameDone) abort.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(DreamCancelledError);
    expect(done).toEqual([1, 2]);
  });

  it('zooms in around the centre', () => {
    // A horizontal ramp: zooming in by 2 keeps the centre and spreads the middle half over the width.
    const w = 64;
    const ramp = { data: new Float32Array(w * 4 * 3).map((_, i) => Math.floor(i / 3) % w / (w - 1)), width: w, height: 4 };
    const z = zoomIn(ramp, 2);
    const at = (x: number) => z.data[x * 3];
    expect(at(0)).toBeCloseTo(0.25, 1);
    expect(at(w - 1)).toBeCloseTo(0.75, 1);
    expect((at(w / 2 - 1) + at(w / 2)) / 2).toBeCloseTo(0.5, 2);
  });

  it('refuses frames and zoom out of range in one sentence', () => {
    for (const over of [{ frames: 1 }, { frames: 91 }, { zoom: 1 }, { zoom: 3 }]) {
      const run = () => resolveZoomParams(dreamer.manifest, over);
      expect(run).toThrow(DreamParamsError);
      expect(run).toThrow(/^[^\n]+\.$/);
    }
  });

  it('encodes a looping GIF of every frame, and an animated WebP', async () => {
    const gif = await encodeAnimation(frames, { format: 'gif', delayMs: 80 });
    const meta = await sharp(gif).metadata();
    expect([meta.format, meta.pages, meta.loop, meta.width, meta.pageHeight ?? meta.height]).toEqual(['gif', 7, 0, 96, 72]);
    expect(meta.delay).toEqual(Array(7).fill(80));
    const webp = await encodeAnimation(frames, { format: 'webp' });
    const wmeta = await sharp(webp).metadata();
    expect([wmeta.format, wmeta.pages, wmeta.loop]).toEqual(['webp', 7, 0]);
    // Frames come back as they went in (GIF: 256 colours, so close, not exact).
    const third = await sharp(gif, { page: 3 }).removeAlpha().raw().toBuffer();
    expect(meanAbsDiff({ data: third, width: 96, height: 72 }, frames[3])).toBeLessThan(6);
    const fitted = await encodeAnimationToFit(frames, 10 * 2 ** 20, 'gif');
    expect([fitted.frames, fitted.steps, fitted.buffer.length <= 10 * 2 ** 20]).toEqual([7, [], true]);
    const still = await encodeLastFrame(frames, 10 * 2 ** 20);
    expect([still.format, still.width, still.height]).toEqual(['png', 96, 72]);
  });
});

describe('fitting an animation into a byte budget', () => {
  // Each frame: noise on the top half, the worst case for GIF and WebP (only fewer colours or fewer pixels shrink it),
  // and a smooth colour gradient below, which dithering turns into noise (undithered it compresses well). So at a small
  // budget every step is needed, each for a clear margin (measured at 80×60: 256 colours dithered 47 kB, undithered
  // 42 kB, 16 colours 19 kB; noise alone made dithered and undithered differ by 0.04 %).
  const frames = Array.from({ length: 8 }, (_, i) => halfNoiseHalfGradient(80, 60, i + 1));

  it('gives up colours first, then size, then frames, always within the budget', async () => {
    const full = (await encodeAnimation(frames, { format: 'gif' })).length;
    const undithered = (await encodeAnimation(frames, { format: 'gif', dither: 0 })).length;
    const sixteen = (await encodeAnimation(frames, { format: 'gif', colours: 16 })).length;
    expect(sixteen).toBeLessThan(undithered);

    const a = await encodeAnimationToFit(frames, Math.floor((undithered + full) / 2), 'gif');
    expect([a.steps, a.colours, a.dither, a.frames, a.width]).toEqual([['no dithering'], 256, 0, 8, 80]);

    const b = await encodeAnimationToFit(frames, Math.floor(sixteen * 0.6), 'gif', { minSide: 48 });
    expect(b.steps.slice(0, 2)).toEqual(['no dithering', '16 colours']);
    expect(b.steps[2]).toMatch(/^scaled to \d+×\d+$/);
    expect(b.frames).toBe(8);
    expect(b.width).toBeLessThan(80);
    expect(b.buffer.length).toBeLessThanOrEqual(Math.floor(sixteen * 0.6));

    // 8 frames at the smallest size (64×48, 16 colours) take 12 kB, 2 frames 3 kB.
    const tiny = 7_000;
    const c = await encodeAnimationToFit(frames, tiny, 'gif', { minSide: 64 });
    expect(c.buffer.length).toBeLessThanOrEqual(tiny);
    expect(c.steps.at(-1)).toMatch(/^\d of 8 frames$/);
    expect(c.frames).toBeLessThan(8);
    expect(c.delayMs).toBeGreaterThan(100);
    const meta = await sharp(c.buffer).metadata();
    expect([meta.pages, meta.loop, meta.width]).toEqual([c.frames, 0, 64]);

    await expect(encodeAnimationToFit(frames, 500, 'gif', { minSide: 64 })).rejects.toThrow(/cannot encode/);
  });

  it('lowers WebP quality before the size', async () => {
    const q80 = (await encodeAnimation(frames, { format: 'webp' })).length;
    const q60 = (await encodeAnimation(frames, { format: 'webp', quality: 60 })).length;
    const fitted = await encodeAnimationToFit(frames, Math.floor((q80 + q60) / 2), 'webp');
    expect([fitted.steps, fitted.quality, fitted.frames]).toEqual([['quality 60'], 60, 8]);
  });
});
