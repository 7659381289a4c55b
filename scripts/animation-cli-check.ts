// Issue 20's "Done when", checked through the dream command itself: clips made from a real photo (scripts/make-clip.ts)
// are written as animated GIFs (or WebPs), dreamed by the CLI's own entry (dreamMain, what `npm run dream` runs),
// and the file it wrote is decoded with sharp, so the numbers include the encoder's palette, dithering or lossy
// compression. The baseline dreams each frame alone with the same seed: the frames the CLI reads (readAnimation, same
// options), the CLI's recipe, written by the same encoder with the same delays and loop.
//   npx tsx scripts/animation-cli-check.ts PHOTO [frames] [side] [formats]     formats: gif,webp (default both)
// NO_ALONE=1 skips the baseline; KEEP=1 keeps the clips and dreams (their folder is printed).
// Wrap it in flock /tmp/cpu-heavy.lock on a shared machine.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { dreamMain } from '../src/bin/dream-args.ts';
import { engineConfig } from '../src/config.ts';
import { ANIMATION_DEFAULTS, createDreamer, DEFAULT_MAX_SIDE, resolveParams, type Dreamer } from '../src/engine/index.ts';
import { encodeAnimationToFit, probeAnimation, readAnimation, type AnimationFormat, type RgbImage } from '../src/imaging/index.ts';
import { fmt, mean, meanDiff } from './frame-metrics.ts';
import { encodeClip, panClip, patchClip, type Clip } from './make-clip.ts';

const [photo = '../shared/photos/rocket.jpg', framesArg = '24', sideArg = '320', formatsArg = 'gif,webp'] = process.argv.slice(2);
const frames = Number(framesArg);
const side = Number(sideArg);
const formats = formatsArg.split(',') as AnimationFormat[];
const step = 6;
const seed = 2026;
const dir = await mkdtemp(path.join(tmpdir(), 'animation-cli-check-'));

/** An animation file as sharp decodes it: its header and every frame as RGB. */
interface Decoded {
  frames: RgbImage[];
  width: number;
  height: number;
  delays: number[];
  loop: number;
}

async function decode(file: string): Promise<Decoded> {
  const bytes = await readFile(file);
  const meta = await sharp(bytes, { animated: true }).metadata();
  const { data, info } = await sharp(bytes, { animated: true }).flatten({ background: '#ffffff' }).raw().toBuffer({ resolveWithObject: true });
  const width = info.width;
  const height = meta.pageHeight ?? info.height;
  const pages = meta.pages ?? 1;
  const size = width * height * 3;
  const out = Array.from({ length: pages }, (_, k) => ({ data: new Uint8Array(data.subarray(k * size, (k + 1) * size)), width, height }));
  return { frames: out, width, height, delays: meta.delay ?? [], loop: meta.loop ?? 0 };
}

const rgb = (clip: Clip, k: number): RgbImage => ({ data: new Uint8Array(clip.frames[k]), width: clip.width, height: clip.height });

/** The CLI on `input`, as `npm run dream -- input -o output --seed 2026` runs it; throws unless it exits 0. */
async function cli(input: string, output: string): Promise<number> {
  const started = Date.now();
  const code = await dreamMain([input, '-o', output, '--seed', String(seed)]);
  if (code !== 0) throw new Error(`dream exited ${code}`);
  return (Date.now() - started) / 1000;
}

/** Each frame the CLI would read dreamed alone with the CLI's recipe and seed, written as the CLI writes. */
async function alone(dreamer: Dreamer, input: string, output: string, format: AnimationFormat): Promise<number> {
  const config = engineConfig();
  const bytes = await readFile(input);
  const header = (await probeAnimation(bytes))!;
  const maxSide = Math.min(config.maxSide ?? DEFAULT_MAX_SIDE[dreamer.backend.name], ANIMATION_DEFAULTS.maxSide);
  const clip = await readAnimation(bytes, header, { maxSide, maxInputPixels: config.maxInputPixels, maxFrames: config.maxAnimationFrames, maxPixels: config.maxAnimationPixels });
  const params = resolveParams(dreamer.manifest, { seed });
  const started = Date.now();
  const dreamt: RgbImage[] = [];
  for (const f of clip.images) dreamt.push(await dreamer.dream(f, params));
  const seconds = (Date.now() - started) / 1000;
  const fitted = await encodeAnimationToFit(dreamt, 10 * 2 ** 20, format, { delays: clip.frameDelays, loop: clip.loop });
  await writeFile(output, fitted.buffer);
  return seconds;
}

/** Header kept (frames, size, delays, loop) and every frame dreamed: |output − input| per frame. */
function kept(input: Decoded, output: Decoded, raw: Clip): string {
  const same =
    output.frames.length === input.frames.length &&
    output.width === input.width &&
    output.height === input.height &&
    output.delays.join() === input.delays.join() &&
    output.loop === input.loop;
  const strength = output.frames.map((o, k) => meanDiff(o, input.frames[k]));
  // The encoder's own error on the input clip: what "changed" means before any dream.
  const floor = mean(input.frames.map((f, k) => meanDiff(f, rgb(raw, k))));
  return (
    `  kept: ${output.frames.length} frames of ${output.width}×${output.height}, delays ${[...new Set(output.delays)].join('/')} ms, loop ${output.loop}: ${same ? 'same as the input' : `DIFFERS from the input (${input.frames.length} frames ${input.width}×${input.height}, delays ${[...new Set(input.delays)].join('/')}, loop ${input.loop})`}\n` +
    `  dreamed: |output − input| per frame (/255) min ${fmt(Math.min(...strength))}, mean ${fmt(mean(strength))} (the input file's own encoding error: ${fmt(floor)})`
  );
}

type Case = { name: string; clip: Clip; metric: (out: Decoded) => number[]; what: string };

const patch = await patchClip(photo, frames, side);
const outside = (k: number) => (x: number, y: number) =>
  [patch.boxes![k], patch.boxes![k - 1]].every((b) => x < b.left - b.size || x >= b.left + 2 * b.size || y < b.top - b.size || y >= b.top + 2 * b.size);
const pan = await panClip(photo, frames, side, step);
const cases: Case[] = [
  {
    name: 'ball',
    clip: patch,
    metric: (out) => out.frames.slice(1).map((o, i) => meanDiff(o, out.frames[i], outside(i + 1))),
    what: 'still photo + moving ball: change between consecutive output frames away from the ball',
  },
  {
    name: 'pan',
    clip: pan,
    metric: (out) => out.frames.slice(1).map((o, i) => meanDiff(o, out.frames[i], () => true, step)),
    what: `camera pan (${step} px a frame): consecutive output frames after shifting by the pan`,
  },
];

console.log(`${path.basename(photo)}, ${frames} frames, medium, seed ${seed}; files in ${dir}`);
const runs: { format: AnimationFormat; c: Case; input: string; output: string; aloneFile: string; cliS: number }[] = [];
for (const format of formats) {
  for (const c of cases) {
    const input = path.join(dir, `${c.name}.${format}`);
    await writeFile(input, await encodeClip(c.clip, input));
    const output = path.join(dir, `${c.name}-dream.${format}`);
    const cliS = await cli(input, output);
    runs.push({ format, c, input, output, aloneFile: path.join(dir, `${c.name}-alone.${format}`), cliS });
  }
}

const dreamer = process.env.NO_ALONE ? null : await createDreamer({ backend: engineConfig().backend, threads: engineConfig().threads, cacheDir: engineConfig().cacheDir });
for (const r of runs) {
  const aloneS = dreamer ? await alone(dreamer, r.input, r.aloneFile, r.format) : 0;
  const input = await decode(r.input);
  const output = await decode(r.output);
  const m = r.c.metric(output);
  const base = dreamer ? mean(r.c.metric(await decode(r.aloneFile))) : NaN;
  console.log(`${r.format.toUpperCase()} ${r.c.name} (${r.c.clip.width}×${r.c.clip.height}):`);
  console.log(kept(input, output, r.c.clip));
  console.log(`  ${r.c.what} (/255): CLI mean ${fmt(mean(m))} max ${fmt(Math.max(...m))}; each frame alone ${fmt(base)}; the input file itself ${fmt(mean(r.c.metric(input)))}`);
  console.log(`  time: CLI ${r.cliS.toFixed(1)} s (model load included); frames alone ${aloneS.toFixed(1)} s (dreams only)`);
}
await dreamer?.dispose();
if (!process.env.KEEP) await rm(dir, { recursive: true });
