import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { encodeAnimationToFit, ImageInputError, probeAnimation, readAnimation, sampleFrames } from '../src/imaging/index.ts';
import { makeClip } from './helpers/animations.ts';

const budgets = { maxSide: 32, maxInputPixels: 1_000_000, maxFrames: 48, maxPixels: 10_000_000 };

describe('reading animations', () => {
  it('reads frames, size, delays and loop from the header, without decoding', async () => {
    const gif = await makeClip({ frames: 5, width: 64, height: 40, delays: [100, 200, 100, 50, 300], loop: 3 });
    expect(await probeAnimation(gif)).toEqual({ format: 'gif', frames: 5, width: 64, height: 40, delays: [100, 200, 100, 50, 300], loop: 3 });
    const webp = await makeClip({ frames: 3, width: 40, height: 40, format: 'webp', delays: [80, 80, 160] });
    expect(await probeAnimation(webp)).toMatchObject({ format: 'webp', frames: 3, delays: [80, 80, 160], loop: 0 });
  });

  it('says a still picture, a one-frame GIF or a non-image is no animation', async () => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#123456' } }).png().toBuffer();
    const oneFrame = await makeClip({ frames: 1, width: 16, height: 16 });
    expect(await probeAnimation(png)).toBeUndefined();
    expect(await probeAnimation(oneFrame)).toBeUndefined();
    expect(await probeAnimation(Buffer.from('not an image at all'))).toBeUndefined();
  });

  it('samples long animations evenly and sums the delays, so they last as long', () => {
    const plan = sampleFrames([10, 20, 30, 40, 50, 60, 70], 3);
    expect(plan.pages).toEqual([0, 2, 4]);
    expect(plan.delays).toEqual([30, 70, 180]);
    expect(plan.delays.reduce((a, b) => a + b)).toBe(280);
    expect(sampleFrames([100, 100], 48)).toEqual({ pages: [0, 1], delays: [100, 100] });
  });

  it('decodes each kept frame at the dream size, the moving square where it was', async () => {
    const gif = await makeClip({ frames: 6, width: 64, height: 32, delays: [100, 100, 100, 100, 100, 100] });
    const header = (await probeAnimation(gif))!;
    const anim = await readAnimation(gif, header, { ...budgets, maxFrames: 3 });
    expect(anim.images.map((f) => [f.width, f.height])).toEqual([[32, 16], [32, 16], [32, 16]]);
    expect(anim.frameDelays).toEqual([200, 200, 200]);
    // The square (yellow: red and green high, blue low) moves right from frame to frame.
    const squareX = (f: { data: Uint8Array; width: number; height: number }) => {
      const y = f.height >> 1;
      for (let x = 0; x < f.width; x++) if (f.data[(y * f.width + x) * 3 + 2] < 100 && f.data[(y * f.width + x) * 3 + 1] > 150) return x;
      return -1;
    };
    const xs = anim.images.map(squareX);
    expect(xs[0]).toBeGreaterThanOrEqual(0);
    expect(xs[1]).toBeGreaterThan(xs[0]);
    expect(xs[2]).toBeGreaterThan(xs[1]);
  });

  it('refuses from the header an animation whose frames would take too many pixels to decode', async () => {
    const gif = await makeClip({ frames: 10, width: 100, height: 100 });
    const header = (await probeAnimation(gif))!;
    const refusal = readAnimation(gif, header, { ...budgets, maxPixels: 50_000 });
    await expect(refusal).rejects.toThrow(ImageInputError);
    await expect(refusal).rejects.toThrow('That animation is too large: 10 frames of 100×100 are 0.1 megapixels to decode; the limit is 0.1 megapixels.');
    // Only the frames kept are decoded: 4 of them (40,000 pixels) fit.
    await expect(readAnimation(gif, header, { ...budgets, maxPixels: 50_000, maxFrames: 4 })).resolves.toMatchObject({ frames: 10 });
  });

  it('writes the delays and the loop count back, and sums delays when it drops frames to fit', async () => {
    const gif = await makeClip({ frames: 4, width: 48, height: 48, delays: [100, 200, 300, 400], loop: 2 });
    const anim = await readAnimation(gif, (await probeAnimation(gif))!, { ...budgets, maxSide: 48 });
    const fitted = await encodeAnimationToFit(anim.images, 10 * 2 ** 20, 'gif', { delays: anim.frameDelays, loop: anim.loop });
    expect(await probeAnimation(fitted.buffer)).toMatchObject({ frames: 4, delays: [100, 200, 300, 400], loop: 2 });
    const webp = await encodeAnimationToFit(anim.images, 10 * 2 ** 20, 'webp', { delays: anim.frameDelays, loop: anim.loop });
    expect(await probeAnimation(webp.buffer)).toMatchObject({ format: 'webp', frames: 4, delays: [100, 200, 300, 400], loop: 2 });
  });
});
