import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { DreamCancelledError, DreamParamsError, octaveSizes, type DreamParams, type DreamProgress } from '../src/engine/dream.ts';
import { resolveParams } from '../src/engine/presets.ts';
import type { RgbImage } from '../src/imaging/index.ts';
import { makePhotoLikeRgb, meanAbsDiff } from './helpers/images.ts';
import { lossOf, stockDreamer } from './helpers/model.ts';

const small = (over: Partial<DreamParams> = {}): DreamParams => ({
  layers: ['mixed3', 'mixed5'],
  octaves: 2,
  octaveScale: 1.3,
  steps: 3,
  stepSize: 0.02,
  seed: 42,
  tileSize: 512,
  ...over,
});

describe('DeepDream on the real InceptionV3 weights', () => {
  const photo = makePhotoLikeRgb(144, 104);

  it('raises the DeepDream loss as steps are added (gradient ascent)', async () => {
    const dreamer = await stockDreamer();
    const layers = ['mixed3', 'mixed5'];
    const losses = [await lossOf(photo, layers)];
    for (const steps of [2, 6]) losses.push(await lossOf(await dreamer.dream(photo, small({ octaves: 1, steps })), layers));
    expect(losses[1]).toBeGreaterThan(losses[0]);
    expect(losses[2]).toBeGreaterThan(losses[1]);
    expect(losses[2]).toBeGreaterThan(losses[0] * 1.2);
  });

  it('keeps the input size and aspect, and visibly changes the image', async () => {
    const dreamer = await stockDreamer();
    const out = await dreamer.dream(photo, small());
    expect([out.width, out.height]).toEqual([144, 104]);
    expect(out.data).toHaveLength(144 * 104 * 3);
    expect(meanAbsDiff(out, photo)).toBeGreaterThan(5);
  });

  it('gives identical pixels for the same seed and different ones for another seed', async () => {
    const dreamer = await stockDreamer();
    const a = await dreamer.dream(photo, small({ seed: 7 }));
    const b = await dreamer.dream(photo, small({ seed: 7 }));
    const c = await dreamer.dream(photo, small({ seed: 8 }));
    expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
    expect(meanAbsDiff(a, c)).toBeGreaterThan(0.5);
  });

  it('dreams an image larger than the tile size in tiles, deterministically and everywhere', async () => {
    const dreamer = await stockDreamer();
    // 200×150 in tiles of at most 128 px: a 2×2 grid of 100×75 tiles (the smallest side the network takes).
    const big = makePhotoLikeRgb(200, 150);
    const params = small({ tileSize: 128, octaves: 1, steps: 2 });
    const a = await dreamer.dream(big, params);
    const b = await dreamer.dream(big, params);
    expect([a.width, a.height]).toEqual([200, 150]);
    expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
    // Every tile of the grid was dreamed, not only the first.
    for (const [x0, y0] of [[0, 0], [100, 0], [0, 75], [100, 75]]) {
      let diff = 0;
      for (let y = y0; y < y0 + 75; y++) for (let x = x0; x < x0 + 100; x++) for (let ch = 0; ch < 3; ch++) diff += Math.abs(a.data[(y * 200 + x) * 3 + ch] - big.data[(y * 200 + x) * 3 + ch]);
      expect(diff / (100 * 75 * 3)).toBeGreaterThan(1);
    }
  });

  it('reports progress per step, up to 100%, with a preview at the end of each octave', async () => {
    const dreamer = await stockDreamer();
    const events: DreamProgress[] = [];
    await dreamer.dream(photo, small({ octaves: 2, steps: 2 }), { previews: true, onProgress: (p) => events.push(p) });
    expect(events.map((e) => [e.octave, e.step])).toEqual([[1, 1], [1, 2], [2, 1], [2, 2]]);
    expect(events.map((e) => e.fraction)).toEqual([...events.map((e) => e.fraction)].sort((x, y) => x - y));
    expect(events.at(-1)!.fraction).toBe(1);
    expect(events.at(-1)!.etaSeconds).toBe(0);
    expect(events.map((e) => e.preview !== undefined)).toEqual([false, true, false, true]);
    expect(events[3].preview!.width).toBe(144);
    expect(events[1].preview!.width).toBeLessThan(144);
  });

  it('leaks no tensors, whether it finishes or is cancelled', async () => {
    const dreamer = await stockDreamer();
    await dreamer.dream(photo, small({ octaves: 1, steps: 1 })); // warm-up caches
    const before = tf.memory().numTensors;
    await dreamer.dream(photo, small({ tileSize: 128 }), { previews: true });
    expect(tf.memory().numTensors).toBe(before);
    const abort = new AbortController();
    await expect(dreamer.dream(photo, small({ steps: 20 }), { signal: abort.signal, onProgress: () => abort.abort() })).rejects.toThrow(DreamCancelledError);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('stops within a step when cancelled', async () => {
    const dreamer = await stockDreamer();
    const abort = new AbortController();
    const steps: number[] = [];
    const run = dreamer.dream(photo, small({ octaves: 3, steps: 50 }), {
      signal: abort.signal,
      onProgress: (p) => {
        steps.push(p.step);
        if (steps.length === 2) abort.abort();
      },
    });
    await expect(run).rejects.toThrow(DreamCancelledError);
    expect(steps).toHaveLength(2);
  });

  it('dreams images smaller than the network accepts, and gives them back at their size', async () => {
    const dreamer = await stockDreamer();
    const tiny = makePhotoLikeRgb(40, 30);
    const out = await dreamer.dream(tiny, small({ octaves: 3 }));
    expect([out.width, out.height]).toEqual([40, 30]);
    expect(meanAbsDiff(out, tiny)).toBeGreaterThan(1);
  });

  it('refuses parameters that make no sense, with a readable message', async () => {
    const dreamer = await stockDreamer();
    await expect(dreamer.dream(photo, small({ layers: ['mixed9'] }))).rejects.toThrow(DreamParamsError);
    await expect(dreamer.dream(photo, small({ steps: 0 }))).rejects.toThrow(/Steps must be/);
    await expect(dreamer.dream(photo, small({ octaveScale: 0.5 }))).rejects.toThrow(/octave scale/);
    expect(() => resolveParams(dreamer.manifest, { layers: ['mixed3', 'conv9'] })).toThrow(
      'Unknown layer "conv9" for model inception_v3. Valid layers: mixed0, mixed1, mixed2, mixed3, mixed4, mixed5.',
    );
  });
});

describe('octave sizes', () => {
  it('grow by the octave scale up to the full size and skip octaves below the smallest side', () => {
    expect(octaveSizes([512, 384], 3, 1.3, 75)).toEqual([[303, 227], [394, 295], [512, 384]]);
    expect(octaveSizes([120, 90], 4, 1.3, 75)).toEqual([[120, 90]]);
    expect(octaveSizes([200, 100], 3, 1.3, 75)).toEqual([[154, 77], [200, 100]]);
  });
});
