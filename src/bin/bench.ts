import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { engineConfig } from '../config.ts';
import {
  BACKEND_CHOICES,
  createDreamer,
  createScreener,
  dreamAnimation,
  followRecipe,
  greyAt,
  INTENSITIES,
  opticalFlow,
  warpImage,
  FLOW_SIDE,
  lapNormalise,
  PRESETS,
  resolveParams,
  type BackendChoice,
  type DreamParams,
  type Dreamer,
  type Intensity,
  type RecipeOverrides,
} from '../engine/index.ts';
import { encodeAnimation, probeAnimation, readAnimation, readImage, type RgbImage } from '../imaging/index.ts';
import { numberFlag, parseCli } from './args.ts';
import { runMain, UsageError } from './exit.ts';

const SAMPLE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../samples/landscape.jpg');
const STEP_SIZES = [224, 384, 512];
const TIMED_STEPS = 5;

type Result =
  | { case: 'step'; size: number; backend: string; threads: number; ms_median: number; fwd_ms_median: number; peak_rss_mb: number }
  | { case: 'dream'; intensity: Intensity; side: number; seconds: number; backend: string }
  | { case: 'screen'; backend: string; threads: number; load_ms: number; ms_median: number; rss_added_mb: number }
  | {
      case: 'grow';
      side: number;
      intensity: Intensity;
      plain_s: number;
      class_s: number;
      class_ratio: number;
      hybrid_s: number;
      hybrid_ratio: number;
      /** The same in CPU seconds of this process (all its threads): what a busy machine moves least. */
      plain_cpu_s: number;
      class_cpu_ratio: number;
      hybrid_cpu_ratio: number;
      /** With --rounds N: each round's wall ratios (plain, class, hybrid back to back); the fields above are medians. */
      class_ratios?: number[];
      hybrid_ratios?: number[];
      backend: string;
    }
  | {
      case: 'soft';
      size: number;
      classic_ms_median: number;
      soft_ms_median: number;
      added_pct: number;
      classic_cpu_ms: number;
      soft_cpu_ms: number;
      added_cpu_pct: number;
      lapnorm_ms_median: number;
      backend: string;
    }
  | {
      case: 'anim';
      frames: number;
      width: number;
      height: number;
      intensity: Intensity;
      follow: string;
      still_s: number;
      anim_s: number;
      ratio: number;
      cpu_ratio: number;
      flow_ms: number;
      backend: string;
    };

/** CPU seconds (user + system, every thread of this process) since `since`. */
const cpuSeconds = (since: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
let peakRss = 0;
const sampleRss = () => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
};

/** Square crop of the sample, so step timings are for exactly size×size pixels. */
async function square(size: number): Promise<RgbImage> {
  const img = await readImage(await readFile(SAMPLE), { maxSide: 4096, maxInputPixels: 1e8 });
  const side = Math.min(img.width, img.height);
  const x0 = Math.floor((img.width - side) / 2);
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const sy = Math.floor((y * side) / size);
      const sx = x0 + Math.floor((x * side) / size);
      data.set(img.data.subarray((sy * img.width + sx) * 3, (sy * img.width + sx) * 3 + 3), (y * size + x) * 3);
    }
  }
  return { data, width: size, height: size };
}

/** Milliseconds of each step (after a warm-up step) of a one-octave dream of `image` with `params`. */
async function stepTimes(dreamer: Dreamer, image: RgbImage, params: DreamParams): Promise<number[]> {
  const stamps: number[] = [];
  const onProgress = () => {
    stamps.push(performance.now());
    sampleRss();
  };
  await dreamer.dream(image, { ...params, octaves: 1, steps: TIMED_STEPS + 1, tileSize: Math.max(512, image.width) }, { onProgress });
  // The first step warms up kernels and allocations; time the ones after it.
  return stamps.slice(1).map((t, i) => t - stamps[i]);
}

/**
 * Growing anything, timed in one window: a class dream (the ImageNet classifier alone, soft as by default) and the
 * hybrid (InceptionV3's layers + the class, two networks) against a plain dream of the same picture and intensity.
 */
async function benchGrow(dreamer: Dreamer, side: number, rounds: number): Promise<Result> {
  const image = await readImage(await readFile(SAMPLE), { maxSide: side, maxInputPixels: 1e8 });
  const intensity: Intensity = 'medium';
  type Timing = { wall: number; cpu: number };
  const time = async (o: RecipeOverrides): Promise<Timing> => {
    const t = performance.now();
    const cpu = process.cpuUsage();
    await dreamer.dream(image, resolveParams(dreamer.manifest, { intensity, seed: 1, ...o }));
    return { wall: (performance.now() - t) / 1000, cpu: cpuSeconds(cpu) };
  };
  // Loads the classifier and warms every network at every octave's size (ONNX Runtime's first run of a shape is slow)
  // outside the timings.
  await dreamer.dream(image, { ...resolveParams(dreamer.manifest, { intensity, target: 'goldfish', seed: 1 }), steps: 1 });
  await dreamer.dream(image, { ...resolveParams(dreamer.manifest, { intensity, target: 'goldfish', layers: [...PRESETS[intensity].layers], seed: 1 }), steps: 1 });
  // Each round runs the three back to back, so a round's ratios share one state of the machine.
  const runs: { plain: Timing; alone: Timing; hybrid: Timing }[] = [];
  for (let i = 0; i < rounds; i++) {
    const plain = await time({});
    const alone = await time({ target: 'goldfish' });
    const hybrid = await time({ target: 'goldfish', layers: [...PRESETS[intensity].layers] });
    runs.push({ plain, alone, hybrid });
  }
  const r = (x: number) => Math.round(x * 100) / 100;
  const mid = (f: (run: (typeof runs)[number]) => number) => r(median(runs.map(f)));
  return {
    case: 'grow',
    side: Math.max(image.width, image.height),
    intensity,
    plain_s: mid((x) => x.plain.wall),
    class_s: mid((x) => x.alone.wall),
    class_ratio: mid((x) => x.alone.wall / x.plain.wall),
    hybrid_s: mid((x) => x.hybrid.wall),
    hybrid_ratio: mid((x) => x.hybrid.wall / x.plain.wall),
    plain_cpu_s: mid((x) => x.plain.cpu),
    class_cpu_ratio: mid((x) => x.alone.cpu / x.plain.cpu),
    hybrid_cpu_ratio: mid((x) => x.hybrid.cpu / x.plain.cpu),
    ...(rounds > 1 ? { class_ratios: runs.map((x) => r(x.alone.wall / x.plain.wall)), hybrid_ratios: runs.map((x) => r(x.hybrid.wall / x.plain.wall)) } : {}),
    backend: dreamer.backend.name,
  };
}

/** A camera pan over the sample: a 320 px window sliding 6 px a frame, as a GIF (read back as a job reads it). */
async function panGif(frames: number, side: number): Promise<RgbImage[]> {
  const img = await readImage(await readFile(SAMPLE), { maxSide: 4096, maxInputPixels: 1e8 });
  const height = Math.round((side * 2) / 3);
  const step = 6;
  const scale = height / img.height;
  const cut: RgbImage[] = [];
  for (let f = 0; f < frames; f++) {
    const data = new Uint8Array(side * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < side; x++) {
        const sx = Math.min(img.width - 1, Math.floor((x + f * step) / scale));
        const sy = Math.min(img.height - 1, Math.floor(y / scale));
        data.set(img.data.subarray((sy * img.width + sx) * 3, (sy * img.width + sx) * 3 + 3), (y * side + x) * 3);
      }
    }
    cut.push({ data, width: side, height });
  }
  const gif = await encodeAnimation(cut, { format: 'gif', delayMs: 80 });
  const header = (await probeAnimation(gif))!;
  return (await readAnimation(gif, header, { maxSide: side, maxInputPixels: 1e8, maxFrames: frames, maxPixels: 1e9 })).images;
}

/**
 * An animation against one still dream at the same size and intensity, in one window: a 24-frame 320 px GIF (the
 * first frame a full dream, the rest short dreams along the optical flow), and what the flow itself costs a frame.
 */
async function benchAnim(dreamer: Dreamer): Promise<Result> {
  const frames = await panGif(24, 320);
  const intensity: Intensity = 'medium';
  const params = resolveParams(dreamer.manifest, { intensity, seed: 1 });
  // Warm every octave's shape outside the timings (ONNX Runtime's first run of a shape is slow).
  await dreamer.dream(frames[0], { ...params, steps: 1 });
  const cpu0 = process.cpuUsage();
  let t = performance.now();
  await dreamer.dream(frames[0], params);
  const still = (performance.now() - t) / 1000;
  const stillCpu = cpuSeconds(cpu0);
  const cpu1 = process.cpuUsage();
  t = performance.now();
  await dreamAnimation(dreamer, frames, params);
  const anim = (performance.now() - t) / 1000;
  const animCpu = cpuSeconds(cpu1);
  // The flow and the two warps of one frame, alone.
  const [a, b] = frames.slice(0, 2).map((f) => ({ data: Float32Array.from(f.data, (v) => v / 255), width: f.width, height: f.height }));
  const flowMs: number[] = [];
  for (let i = 0; i < 6; i++) {
    const s = performance.now();
    const flow = opticalFlow(greyAt(a, FLOW_SIDE), greyAt(b, FLOW_SIDE));
    warpImage(a, flow);
    warpImage(a, flow);
    if (i > 0) flowMs.push(performance.now() - s);
  }
  const r = (x: number) => Math.round(x * 100) / 100;
  const f = followRecipe(params);
  return {
    case: 'anim',
    frames: frames.length,
    width: frames[0].width,
    height: frames[0].height,
    intensity,
    follow: `${f.octaves}×${f.steps}`,
    still_s: r(still),
    anim_s: r(anim),
    ratio: r(anim / still),
    cpu_ratio: r(animCpu / stillCpu),
    flow_ms: Math.round(median(flowMs)),
    backend: dreamer.backend.name,
  };
}

/** What soft normalisation (the Laplacian pyramid, in JavaScript) adds to a step at `size`. */
async function benchSoft(dreamer: Dreamer, size: number): Promise<Result> {
  const image = await square(size);
  const params = resolveParams(dreamer.manifest, { seed: 1 });
  const classic: number[] = [];
  const soft: number[] = [];
  const cpu = { classic: [] as number[], soft: [] as number[] };
  // Interleaved, so a change in the machine's load falls on both.
  for (let round = 0; round < 3; round++) {
    let t = process.cpuUsage();
    classic.push(...(await stepTimes(dreamer, image, params)));
    cpu.classic.push((cpuSeconds(t) * 1000) / (TIMED_STEPS + 1));
    t = process.cpuUsage();
    soft.push(...(await stepTimes(dreamer, image, { ...params, soft: true })));
    cpu.soft.push((cpuSeconds(t) * 1000) / (TIMED_STEPS + 1));
  }
  const cc = median(cpu.classic);
  const cs = median(cpu.soft);
  const c = median(classic);
  const s = median(soft);
  // The normalisation alone, on a gradient-sized array: what soft adds, without the network's share of the noise.
  const grad = Float32Array.from({ length: size * size * 3 }, (_, i) => Math.sin(i * 0.37));
  const lap: number[] = [];
  for (let i = 0; i < TIMED_STEPS + 1; i++) {
    const t = performance.now();
    lapNormalise(grad, size, size);
    if (i > 0) lap.push(performance.now() - t);
  }
  const added = Math.round(((s - c) / c) * 1000) / 10;
  return {
    case: 'soft',
    size,
    classic_ms_median: Math.round(c),
    soft_ms_median: Math.round(s),
    added_pct: added,
    classic_cpu_ms: Math.round(cc),
    soft_cpu_ms: Math.round(cs),
    added_cpu_pct: Math.round(((cs - cc) / cc) * 1000) / 10,
    lapnorm_ms_median: Math.round(median(lap) * 10) / 10,
    backend: dreamer.backend.name,
  };
}

async function benchStep(dreamer: Dreamer, size: number): Promise<Result> {
  const image = await square(size);
  const params = resolveParams(dreamer.manifest, { seed: 1 });
  const stepMs = await stepTimes(dreamer, image, params);
  const fwd: number[] = [];
  const deepest = params.layers[params.layers.length - 1];
  for (let i = 0; i < TIMED_STEPS + 1; i++) {
    const t = performance.now();
    await dreamer.pooledFeatures(image, deepest);
    if (i > 0) fwd.push(performance.now() - t);
  }
  sampleRss();
  return { case: 'step', size, backend: dreamer.backend.name, threads: dreamer.backend.threads, ms_median: Math.round(median(stepMs)), fwd_ms_median: Math.round(median(fwd)), peak_rss_mb: Math.round(peakRss / 2 ** 20) };
}

async function benchDream(dreamer: Dreamer, intensity: Intensity, side: number): Promise<Result> {
  const image = await readImage(await readFile(SAMPLE), { maxSide: side, maxInputPixels: 1e8 });
  const params = resolveParams(dreamer.manifest, { intensity, seed: 1 });
  const t = performance.now();
  await dreamer.dream(image, params, { onProgress: sampleRss });
  return { case: 'dream', intensity, side: Math.max(image.width, image.height), seconds: Math.round((performance.now() - t) / 100) / 10, backend: dreamer.backend.name };
}

/**
 * What screening an input costs a worker (NSFW_POLICY): loading nsfwjs's classifier (first use), the memory it adds,
 * and the time per picture (the sample, as a job decodes it), with the threads a worker's screener gets.
 */
async function benchScreen(backend: BackendChoice, threads: number, cacheDir?: string): Promise<Result> {
  const image = await readImage(await readFile(SAMPLE), { maxSide: 768, maxInputPixels: 1e8 });
  global.gc?.();
  const before = process.memoryUsage().rss;
  const screener = await createScreener({ backend, threads, cacheDir });
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    await screener.screen(image);
    times.push(performance.now() - t);
  }
  const added = process.memoryUsage().rss - before;
  const result: Result = { case: 'screen', backend: screener.backend.name, threads: screener.backend.threads, load_ms: screener.loadInfo.ms, ms_median: Math.round(median(times)), rss_added_mb: Math.round(added / 2 ** 20) };
  await screener.dispose();
  return result;
}

function row(r: Result): string {
  if (r.case === 'anim') {
    return `anim   ${r.frames} frames ${r.width}×${r.height} ${r.intensity} (then ${r.follow} a frame): ${r.anim_s} s vs one still ${r.still_s} s = ${r.ratio}× (CPU ${r.cpu_ratio}×); flow ${r.flow_ms} ms a frame   (${r.backend})`;
  }
  if (r.case === 'grow') {
    const spread = r.class_ratios ? `; rounds: class ${r.class_ratios.join(', ')}×, hybrid ${r.hybrid_ratios?.join(', ')}×` : '';
    return `grow   ${r.intensity} ${r.side} px: plain ${r.plain_s} s, class alone ${r.class_s} s (${r.class_ratio}×; CPU ${r.class_cpu_ratio}×), hybrid ${r.hybrid_s} s (${r.hybrid_ratio}×; CPU ${r.hybrid_cpu_ratio}×)${spread}   (${r.backend})`;
  }
  if (r.case === 'soft') {
    return `soft   ${r.size} px step: classic ${r.classic_ms_median} ms, soft ${r.soft_ms_median} ms (${r.added_pct} %; CPU ${r.classic_cpu_ms} → ${r.soft_cpu_ms} ms, ${r.added_cpu_pct} %), lapnorm alone ${r.lapnorm_ms_median} ms   (${r.backend})`;
  }
  if (r.case === 'screen') return `screen  load ${r.load_ms} ms, ${r.ms_median} ms/picture, +${r.rss_added_mb} MB RSS   (${r.backend}, ${r.threads} thread${r.threads === 1 ? "" : "s"})`;
  return r.case === 'step'
    ? `step   ${String(r.size).padStart(4)} px   ${String(r.ms_median).padStart(6)} ms/step   forward ${String(r.fwd_ms_median).padStart(5)} ms   peak RSS ${r.peak_rss_mb} MB   (${r.backend})`
    : `dream  ${r.intensity.padEnd(9)} ${String(r.side).padStart(4)} px  ${r.seconds.toFixed(1).padStart(7)} s   (${r.backend})`;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseCli({ args: argv, options: { json: { type: 'boolean' }, only: { type: 'string' }, backend: { type: 'string' }, threads: { type: 'string' }, side: { type: 'string' }, rounds: { type: 'string' } } });
  const config = engineConfig();
  const backend = (values.backend ?? config.backend) as BackendChoice;
  if (!BACKEND_CHOICES.includes(backend)) throw new UsageError(`--backend must be one of ${BACKEND_CHOICES.join(', ')}.`);
  const threads = numberFlag(values.threads, 'threads', true) ?? config.threads;
  const cases: (() => Promise<Result>)[] = [];
  const dreamer = await createDreamer({ backend, threads, cacheDir: config.cacheDir });
  for (const size of STEP_SIZES) cases.push(() => benchStep(dreamer, size));
  const side = numberFlag(values.side, 'side', true) ?? 512;
  if (side < 64 || side > 4096) throw new UsageError('--side must be from 64 to 4096.');
  for (const intensity of INTENSITIES) cases.push(() => benchDream(dreamer, intensity, side));
  cases.push(() => benchScreen(backend, threads, config.cacheDir));
  const rounds = numberFlag(values.rounds, 'rounds', true) ?? 1;
  if (rounds < 1 || rounds > 20) throw new UsageError('--rounds must be from 1 to 20.');
  cases.push(() => benchGrow(dreamer, side, rounds), () => benchSoft(dreamer, 512));
  cases.push(() => benchAnim(dreamer));
  const names = [...STEP_SIZES.map((s) => `step:${s}`), ...INTENSITIES.map((i) => `dream:${i}`), 'screen', 'grow', 'soft', 'anim'];
  const selected = values.only ? names.map((n, i) => (n === values.only ? i : -1)).filter((i) => i >= 0) : names.map((_, i) => i);
  if (selected.length === 0) throw new UsageError(`--only must be one of ${names.join(', ')}.`);
  if (!values.json) process.stdout.write(`backend: ${dreamer.backend.detail}\n`);
  for (const i of selected) {
    const result = await cases[i]();
    process.stdout.write(`${values.json ? JSON.stringify(result) : row(result)}\n`);
  }
  return 0;
}

runMain('bench', () => main(process.argv.slice(2)));
