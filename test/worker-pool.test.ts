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
    // The dream runs (a step count it cannot finish first) until the main thread's timer has ticked 10 times after
    // the worker's first step, i.e. for as long as the check needs on any machine; then it is cancelled.
    const ticksWanted = 10;
    const controller = new AbortController();
    let last = Date.now();
    let maxLag = 0;
    let ticks = -1; // counting starts at the dream's first step
    let steps = 0;
    const stepsAtTick: number[] = [];
    const timer = setInterval(() => {
      const now = Date.now();
      maxLag = Math.max(maxLag, now - last - 50);
      last = now;
      if (ticks < 0) return;
      ticks += 1;
      stepsAtTick.push(steps);
      if (ticks >= ticksWanted && steps > stepsAtTick[0]) controller.abort();
    }, 50);
    try {
      const run = pool.run(
        { image: makePhotoLikeRgb(160, 120), params: tiny({ steps: 500 }) },
        {
          signal: controller.signal,
          onProgress: () => {
            steps += 1;
            if (ticks < 0) {
              ticks = 0;
              last = Date.now();
              maxLag = 0;
            }
          },
        },
      );
      await expect(run).rejects.toBeInstanceOf(DreamCancelledError);
    } finally {
      clearInterval(timer);
    }
    console.log(`${steps} steps of 160x120 in a worker while the main thread ticked ${ticks} times; max event-loop lag ${maxLag} ms`);
    // The dream was running the whole time: it was cancelled, not finished, and its steps went on between the ticks.
    expect(ticks).toBeGreaterThanOrEqual(ticksWanted);
    expect(steps).toBeGreaterThan(stepsAtTick[0]);
    expect(steps).toBeLessThan(500);
    expect(maxLag).toBeLessThan(250);
    await vi.waitFor(() => expect(pool.busy).toBe(0), { timeout: 30_000, interval: 20 });
  });

  it('runs two jobs at once on a pool of two', async () => {
    const photo = makePhotoLikeRgb(128, 96);
    const runs = [pool.run({ image: photo, params: tiny() }), pool.run({ image: photo, params: tiny({ seed: 2 }) })];
    // Both went straight to a worker of their own; neither waits for the other.
    expect(pool.busy).toBe(2);
    const [outA, outB] = await Promise.all(runs);
    expect(sameBytes(outA, outB)).toBe(false);
    expect(pool.busy).toBe(0);
  });

  it('cancels quickly with DreamCancelledError, frees the worker, and runs the next job', async () => {
    const controller = new AbortController();
    const p = firstProgress();
    // More steps than it could run before the cancel arrives: the cancel, not the end of the dream, stops it.
    const run = pool.run({ image: makePhotoLikeRgb(160, 120), params: tiny({ steps: 500 }) }, { signal: controller.signal, onProgress: p.onProgress });
    await p.started;
    const t = Date.now();
    controller.abort();
    await expect(run).rejects.toBeInstanceOf(DreamCancelledError);
    // The caller is answered at once, before the worker has confirmed (it still holds the job).
    expect(pool.busy).toBe(1);
    // The worker confirms within one step, long before the 10 s replacement bound (the ceiling only guards a hang).
    await vi.waitFor(() => expect(pool.busy).toBe(0), { timeout: 30_000, interval: 20 });
    console.log(`worker free ${Date.now() - t} ms after abort`);
    expect(pool.alive).toBe(2);
    expect(logs.some((l) => l.includes('did not confirm a cancel'))).toBe(false);

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

  it('dreams an animation on a worker: one frame out per frame in, progress per frame and previews', async () => {
    const input = [makePhotoLikeRgb(96, 72), makePhotoLikeRgb(96, 72), makePhotoLikeRgb(96, 72)];
    const frames: number[] = [];
    const previews: number[] = [];
    const out = await pool.animate(
      { frames: input, params: { ...tiny(), followOctaves: 1, followSteps: 1 }, previewEvery: 2 },
      { onProgress: (p) => (p.frameDone ? (frames.push(p.frame), p.preview && previews.push(p.frame)) : undefined) },
    );
    expect(out.map((f) => [f.width, f.height])).toEqual([[96, 72], [96, 72], [96, 72]]);
    expect(sameBytes(out[0], input[0])).toBe(false);
    expect(frames).toEqual([1, 2, 3]);
    expect(previews).toEqual([2, 3]);
    // The caller keeps its frames (they were copied to the worker, not moved).
    expect(input[0].data.length).toBe(96 * 72 * 3);
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
      // (500 steps: it is still dreaming when the cancel comes, however fast the machine.)
      const slow = solo.run({ image: makePhotoLikeRgb(160, 120), params: tiny({ steps: 500, seed: IGNORE_CANCEL_SEED }) }, { signal: c.signal, onProgress: s.onProgress });
      await s.started;
      c.abort();
      await expect(slow).rejects.toBeInstanceOf(DreamCancelledError);
      // Ceilings only guard a hang: the log comes 20 ms after the cancel, the replacement once it has loaded the model.
      await vi.waitFor(() => expect(logs.some((l) => l.includes('did not confirm a cancel within 20 ms'))).toBe(true), { timeout: 30_000 });
      await vi.waitFor(() => expect(solo.busy).toBe(0), { timeout: 30_000 });
      expect((await solo.run({ image: makePhotoLikeRgb(96, 96), params: tiny() })).width).toBe(96);

      // This seed makes the test entry's worker exit with code 7 at its first step, as a crash would.
      const doomed = solo.run({ image: makePhotoLikeRgb(96, 96), params: tiny({ steps: 40, seed: CRASH_SEED }) });
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
      const running = solo.run({ image: makePhotoLikeRgb(160, 120), params: tiny({ steps: 500 }) }, { onProgress: q.onProgress });
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
