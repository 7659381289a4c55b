// The dream command once its arguments are checked (dream-args.ts): loads the engine, dreams, writes.
import path from 'node:path';
import { engineConfig } from '../config.ts';
import {
  ANIMATION_DEFAULTS,
  createDreamer,
  DEFAULT_MAX_SIDE,
  dreamAnimation,
  dreamZoom,
  followRecipe,
  GUIDE_MAX_SIDE,
  initBackend,
  CLASS_MODEL,
  HYBRID_CLASS_WEIGHT,
  INTENSITIES,
  PRESETS,
  resolveClass,
  resolveParams,
  resolveZoomParams,
  ZOOM_DEFAULTS,
  type DreamParams,
  type Dreamer,
} from '../engine/index.ts';
import { english, englishFormat } from '../i18n/index.ts';
import {
  encodeAnimationToFit,
  ImageInputError,
  probeAnimation,
  readAnimation,
  readImage,
  writeFileAtomically,
  writeImage,
  type AnimationFormat,
  type AnimationHeader,
  type DecodedAnimation,
  type RgbImage,
} from '../imaging/index.ts';
import type { DreamArgs, OutputPlan } from './dream-args.ts';
import { UsageError } from './exit.ts';
import { ProgressBar } from './progress-bar.ts';

const PROG = 'dream';

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
          ...(m.style.fineTune
            ? [
                `fine-tuned: ${m.style.fineTune.blocks.join(', ')} (on its own trunk, trunk weights ${m.style.fineTune.trunkDigest}); ` +
                  m.style.fineTune.stages.map((s) => `stage ${s.stage}: ${s.trains}, lr ${s.learningRate}, ${s.epochs} epochs`).join('; '),
              ]
            : []),
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

/** Dreams what `args` ask for (`bytes`, `guideBytes`: the input files read), or prints --info; returns the exit code. */
export async function runDream(args: DreamArgs, { bytes, guideBytes }: { bytes?: Buffer; guideBytes?: Buffer }): Promise<number> {
  const config = engineConfig();
  const backend = args.backend ?? config.backend;
  // The backend decides the default size; the image is checked before the (slower) model load.
  const backendInfo = await initBackend(backend, config.threads);
  const backendSide = config.maxSide ?? DEFAULT_MAX_SIDE[backendInfo.name];
  // An animated input is dreamed frame by frame unless a still is asked for (-o x.png: its first frame).
  const header = bytes && !args.zooming ? await probeAnimation(bytes) : undefined;
  const plan = args.input && (args.zooming ? args.input.plan : outputFor(args.input.plan, args.input.file, header));
  const animating = Boolean(header && plan?.animation);
  if (args.frames !== undefined && !animating && args.input) {
    throw new UsageError(`--frames is for an animated GIF or WebP written as an animation; ${path.basename(args.input.file)} ${header ? 'is written as a still' : 'is a still picture'}.`);
  }
  // A zoom's or an animation's frames are smaller by default: an animation this size plays inline and fits an upload.
  const animationSide = args.zooming ? ZOOM_DEFAULTS.maxSide : animating ? ANIMATION_DEFAULTS.maxSide : Infinity;
  const maxSide = args.maxSide ?? Math.min(backendSide, animationSide);
  // Budgets from the header before any frame is decoded, and before the (slower) model load.
  const clip =
    bytes && header && animating
      ? await readAnimation(bytes, header, { maxSide, maxInputPixels: config.maxInputPixels, maxFrames: args.frames ?? config.maxAnimationFrames, maxPixels: config.maxAnimationPixels })
      : null;
  const image = clip ? clip.images[0] : bytes ? await readImage(bytes, { maxSide, maxInputPixels: config.maxInputPixels }) : null;
  const guide = guideBytes ? await readGuide(guideBytes, args.guide ?? '', config.maxInputPixels) : undefined;
  const dreamer = await createDreamer({
    backend,
    model: args.model ?? config.model,
    threads: config.threads,
    cacheDir: config.cacheDir,
    stylesDir: config.stylesDir,
    onWarning: (m) => process.stderr.write(`${PROG}: warning: ${m}\n`),
  });
  // Disposed at the end, so that the command can run in-process too (the tests) without keeping a session.
  try {
    if (!image || !args.input || !plan) {
      await printInfo(dreamer, maxSide);
      return 0;
    }
    const style = await resolveClass(dreamer.manifest, undefined, args.target, config);
    const recipe = { ...args.overrides, guide, ...style };
    const zoomParams = args.zooming ? resolveZoomParams(dreamer.manifest, recipe) : null;
    const params = zoomParams ?? resolveParams(dreamer.manifest, recipe);

    const abort = new AbortController();
    const onSigint = () => abort.abort();
    process.once('SIGINT', onSigint);
    const bar = process.stderr.isTTY ? new ProgressBar(process.stderr) : null;
    const started = Date.now();
    let written: string;
    try {
      if (clip && plan.animation) {
        written = await writeAnimation(dreamer, clip, params, plan.output, plan.animation, args.maxMb, abort.signal, bar);
      } else if (zoomParams && plan.animation) {
        const frames = await dreamZoom(dreamer, image, zoomParams, {
          signal: abort.signal,
          onProgress: (p) =>
            bar?.draw(p.fraction, `frame ${p.frame}/${p.frames - 1}  octave ${p.octave}/${p.octaves}  step ${p.step}/${p.steps}  ETA ${englishFormat.duration(p.etaSeconds)}`),
        });
        bar?.draw(1, 'encoding');
        const fitted = await encodeAnimationToFit(frames, Math.floor(args.maxMb * 2 ** 20), plan.animation);
        bar?.done();
        await writeFileAtomically(plan.output, fitted.buffer);
        if (args.still !== undefined) await writeImage(frames[frames.length - 1], args.still);
        const mb = (fitted.buffer.length / 2 ** 20).toFixed(1);
        const fit = fitted.steps.length ? `; to fit ${args.maxMb} MiB: ${fitted.steps.join(', ')}` : '';
        written = `Wrote ${plan.output} (${fitted.width}×${fitted.height}, ${fitted.frames} frames, ${mb} MiB)${args.still !== undefined ? ` and ${args.still}` : ''}`;
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
    const follow = clip ? followRecipe(params) : undefined;
    const then = follow ? ` (then ${follow.octaves}×${follow.steps} a frame)` : '';
    process.stdout.write(`${written}${recipeLine(dreamer, params, args.guide, zoomParams !== null).replace(/ steps,/, ` steps${then},`)}\n`);
    return 0;
  } finally {
    await dreamer.dispose();
  }
}

/**
 * The output of a dream of `file`: as asked; for an animated input with no output named, a dream in its own format
 * (GIF → GIF, WebP → WebP). A .gif output of a still picture is refused (an endless zoom takes --zoom-frames).
 */
function outputFor(plan: OutputPlan, file: string, header: AnimationHeader | undefined): OutputPlan {
  if (header && !plan.named) return { ...plan, output: path.join(path.dirname(file), `${path.parse(file).name}-dream.${header.format}`), animation: header.format };
  if (!header && plan.animation === 'gif') {
    throw new UsageError(`${path.basename(file)} is a still picture, so a .gif output would be one frame: write .png, .jpg or .webp, or add --zoom-frames N for an endless zoom.`);
  }
  // A still input written as .webp is a still WebP.
  return header ? plan : { ...plan, animation: undefined };
}

/** Dreams an animation's frames (the dream following the picture), writes it fitted to `maxMb`; the summary line. */
async function writeAnimation(
  dreamer: Dreamer,
  clip: DecodedAnimation,
  params: DreamParams & { intensity: string },
  output: string,
  format: AnimationFormat,
  maxMb: number,
  signal: AbortSignal,
  bar: ProgressBar | null,
): Promise<string> {
  const started = Date.now();
  const frames = await dreamAnimation(dreamer, clip.images, params, {
    signal,
    onProgress: (p) => bar?.draw(p.fraction, `frame ${p.frame}/${p.frames}  octave ${p.octave}/${p.octaves}  step ${p.step}/${p.steps}  ETA ${englishFormat.duration(p.etaSeconds)}`),
  });
  bar?.draw(1, 'encoding');
  const fitted = await encodeAnimationToFit(frames, Math.floor(maxMb * 2 ** 20), format, { delays: clip.frameDelays, loop: clip.loop });
  bar?.done();
  await writeFileAtomically(output, fitted.buffer);
  const mb = (fitted.buffer.length / 2 ** 20).toFixed(1);
  const sampled = clip.images.length < clip.frames ? ` (sampled from ${clip.frames}, each shown longer)` : '';
  const fit = fitted.steps.length ? `; to fit ${maxMb} MiB: ${fitted.steps.join(', ')}` : '';
  const loop = clip.loop === 0 ? 'loops forever' : `plays ${clip.loop}×`;
  const seconds = englishFormat.duration((Date.now() - started) / 1000);
  return `Wrote ${output} (${fitted.width}×${fitted.height}, ${fitted.frames} frames${sampled}, ${mb} MiB, ${loop}) in ${seconds}${fit}: `;
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

