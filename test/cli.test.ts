import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePhotoLike } from './helpers/images.ts';

const run = promisify(execFile);
const CLI = path.resolve('src/bin/dream.ts');

/** Runs the CLI as a user would (`npm run dream -- …` runs this same command). */
async function dream(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, DEBUG: '' }, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function expectOneLineError(r: { code: number; stderr: string }, pattern: RegExp): void {
  expect(r.code).not.toBe(0);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^dream: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

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
    const r = await dream([photo, '-o', out, '--intensity', 'low', '--steps', '2', '--seed', '5']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Wrote .*out\.webp \(120×80\).*low, 2×2 steps.*seed 5, backend (onnx|wasm|cpu|tensorflow)/);
    const meta = await sharp(out).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['webp', 120, 80]);
  });

  it('caps the longest side with --max-side, keeping the aspect', async () => {
    const out = path.join(dir, 'capped.png');
    const r = await dream([photo, '-o', out, '--steps', '1', '--octaves', '1', '--max-side', '90']);
    expect(r.code).toBe(0);
    const meta = await sharp(out).metadata();
    expect([meta.width, meta.height]).toEqual([90, 60]);
  });

  it('prints the backend, model and presets with --info', async () => {
    const r = await dream(['--info']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^backend: +(onnx|wasm|cpu|tensorflow)/m);
    expect(r.stdout).toMatch(/^model: +inception_v3/m);
    expect(r.stdout).toMatch(/nightmare/);
  });

  it('refuses a missing file in one line, writing nothing', async () => {
    const out = path.join(dir, 'missing-out.png');
    expectOneLineError(await dream([path.join(dir, 'nope.jpg'), '-o', out]), /not found: .*nope\.jpg/);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a file that is not an image, whatever its name says', async () => {
    const fake = path.join(dir, 'notes.png');
    await writeFile(fake, 'these are my holiday notes, not a picture\n');
    const out = path.join(dir, 'fake-out.png');
    expectOneLineError(await dream([fake, '-o', out]), /not an image/);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses an empty file', async () => {
    const empty = path.join(dir, 'empty.jpg');
    await writeFile(empty, '');
    expectOneLineError(await dream([empty, '-o', path.join(dir, 'empty-out.png')]), /empty/);
  });

  it('refuses an unknown layer and lists the valid ones', async () => {
    const out = path.join(dir, 'layer-out.png');
    expectOneLineError(await dream([photo, '-o', out, '--layers', 'mixed3,mixed9']), /"mixed9".*Valid layers: mixed0, mixed1, mixed2, mixed3, mixed4, mixed5/);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses an output format it cannot write before dreaming', async () => {
    // With a model that does not exist, a check made after loading (or dreaming) would complain about the model:
    // the output format's error proves it came first.
    // (.gif is written by --zoom-frames; a format nothing writes is refused the same way.)
    const r = await dream([photo, '-o', path.join(dir, 'out.bmp'), '--model', 'no_such_model']);
    expectOneLineError(r, /\.png.*\.jpg/);
    expect(r.stderr).not.toMatch(/no_such_model/);
    expect((await readdir(dir)).filter((f) => f.startsWith('out.bmp'))).toEqual([]);
  });

  it('refuses bad options with usage errors (exit 2)', async () => {
    for (const args of [[photo, '--intensity', 'extreme'], [photo, '--steps', 'many'], [photo, '--frobnicate'], []]) {
      const r = await dream(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^dream: /);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
