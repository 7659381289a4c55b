import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeClip } from './helpers/animations.ts';
import { dreamInProcess, expectOneLineError } from './helpers/dream-cli.ts';
import { makePhotoLike } from './helpers/images.ts';

// The real engine on tiny animations: a few frames of 64×48, one octave of one or two steps.
describe('npm run dream on animated GIFs and WebPs', () => {
  let dir: string;
  let gif: string;
  let webp: string;
  let photo: string;
  const quick = ['--intensity', 'low', '--octaves', '1', '--steps', '2', '--seed', '3'];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'dream-anim-'));
    gif = path.join(dir, 'clip.gif');
    webp = path.join(dir, 'clip.webp');
    photo = path.join(dir, 'photo.jpg');
    await writeFile(gif, await makeClip({ frames: 4, width: 64, height: 48, delays: [100, 200, 300, 400], loop: 3 }));
    await writeFile(webp, await makeClip({ frames: 3, width: 64, height: 48, format: 'webp', delays: [120, 120, 240] }));
    await writeFile(photo, await makePhotoLike(64, 48, 'jpeg'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('dreams every frame of a GIF into a GIF with the same size, delays and loop', async () => {
    const out = path.join(dir, 'out.gif');
    const r = await dreamInProcess([gif, '-o', out, ...quick]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Wrote .*out\.gif \(64×48, 4 frames, [\d.]+ MiB, plays 3×\).*low, 1×2 steps \(then 1×2 a frame\).*seed 3/);
    const meta = await sharp(out, { animated: true }).metadata();
    expect([meta.format, meta.pages, meta.width, meta.pageHeight, meta.loop]).toEqual(['gif', 4, 64, 48, 3]);
    expect(meta.delay).toEqual([100, 200, 300, 400]);
    // Every frame is dreamed: it differs from its input frame.
    for (let page = 0; page < 4; page++) {
      const [a, b] = await Promise.all([gif, out].map((f) => sharp(f, { page }).removeAlpha().raw().toBuffer()));
      let diff = 0;
      for (let k = 0; k < a.length; k++) diff += Math.abs(a[k] - b[k]);
      expect(diff / a.length).toBeGreaterThan(3);
    }
  });

  it('writes an animated WebP for a WebP by default, samples with --frames, and a .png output dreams the first frame', async () => {
    const r = await dreamInProcess([webp, ...quick]);
    expect(r.code).toBe(0);
    const meta = await sharp(path.join(dir, 'clip-dream.webp'), { animated: true }).metadata();
    expect([meta.format, meta.pages]).toEqual(['webp', 3]);
    expect(meta.delay).toEqual([120, 120, 240]);

    const two = path.join(dir, 'two.gif');
    expect((await dreamInProcess([gif, '-o', two, '--frames', '2', ...quick])).stdout).toMatch(/2 frames \(sampled from 4, each shown longer\)/);
    expect((await sharp(two, { animated: true }).metadata()).delay).toEqual([300, 700]);

    const still = path.join(dir, 'first.png');
    expect((await dreamInProcess([gif, '-o', still, ...quick])).code).toBe(0);
    expect(await sharp(still).metadata()).toMatchObject({ format: 'png', width: 64, height: 48 });
  });

  it('refuses a .gif output of a still picture, and an animation over the pixel budget, in one line before loading', async () => {
    // With a model that does not exist, a check made after loading would complain about the model.
    const out = path.join(dir, 'still.gif');
    expectOneLineError(await dreamInProcess([photo, '-o', out, '--model', 'no_such_model']), /photo\.jpg is a still picture.*--zoom-frames N/);
    expectOneLineError(await dreamInProcess([photo, '--frames', '4', '--model', 'no_such_model']), /--frames is for an animated GIF or WebP.*photo\.jpg is a still picture/);
    process.env.MAX_ANIMATION_PIXELS = '10000';
    try {
      const r = await dreamInProcess([gif, '-o', out, '--model', 'no_such_model']);
      expectOneLineError(r, /That animation is too large: 4 frames of 64×48/);
    } finally {
      delete process.env.MAX_ANIMATION_PIXELS;
    }
    expect(existsSync(out)).toBe(false);
  });
});
