import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DreamCancelledError, type DreamParams, type DreamProgress } from '../src/engine/index.ts';
import { UserError } from '../src/errors.ts';
import type { RgbImage } from '../src/imaging/rgb-image.ts';
import { DreamWorkerPool, WorkerCrashedError } from '../src/runner/index.ts';
import { CRASH_SEED, IGNORE_CANCEL_SEED } from './helpers/failing-dream-worker.ts';
import { makePhotoLikeRgb } from './helpers/images.ts';
import { stockDreamer } from './helpers/model.ts';

const tiny = (over: Partial<DreamParams> = {}): DreamParams => ({
  layers: ['mixed3', 'mixed5'],
  octaves: 1,
  octaveScale: 1.3,
  steps: 2,
  stepSize: 0.02,
  seed: 1,
  tileSize: 512,
  ...over,
});

const sameBytes = (a: RgbImage, b: RgbImage) =>
  a.width === b.width && a.height === b.height && Buffer.from(a.data).equals(Buffer.from(b.data));

/** Resolves at the first progress event of a run (the worker has really started the dream). */
function firstProgress(): { onProgress: (p: DreamProgress) => void; started: Promise<number> } {
  let mark!: (t: number) => void;
  const started = new Promise<number>((resolve) => (mark = resolve));
  return { onProgress: () => mark(Date.now()), started };
}

describe('DreamWorkerPool (real model, worker threads)', () => {
  let pool: DreamWorkerPool;
  const logs: string[] = [];

  beforeAll(async () => {
    const t = Date.now();
    pool = await DreamWorkerPool.start({ size: 2, backend: 'auto', model: 'inception_v3', log: (level, msg) => logs.push(`${level}: ${msg}`) });
    console.log(`pool of 2 ready in ${Date.now() - t} ms on ${pool.backend.name}`);
  });
  afterAll(() => pool?.close());

  it('starts its workers and reports the backend', () => {
    expect(pool.size).toBe(2);
    expect(pool.alive).toBe(2);
    expect(pool.busy).toBe(0);
    expect(['tensorflow', 'onnx', 'wasm', 'cpu']).toContain(pool.backend.name);
    expect(logs.filter((l) => l.startsWith('info: Dream worker ready'))).toHaveLength(2);
  });

  it('gives the same bytes as the same dream run in-process, and leaves the input intact', async () => {
    const photo = makePhotoLikeRgb(128, 96);
    const copy = photo.data.slice();
    const viaPool = await pool.run({ image: photo, params: tiny() });
    const inProcess = await (await stockDreamer()).dream(photo, tiny());
    expect(sameBytes(viaPool, inProcess)).toBe(true);
    expect(Buffer.from(photo.data).equals(Buffer.from(copy))).toBe(true);
  });

  it('reports progress, with an octave preview when asked', async () => {
    const photo = makePhotoLikeRgb(160, 120);
    const events: DreamProgress[] = [];
    const out = await pool.run({ image: photo, params: tiny({ octaves: 2 }), previews: true }, { onProgress: (p) => events.push(p) });
    expect(events.map((e) => `${e.octave}.${e.step}`)).toEqual(['1.1', '1.2', '2.1', '2.2']);
    expect(events.at(-1)?.fraction).toBeCloseTo(1);
    const previews = events.flatMap((e) => (e.preview ? [e.preview] : []));
    expect(previews.map((p) => [p.width, p.height])).toEqual([[123, 92], [160, 120]]);
    expect(previews[0].data).toBeInstanceOf(Uint8Array);
    expect(previews[0].data).toHaveLength(123 * 92 * 3);
    expect(sameBytes(previews[1], out)).toBe(true);

    const plain: DreamProgress[] = [];
    await pool.run({ image: photo, params: tiny() }, { onProgress: (p) => plain.push(p) });
    expect(plain).toHaveLength(2);
    expect(plain.some((p) => p.preview)).toBe(false);
  });

  it('keeps the main thread responsive while a dream runs', async () => {
    let last = Date.now();
    let maxLag = 0;
    const timer = setInterval(() => {
      const now = Date.now();
      maxLag = Math.max(maxLag, now - last - 50);
      last = now;
    }, 50);
    const t = Date.now();
    try {
      await pool.run({ image: makePhotoLikeRgb(300, 200), params: tiny({ steps: 10 }) });
    } finally {
      clearInterval(timer);
    }
    const ms = Date.now() - t;
    console.log(`300x200 x10 steps took ${ms} ms in a worker; max event-loop lag ${maxLag} ms`);
    expect(ms).toBeGreaterThan(500); // the dream was long enough for the check to mean something
    expect(maxLag).toBeLessThan(250);
  });

  it('runs two jobs at once on a pool of two', async () => {
    const photo = makePhotoLikeRgb(200, 150);
    const runs = [pool.run({ image: photo, params: tiny({ steps: 3 }) }), pool.run({ image: photo, params: tiny({ steps: 3, seed: 2 }) })];
    // Both went straight to a worker of their own; neither waits for the other.
    expect(pool.busy).toBe(2);
    const [outA, outB] = await Promise.all(runs);
    expect(sameBytes(outA, outB)).toBe(false);
    expect(pool.busy).toBe(0);
  });

  it('cancels quickly with DreamCancelledError, frees the worker, and runs the next job', async () => {
    const controller = new AbortController();
    const p = firstProgress();
    const run = pool.run({ image: makePhotoLikeRgb(300, 200), params: tiny({ steps: 40 }) }, { signal: controller.signal, onProgress: p.onProgress });
    await p.started;
    const t = Date.now();
    controller.abort();
    await expect(run).rejects.toBeInstanceOf(DreamCancelledError);
    expect(Date.now() - t).toBeLessThan(100);
    // The worker confirms within one step (~0.5 s here), far from the 10 s replacement bound.
    await vi.waitFor(() => expect(pool.busy).toBe(0), { timeout: 3000, interval: 20 });
    console.log(`worker free ${Date.now() - t} ms after abort`);
    expect(pool.alive).toBe(2);

    await expect(pool.run({ image: makePhotoLikeRgb(96, 96), params: tiny() }, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(DreamCancelledError);
    const next = await pool.run({ image: makePhotoLikeRgb(96, 96), params: tiny() });
    expect([next.width, next.height]).toEqual([96, 96]);
  });

  it('screens pictures with nsfwjs\'s classifier on a worker: an ordinary photo is far below the threshold', async () => {
    const [result] = await pool.screen([makePhotoLikeRgb(160, 120)]);
    const sum = Object.values(result.scores).reduce((a, b) => a + b, 0);
    expect(sum).toBeCloseTo(1, 4);
    expect(result.explicit).toBeCloseTo(result.scores.porn + result.scores.hentai + result.scores.sexy, 6);
    expect(result.explicit).toBeLessThan(0.1);
  });

  it('makes a zoom animation on a worker: its frames, progress per frame and previews', async () => {
    const photo = makePhotoLikeRgb(96, 72);
    const frames: number[] = [];
    const previews: number[] = [];
    const out = await pool.zoom(
      { image: photo, params: { ...tiny(), frames: 4, zoom: 1.1 }, previewEvery: 2 },
      { onProgress: (p) => (p.frameDone ? (frames.push(p.frame), p.preview && previews.push(p.frame)) : undefined) },
    );
    expect(out.map((f) => [f.width, f.height])).toEqual([[96, 72], [96, 72], [96, 72], [96, 72]]);
    expect(sameBytes(out[0], photo)).toBe(true);
    expect(sameBytes(out[1], out[2])).toBe(false);
    expect(frames).toEqual([1, 2, 3]);
    expect(previews).toEqual([2, 3]);
  });

  it('rejects an unknown layer with a user error of kind "params" (the class does not cross threads; the kind does)', async () => {
    const run = pool.run({ image: makePhotoLikeRgb(96, 96), params: tiny({ layers: ['mixed3', 'no_such_layer'] }) });
    await expect(run).rejects.toBeInstanceOf(UserError);
    await expect(run).rejects.toMatchObject({ kind: 'params', name: 'DreamParamsError' });
    await expect(run).rejects.toThrow(/no_such_layer/);
    expect(pool.busy).toBe(0);
  });
});

describe('DreamWorkerPool failures and shutdown', () => {
  it('rejects start with a readable error when the model cannot load', async () => {
    const logs: string[] = [];
    await expect(
      DreamWorkerPool.start({ size: 1, backend: 'auto', model: 'no_such_model', log: (level, msg) => logs.push(`${level}: ${msg}`) }),
    ).rejects.toThrow(/could not start.*no_such_model/s);
    expect(logs.some((l) => l.startsWith('error:'))).toBe(true);
  });

  it('replaces a worker that ignores a cancel or crashes (WorkerCrashedError), and closes idempotently', async () => {
    const logs: string[] = [];
    const t = Date.now();
    const solo = await DreamWorkerPool.start({
      size: 1,
      backend: 'auto',
      model: 'inception_v3',
      entry: new URL('./helpers/failing-dream-worker.ts', import.meta.url),
      cancelGraceMs: 20,
      log: (level, msg) => logs.push(`${level}: ${msg}`),
    });
    console.log(`pool of 1 ready in ${Date.now() - t} ms`);
    try {
      // A worker that does not confirm a cancel within the 20 ms bound (this seed makes it ignore cancels) is replaced.
      const c = new AbortController();
      const s = firstProgress();
      const slow = solo.run({ image: makePhotoLikeRgb(300, 200), params: tiny({ steps: 40, seed: IGNORE_CANCEL_SEED }) }, { signal: c.signal, onProgress: s.onProgress });
      await s.started;
      await new Promise((resolve) => setTimeout(resolve, 100));
      c.abort();
      await expect(slow).rejects.toBeInstanceOf(DreamCancelledError);
      await vi.waitFor(() => expect(logs.some((l) => l.includes('did not confirm a cancel within 20 ms'))).toBe(true), { timeout: 2000 });
      await vi.waitFor(() => expect(solo.busy).toBe(0), { timeout: 2000 });
      expect((await solo.run({ image: makePhotoLikeRgb(96, 96), params: tiny() })).width).toBe(96);

      // This seed makes the test entry's worker exit with code 7 at its first step, as a crash would.
      const doomed = solo.run({ image: makePhotoLikeRgb(300, 200), params: tiny({ steps: 40, seed: CRASH_SEED }) });
      await expect(doomed).rejects.toBeInstanceOf(WorkerCrashedError);
      await expect(doomed).rejects.toThrow('The dream worker stopped unexpectedly.');
      expect(logs.some((l) => /exited \(code 7\); starting a replacement/.test(l))).toBe(true);

      // A pool of one: this job can only run on the replacement (it waits for it to be ready).
      const t2 = Date.now();
      const next = await solo.run({ image: makePhotoLikeRgb(96, 96), params: tiny() });
      console.log(`job after crash done ${Date.now() - t2} ms later (includes replacement start)`);
      expect([next.width, next.height]).toEqual([96, 96]);
      expect(solo.alive).toBe(1);

      // close() while a job runs: it is cancelled, every worker ends, and close can be called again.
      const q = firstProgress();
      const running = solo.run({ image: makePhotoLikeRgb(300, 200), params: tiny({ steps: 40 }) }, { onProgress: q.onProgress });
      const queued = solo.run({ image: makePhotoLikeRgb(96, 96), params: tiny() });
      const outcomes = Promise.allSettled([running, queued]); // handled before close() rejects them
      await q.started;
      await Promise.all([solo.close(), solo.close()]);
      for (const o of await outcomes) expect(o.status === 'rejected' && o.reason).toBeInstanceOf(DreamCancelledError);
      expect(solo.alive).toBe(0);
      expect(solo.busy).toBe(0);
      await solo.close();
      await expect(solo.run({ image: makePhotoLikeRgb(96, 96), params: tiny() })).rejects.toBeInstanceOf(DreamCancelledError);
    } finally {
      await solo.close();
    }
  });
});
