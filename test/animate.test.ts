import { describe, expect, it } from 'vitest';
import { CancelledError } from '../src/errors.ts';
import { dreamAnimation, followRecipe, frameSeed, greyAt, opticalFlow, type AnimationParams, type DreamParams } from '../src/engine/index.ts';
import { toFloatImage } from '../src/engine/float-image.ts';
import type { RgbImage } from '../src/imaging/index.ts';
import { makePhotoLikeRgb } from './helpers/images.ts';

/** A textured picture (the photo-like scene plus ripples that never repeat) moved `shift` px to the right. */
function shifted(width: number, height: number, shift: number): RgbImage {
  const base = makePhotoLikeRgb(width + 16, height);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const sx = x + 8 - shift;
      const ripple = 25 * Math.sin(sx * 0.41 + y * 0.13) + 20 * Math.sin(y * 0.37 - sx * 0.17) + 15 * Math.sin((sx + y) * 0.23);
      for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = Math.min(255, Math.max(0, base.data[(y * (width + 16) + sx) * 3 + c] + ripple));
    }
  }
  return { data, width, height };
}

const params: AnimationParams = { layers: ['mixed3'], octaves: 3, octaveScale: 1.3, steps: 10, stepSize: 0.02, seed: 42, tileSize: 512 };

/** Stands in for the engine: frame 1's dream is a white square at (20..27, 20..27); later dreams change nothing. */
class StampDreamer {
  readonly calls: DreamParams[] = [];
  async dream(image: RgbImage, p: DreamParams): Promise<RgbImage> {
    this.calls.push(p);
    const data = image.data.slice();
    if (this.calls.length === 1) for (let y = 20; y < 28; y++) for (let x = 20; x < 28; x++) data.fill(255, (y * image.width + x) * 3, (y * image.width + x) * 3 + 3);
    return { data, width: image.width, height: image.height };
  }
}

const brightness = (img: RgbImage, x: number, y: number) => img.data[(y * img.width + x) * 3];

describe('dreaming an animation', () => {
  it('finds how the picture moved (optical flow)', () => {
    const a = toFloatImage(shifted(96, 64, 0));
    const b = toFloatImage(shifted(96, 64, 3));
    const flow = opticalFlow(greyAt(a, 96), greyAt(b, 96));
    const inner: number[] = [];
    for (let y = 8; y < 56; y++) for (let x = 12; x < 84; x++) inner.push(flow.u[y * flow.width + x]);
    inner.sort((p, q) => p - q);
    // Backward flow: the next frame at x shows the previous one at x − 3.
    expect(inner[inner.length >> 1]).toBeCloseTo(-3, 0);
  });

  it('carries the first frame\'s dream along with the picture, with shorter dreams after the first', async () => {
    const frames = [shifted(96, 64, 0), shifted(96, 64, 4)];
    const dreamer = new StampDreamer();
    const out = await dreamAnimation(dreamer, frames, params);
    expect(out).toHaveLength(2);
    // The square moved 4 px right with the picture: bright at x = 24..31, the picture's own at x = 20..21.
    expect(brightness(out[1], 29, 24)).toBeGreaterThan(brightness(frames[1], 29, 24) + 100);
    expect(brightness(out[1], 20, 24)).toBeLessThan(brightness(out[0], 20, 24) - 100);
    expect(dreamer.calls[0]).toMatchObject({ octaves: 3, steps: 10, seed: 42 });
    expect(dreamer.calls[1]).toMatchObject({ ...followRecipe(params), seed: frameSeed(42, 1) });
  });

  it('gives the same frames for the same seed, and reports progress per frame to the end', async () => {
    const frames = [shifted(48, 32, 0), shifted(48, 32, 1), shifted(48, 32, 2)];
    const events: { frame: number; fraction: number; frameDone: boolean; preview: boolean }[] = [];
    const first = await dreamAnimation(new StampDreamer(), frames, params, {
      previewEvery: 2,
      onProgress: (p) => events.push({ frame: p.frame, fraction: p.fraction, frameDone: p.frameDone, preview: Boolean(p.preview) }),
    });
    const again = await dreamAnimation(new StampDreamer(), frames, params);
    expect(again.map((f) => Buffer.from(f.data).toString('base64'))).toEqual(first.map((f) => Buffer.from(f.data).toString('base64')));
    expect(events.filter((e) => e.frameDone).map((e) => [e.frame, e.preview])).toEqual([[1, false], [2, true], [3, true]]);
    expect(events.at(-1)!.fraction).toBe(1);
  });

  it('stops between frames when cancelled', async () => {
    const controller = new AbortController();
    const dreamer = new StampDreamer();
    const frames = [shifted(48, 32, 0), shifted(48, 32, 1), shifted(48, 32, 2)];
    const run = dreamAnimation(dreamer, frames, params, { signal: controller.signal, onProgress: (p) => p.frameDone && controller.abort() });
    await expect(run).rejects.toThrow(CancelledError);
    expect(dreamer.calls).toHaveLength(1);
  });
});
