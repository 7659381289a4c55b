import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dreamInProcess, dreamProcess, expectOneLineError } from './helpers/dream-cli.ts';
import { makePhotoLike } from './helpers/images.ts';

// Real processes (dreamProcess) only where a process is the point: a whole dream, and the exit code and single line
// of a refusal made before the engine loads. Everything else runs the same command in-process (dreamInProcess: the
// same dreamMain and reportError that src/bin/dream.ts runs), which gives the same exit code and output.
describe('npm run dream', () => {
  let dir: string;
  let photo: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'dream-cli-'));
    photo = path.join(dir, 'photo.jpg');
    await writeFile(photo, await makePhotoLike(120, 80, 'jpeg'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('dreams a photo into an image of the same size and says how to repeat it', async () => {
    const out = path.join(dir, 'out.webp');
    const r = await dreamProcess([photo, '-o', out, '--intensity', 'low', '--steps', '2', '--seed', '5']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Wrote .*out\.webp \(120×80\).*low, 2×2 steps.*seed 5, backend (onnx|wasm|cpu|tensorflow)/);
    const meta = await sharp(out).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['webp', 120, 80]);
  });

  it('caps the longest side with --max-side, keeping the aspect', async () => {
    const out = path.join(dir, 'capped.png');
    const r = await dreamInProcess([photo, '-o', out, '--steps', '1', '--octaves', '1', '--max-side', '90']);
    expect(r.code).toBe(0);
    const meta = await sharp(out).metadata();
    expect([meta.width, meta.height]).toEqual([90, 60]);
  });

  it('prints the backend, model and presets with --info', async () => {
    const r = await dreamInProcess(['--info']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^backend: +(onnx|wasm|cpu|tensorflow)/m);
    expect(r.stdout).toMatch(/^model: +inception_v3/m);
    expect(r.stdout).toMatch(/nightmare/);
  });

  it('prints its usage with --help', async () => {
    const r = await dreamInProcess(['--help', '--intensity', 'extreme']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/^Usage: npm run dream -- <input> \[options\]/);
    expect(r.stdout).toMatch(/--zoom-frames N/);
  });

  it('refuses a missing file in one line, writing nothing', async () => {
    const out = path.join(dir, 'missing-out.png');
    const r = await dreamProcess([path.join(dir, 'nope.jpg'), '-o', out]);
    expectOneLineError(r, /not found: .*nope\.jpg/);
    expect(r.code).toBe(1);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a file that is not an image, whatever its name says', async () => {
    const fake = path.join(dir, 'notes.png');
    await writeFile(fake, 'these are my holiday notes, not a picture\n');
    const out = path.join(dir, 'fake-out.png');
    expectOneLineError(await dreamInProcess([fake, '-o', out]), /not an image/);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses an empty file', async () => {
    const empty = path.join(dir, 'empty.jpg');
    await writeFile(empty, '');
    expectOneLineError(await dreamInProcess([empty, '-o', path.join(dir, 'empty-out.png')]), /empty/);
  });

  it('refuses an unknown layer and lists the valid ones', async () => {
    const out = path.join(dir, 'layer-out.png');
    expectOneLineError(await dreamInProcess([photo, '-o', out, '--layers', 'mixed3,mixed9']), /"mixed9".*Valid layers: mixed0, mixed1, mixed2, mixed3, mixed4, mixed5/);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses an output format it cannot write before dreaming', async () => {
    // With a model that does not exist, a check made after loading (or dreaming) would complain about the model:
    // the output format's error proves it came first.
    // (.gif is written by --zoom-frames; a format nothing writes is refused the same way.)
    const r = await dreamInProcess([photo, '-o', path.join(dir, 'out.bmp'), '--model', 'no_such_model']);
    expectOneLineError(r, /\.png.*\.jpg/);
    expect(r.stderr).not.toMatch(/no_such_model/);
    expect((await readdir(dir)).filter((f) => f.startsWith('out.bmp'))).toEqual([]);
  });

  it('refuses bad options with usage errors (exit 2)', async () => {
    // One real process for the exit code and the line it prints, the same checks in-process for the others.
    const real = await dreamProcess([photo, '--intensity', 'extreme']);
    const results = [real];
    for (const args of [[photo, '--steps', 'many'], [photo, '--frobnicate'], []]) results.push(await dreamInProcess(args));
    for (const r of results) {
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^dream: /);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expectOneLineError(real, /--intensity must be one of low, medium, high, nightmare/);
  });
});
