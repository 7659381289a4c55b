import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { engineConfig } from '../config.ts';
import {
  BACKEND_CHOICES,
  createDreamer,
  DEFAULT_MAX_SIDE,
  dreamZoom,
  GUIDE_MAX_SIDE,
  initBackend,
  INTENSITIES,
  isIntensity,
  PRESETS,
  CLASS_MODEL,
  HYBRID_CLASS_WEIGHT,
  resolveClass,
  resolveParams,
  resolveZoomParams,
  ZOOM_DEFAULTS,
  ZOOM_LIMITS,
  ZOOM_PRESETS,
  type BackendChoice,
  type DreamParams,
  type Dreamer,
  type ZoomOverrides,
} from '../engine/index.ts';
import { english, englishFormat } from '../i18n/index.ts';
import {
  animationFormatOf,
  encodeAnimationToFit,
  formatFromPath,
  ImageInputError,
  readImage,
  writeFileAtomically,
  writeImage,
  type AnimationFormat,
  type RgbImage,
} from '../imaging/index.ts';
import { numberFlag, parseCli } from './args.ts';
import { runMain, UsageError } from './exit.ts';
import { ProgressBar } from './progress-bar.ts';

const PROG = 'dream';
const USAGE = `Usage: npm run dream -- <input> [options]
       npm run dream -- --info

Turns an image (JPEG, PNG, WebP, GIF, AVIF, TIFF) into a DeepDream nightmare.

Options:
  -o, --output FILE        where to write (.png, .jpg, .webp; an animation: .gif, .webp); default <input>-dream.png
  --intensity LEVEL        ${INTENSITIES.join(' | ')} (default medium)
  --layers A,B             layers to dream (default: the preset's, e.g. mixed3,mixed5); a layer:channel grows
                           one channel (mixed4:97), mixable with whole layers (mixed3,mixed4:97)
  --octaves N              number of scales
  --octave-scale X         size ratio between scales (default 1.3)
  --steps N                gradient-ascent steps per octave
  --step-size X            step size in image units [0..1]
  --seed N                 random seed; the same seed gives the same image
  --max-side N             longest side to dream at (default by backend: ${Object.entries(DEFAULT_MAX_SIDE).map(([b, n]) => `${b} ${n}`).join(', ')})
  --tile-size N            images larger than this are dreamed in tiles (default 512)
  --backend B              ${BACKEND_CHOICES.join(' | ')} (default: DREAM_BACKEND or auto)
  --model NAME             model or style under models/ (default inception_v3)
  --target CLASS           an ImageNet class to grow (goldfish, 金魚, n01443537 or 1), by the ${CLASS_MODEL} classifier
                           alone (soft), or with --layers beside them; with a style (npm run train): its class
  --class-weight X         with --target and --layers: the class's weight beside the layers (default ${HYBRID_CLASS_WEIGHT})
  --soft, --no-soft        soft dream: Laplacian-pyramid normalisation, larger and smoother structures (default:
                           on for a class grown alone, else off)
  --guide FILE             a picture that decides what grows (guided dream)
  --guide-layer L          the layer the guide steers (default mixed4; any dream layer)
  --zoom-frames N          an endless zoom of N frames (${ZOOM_LIMITS.minFrames}–${ZOOM_LIMITS.maxFrames}; with --zoom alone ${ZOOM_DEFAULTS.frames}) to .gif or .webp: each
                           frame is the last dreamed a little (${ZOOM_PRESETS.medium.octaves}×${ZOOM_PRESETS.medium.steps} steps at medium), then zoomed in
  --zoom X                 zoom per frame (default ${ZOOM_DEFAULTS.zoom}); a zoom's frames are at most ${ZOOM_DEFAULTS.maxSide} px unless --max-side
  --still FILE             with a zoom: also write its last frame as a still (.png, .jpg, .webp)
  --max-mb X               with a zoom: size limit of the animation in MiB (default 10); it shrinks to fit
  --info                   print backend, model and presets, then exit
  -h, --help               this text`;

function parse(argv: string[]) {
  return parseCli({
    args: argv,
    allowPositionals: true,
    allowNegative: true,
    options: {
      output: { type: 'string', short: 'o' },
      intensity: { type: 'string' },
      layers: { type: 'string' },
      octaves: { type: 'string' },
      'octave-scale': { type: 'string' },
      steps: { type: 'string' },
      'step-size': { type: 'string' },
      seed: { type: 'string' },
      'max-side': { type: 'string' },
      'tile-size': { type: 'string' },
      backend: { type: 'string' },
      model: { type: 'string' },
      target: { type: 'string' },
      'class-weight': { type: 'string' },
      soft: { type: 'boolean' },
      guide: { type: 'string' },
      'guide-layer': { type: 'string' },
      'zoom-frames': { type: 'string' },
      zoom: { type: 'string' },
      still: { type: 'string' },
      'max-mb': { type: 'string' },
      info: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

async function printInfo(dreamer: Dreamer, maxSide: number): Promise<void> {
  const m = dreamer.manifest;
  const lines = [
    `backend:   ${dreamer.backend.detail}`,
    `model:     ${m.name} — ${m.title} (${dreamer.loadInfo.fromCache ? 'compiled weights from cache' : 'decoded and compiled'} in ${dreamer.loadInfo.ms} ms)`,
    `layers:    ${m.dreamLayers.join(', ')} (default ${m.defaultLayers.join(',')})`,
    ...(m.style
      ? [
          `style:     classes ${m.style.classes.join(', ')}; validation accuracy ${m.style.valAccuracy.toFixed(3)}; trunk ${m.style.trunk}; ` +
            `class weight ${m.style.objective.classWeight}; trained ${m.style.date}`,
        ]
      : []),
    `max side:  ${maxSide} px`,
    'presets:',
    ...INTENSITIES.map((i) => {
      const p = PRESETS[i];
      return `  ${i.padEnd(10)} ${p.octaves} octaves × ${p.steps} steps, step ${p.stepSize}, layers ${p.layers.join('+')}: ${english.intensities[i].summary}`;
    }),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** A file's bytes, with one readable sentence when it cannot be read. */
async function readInput(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ImageInputError(code === 'ENOENT' ? `${what} not found: ${file}` : code === 'EISDIR' ? `${file} is a folder, not an image.` : `Cannot read ${file} (${code}).`);
  }
}

/** Where and what to write: a still, or an animation when a zoom flag is given (checked before any work). */
function outputPlan(input: string, output: string | undefined, zoom: boolean): { output: string; animation?: AnimationFormat } {
  if (!zoom) {
    if (output && animationFormatOf(output) === 'gif') throw new UsageError('A .gif output is an animation: add --zoom-frames N, or write .png, .jpg or .webp.');
    const still = output ?? path.join(path.dirname(input), `${path.parse(input).name}-dream.png`);
    formatFromPath(still); // refuse a bad extension before spending minutes on the dream
    return { output: still };
  }
  const file = output ?? path.join(path.dirname(input), `${path.parse(input).name}-zoom.gif`);
  const animation = animationFormatOf(file);
  if (!animation) throw new UsageError(`A zoom is an animation: the output must end in .gif or .webp, not "${path.basename(file)}".`);
  return { output: file, animation };
}

async function main(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(argv);
  if (v.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const config = engineConfig();
  const backend = v.backend ?? config.backend;
  if (!(BACKEND_CHOICES as readonly string[]).includes(backend)) throw new UsageError(`--backend must be one of ${BACKEND_CHOICES.join(', ')}.`);
  if (v.intensity !== undefined && !isIntensity(v.intensity)) throw new UsageError(`--intensity must be one of ${INTENSITIES.join(', ')}.`);
  const overrides: ZoomOverrides = {
    intensity: v.intensity as ZoomOverrides['intensity'],
    layers: v.layers?.split(',').map((l) => l.trim()).filter(Boolean),
    octaves: numberFlag(v.octaves, 'octaves', true),
    octaveScale: numberFlag(v['octave-scale'], 'octave-scale', false),
    steps: numberFlag(v.steps, 'steps', true),
    stepSize: numberFlag(v['step-size'], 'step-size', false),
    seed: numberFlag(v.seed, 'seed', true),
    tileSize: numberFlag(v['tile-size'], 'tile-size', true),
    frames: numberFlag(v['zoom-frames'], 'zoom-frames', true),
    zoom: numberFlag(v.zoom, 'zoom', false),
    guideLayer: v['guide-layer'],
    classWeight: numberFlag(v['class-weight'], 'class-weight', false),
    soft: v.soft,
  };
  const maxSideFlag = numberFlag(v['max-side'], 'max-side', true);
  if (maxSideFlag !== undefined && (maxSideFlag < 64 || maxSideFlag > 4096)) throw new UsageError('--max-side must be from 64 to 4096.');
  const zooming = overrides.frames !== undefined || overrides.zoom !== undefined;
  const { minFrames, maxFrames, minZoom, maxZoom } = ZOOM_LIMITS;
  if (overrides.frames !== undefined && (overrides.frames < minFrames || overrides.frames > maxFrames)) throw new UsageError(`--zoom-frames must be from ${minFrames} to ${maxFrames}.`);
  if (overrides.zoom !== undefined && !(overrides.zoom >= minZoom && overrides.zoom <= maxZoom)) throw new UsageError(`--zoom must be from ${minZoom} to ${maxZoom}.`);
  if (v.still !== undefined && !zooming) throw new UsageError('--still is the last frame of a zoom: add --zoom-frames N.');
  if (v['max-mb'] !== undefined && !zooming) throw new UsageError('--max-mb limits a zoom animation: add --zoom-frames N.');
  if (v['guide-layer'] !== undefined && v.guide === undefined) throw new UsageError('--guide-layer needs --guide FILE.');
  const maxMb = numberFlag(v['max-mb'], 'max-mb', false) ?? 10;
  if (!(maxMb >= 0.1 && maxMb <= 1024)) throw new UsageError('--max-mb must be from 0.1 to 1024.');

  let input: string | undefined;
  let plan: { output: string; animation?: AnimationFormat } | undefined;
  let bytes: Buffer | undefined;
  let guideBytes: Buffer | undefined;
  if (!v.info) {
    if (positionals.length !== 1) throw new UsageError(positionals.length ? 'Give one input image.' : `No input image given.\n${USAGE}`);
    input = positionals[0];
    plan = outputPlan(input, v.output, zooming);
    if (v.still !== undefined) formatFromPath(v.still);
    bytes = await readInput(input, 'Input file');
    if (v.guide !== undefined) guideBytes = await readInput(v.guide, 'Guide file');
  }

  // The backend decides the default size; the image is checked before the (slower) model load.
  const backendInfo = await initBackend(backend as BackendChoice, config.threads);
  const backendSide = config.maxSide ?? DEFAULT_MAX_SIDE[backendInfo.name];
  // A zoom's frames are smaller by default: an animation this size plays inline and fits an upload.
  const maxSide = maxSideFlag ?? (zooming ? Math.min(backendSide, ZOOM_DEFAULTS.maxSide) : backendSide);
  const image = bytes ? await readImage(bytes, { maxSide, maxInputPixels: config.maxInputPixels }) : null;
  const guide = guideBytes ? await readGuide(guideBytes, v.guide ?? '', config.maxInputPixels) : undefined;
  const dreamer = await createDreamer({
    backend: backend as BackendChoice,
    model: v.model ?? config.model,
    threads: config.threads,
    cacheDir: config.cacheDir,
    stylesDir: config.stylesDir,
    onWarning: (m) => process.stderr.write(`${PROG}: warning: ${m}\n`),
  });
  if (!image || !plan) {
    await printInfo(dreamer, maxSide);
    return 0;
  }
  const style = await resolveClass(dreamer.manifest, undefined, v.target, config);
  const recipe = { ...overrides, guide, ...style };
  const zoomParams = zooming ? resolveZoomParams(dreamer.manifest, recipe) : null;
  const params = zoomParams ?? resolveParams(dreamer.manifest, recipe);

  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  const bar = process.stderr.isTTY ? new ProgressBar(process.stderr) : null;
  const started = Date.now();
  let written: string;
  try {
    if (zoomParams && plan.animation) {
      const frames = await dreamZoom(dreamer, image, zoomParams, {
        signal: abort.signal,
        onProgress: (p) =>
          bar?.draw(p.fraction, `frame ${p.frame}/${p.frames - 1}  octave ${p.octave}/${p.octaves}  step ${p.step}/${p.steps}  ETA ${englishFormat.duration(p.etaSeconds)}`),
      });
      bar?.draw(1, 'encoding');
      const fitted = await encodeAnimationToFit(frames, Math.floor(maxMb * 2 ** 20), plan.animation);
      bar?.done();
      await writeFileAtomically(plan.output, fitted.buffer);
      if (v.still !== undefined) await writeImage(frames[frames.length - 1], v.still);
      const mb = (fitted.buffer.length / 2 ** 20).toFixed(1);
      const fit = fitted.steps.length ? `; to fit ${maxMb} MiB: ${fitted.steps.join(', ')}` : '';
      written = `Wrote ${plan.output} (${fitted.width}×${fitted.height}, ${fitted.frames} frames, ${mb} MiB)${v.still !== undefined ? ` and ${v.still}` : ''}`;
      written += ` in ${englishFormat.duration((Date.now() - started) / 1000)}: zoom ${zoomParams.zoom} × ${zoomParams.frames} frames${fit}, `;
    } else {
      const note = (m: string) => process.stderr.write(`${PROG}: note: ${m}\n`);
      const result = await dreamer.dream(image, params, { signal: abort.signal, onProgress: (p) => bar?.update(p), onNote: note });
      bar?.done();
      await writeImage(result, plan.output);
      written = `Wrote ${plan.output} (${image.width}×${image.height}) in ${englishFormat.duration((Date.now() - started) / 1000)}: `;
    }
  } finally {
    bar?.done();
    process.off('SIGINT', onSigint);
  }
  process.stdout.write(`${written}${recipeLine(dreamer, params, v.guide, zoomParams !== null)}\n`);
  return 0;
}

/** The guide picture, read small (the engine reads it at most GUIDE_MAX_SIDE anyway), its errors naming it. */
async function readGuide(bytes: Buffer, file: string, maxInputPixels: number): Promise<RgbImage> {
  try {
    return await readImage(bytes, { maxSide: GUIDE_MAX_SIDE, maxInputPixels });
  } catch (err) {
    if (err instanceof ImageInputError) throw new ImageInputError(`Guide ${path.basename(file)}: ${err.message}`);
    throw err;
  }
}

/**
 * Everything needed to repeat the dream: model, objective (layers and channels, an ImageNet class, or a guide),
 * intensity, steps, seed, backend, and soft when it is.
 */
function recipeLine(dreamer: Dreamer, p: DreamParams & { intensity: string }, guideFile: string | undefined, zoom: boolean): string {
  const imageNet = p.target !== undefined && !p.style && !dreamer.manifest.style;
  const alone = imageNet && !p.layers.length && !p.guide;
  const layers = p.guide ? `guide ${path.basename(guideFile ?? '')} at ${p.guide.layer}` : p.layers.join('+');
  const target = imageNet ? `target ${p.target}${alone ? '' : ` (${CLASS_MODEL}, weight ${p.classWeight ?? HYBRID_CLASS_WEIGHT})`}` : '';
  const model = alone ? CLASS_MODEL : (p.model ?? dreamer.manifest.name);
  return (
    `${model} ${[alone ? '' : layers, target].filter(Boolean).join(' + ')}, ${p.intensity}, ${p.octaves}×${p.steps} steps${zoom ? ' a frame' : ''}, ` +
    `step ${p.stepSize}, seed ${p.seed}, backend ${dreamer.backend.name}${p.style ? `, style ${p.style}, target ${p.target}` : ''}${p.soft ? ', soft' : ''}`
  );
}

runMain(PROG, () => main(process.argv.slice(2)));
