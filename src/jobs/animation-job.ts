import type { APIEmbed } from 'discord.js';
import type { Logger } from 'pino';
import { ANIMATION_DEFAULTS, GUIDE_MAX_SIDE, type AnimationParams, type AnimationProgress } from '../engine/light.ts';
import {
  encodeAnimationToFit,
  encodeImage,
  ImageInputError,
  probeAnimation,
  readAnimation,
  readImage,
  type AnimationHeader,
  type FittedAnimation,
  type RgbImage,
} from '../imaging/index.ts';
import type { Catalog } from '../i18n/index.ts';
import type { AnimationJob, DreamJob, RunnableJob } from './job.ts';
import type { JobBody, JobContext, JobKind } from './job-kind.ts';
import { imageNetClassName } from './class-names.ts';
import { recipeEmbed } from './recipe-embed.ts';
import { resultRow, wordsFor, zoomProgressView } from './views.ts';

type AnimationRun = RunnableJob & { data: AnimationJob };

export interface AnimationKindOptions {
  /** Frames decoded × their stored size may not exceed this (MAX_ANIMATION_PIXELS). */
  maxPixels: number;
}

/** The dream job of an animated picture, as an animation job: its header's frames (sampled), delays and loop. */
export function animationJobOf(data: DreamJob, header: AnimationHeader, plan: { frames: number; delays: number[] }): AnimationJob {
  const { kind: _kind, ...rest } = data;
  return { ...rest, kind: 'animation', frames: plan.frames, sourceFrames: header.frames, delays: plan.delays, loop: header.loop, format: header.format };
}

/** An animation's frames (and its guide), decoded on a worker that was handed only the job's data. */
async function readFrames(ctx: JobContext, job: AnimationRun, signal: AbortSignal, opts: AnimationKindOptions): Promise<RgbImage[]> {
  const { input } = ctx.deps;
  const bytes = await ctx.download(job.data.source, signal);
  const header = await probeAnimation(bytes);
  if (!header) throw new ImageInputError({ code: 'image.damaged', params: {} });
  const maxSide = Math.min(input.maxSide, ANIMATION_DEFAULTS.maxSide);
  const anim = await readAnimation(bytes, header, { maxSide, maxInputPixels: input.maxInputPixels, maxFrames: job.data.frames, maxPixels: opts.maxPixels });
  const guide = job.data.guide ? [await readImage(await ctx.download(job.data.guide, signal), { maxSide: GUIDE_MAX_SIDE, maxInputPixels: input.maxInputPixels })] : [];
  return [...anim.images, ...guide];
}

/** Every 8th input and the last are screened (61 ms each on onnx): frames 1, 9, 17…, and the guide or else the last frame. */
function screenedFrames(inputs: RgbImage[]): RgbImage[] {
  return inputs.filter((_, i) => i % ANIMATION_DEFAULTS.framesPerDream === 0 || i === inputs.length - 1);
}

/**
 * Dreams an animation on the worker (frame by frame, the dream following the picture) and builds its view: the
 * animation in its own format fitted to the upload budget, with its delays and loop, and the recipe (so Dream
 * deeper and Reroll work as on a still) with the frames and what was given up to fit.
 */
export async function animationView(ctx: JobContext, job: AnimationRun, inputs: RgbImage[], signal: AbortSignal, log: Logger): Promise<JobBody> {
  const started = Date.now();
  const { data } = job;
  const frames = inputs.slice(0, data.frames);
  const guide = inputs[data.frames];
  const params: AnimationParams = guide && data.guide ? { ...data.params, guide: { image: guide, layer: data.guideLayer } } : data.params;
  const editor = ctx.deps.messages.editor(job);
  const t = wordsFor(data.reply);
  let lastStep = 0;
  const onProgress = (progress: AnimationProgress) => {
    ctx.deps.onStep?.(Math.max(0, progress.elapsedMs - lastStep) / 1000);
    lastStep = progress.elapsedMs;
    if (!progress.preview) return editor.update(zoomProgressView(t, job.id, progress));
    encodeImage(progress.preview, 'jpeg', { quality: 70 }).then(
      (jpeg) => editor.update(zoomProgressView(t, job.id, progress, jpeg), true),
      () => editor.update(zoomProgressView(t, job.id, progress)),
    );
  };
  const dreamed = await ctx.deps.runner.animate({ frames, params, previewEvery: ANIMATION_DEFAULTS.previewEvery }, { signal, onProgress });
  const seconds = (Date.now() - started) / 1000;
  const fitted = await encodeAnimationToFit(dreamed, ctx.uploadBudget(job), data.format, { delays: data.delays, loop: data.loop });
  const name = `dream-${data.params.seed}.${data.format}`;
  log.info({ bytes: fitted.buffer.length, frames: fitted.frames, steps: fitted.steps }, 'animation encoded');
  const targetName = data.params.target !== undefined && !data.params.style ? await imageNetClassName(t, data.params.target) : undefined;
  const recipe = recipeEmbed(t, { model: ctx.deps.modelName, targetName, params: data.params, width: fitted.width, height: fitted.height, backend: ctx.deps.runner.backend.name, seconds }, data.source.url, name, data.guide && { url: data.guide.url, layer: data.guideLayer });
  const embed = animationEmbed(t, recipe, data, fitted, { frames: dreamed.length, width: dreamed[0].width, height: dreamed[0].height });
  return { view: { content: t.ready.animation(`<@${job.userId}>`), embeds: [embed], files: [{ name, data: fitted.buffer }], components: [resultRow(t)] } };
}

/** The recipe embed, titled as an animation, with its frames (and a sample's note) and what was given up to fit. */
function animationEmbed(t: Catalog, recipe: APIEmbed, data: AnimationJob, fitted: FittedAnimation, made: { frames: number; width: number; height: number }): APIEmbed {
  const words = t.zoom.gaveUp;
  const gaveUp = [
    ...(fitted.dither === 0 ? [words.dithering] : []),
    ...(fitted.colours !== undefined && fitted.colours < 256 ? [words.colours(fitted.colours)] : []),
    ...(fitted.quality !== undefined && fitted.quality < 80 ? [words.quality(fitted.quality)] : []),
    ...(fitted.width !== made.width || fitted.height !== made.height ? [words.scaledTo(fitted.width, fitted.height)] : []),
    ...(fitted.frames < made.frames ? [words.frames(fitted.frames, made.frames)] : []),
  ];
  return {
    ...recipe,
    title: t.animation.title(data.params.intensity),
    ...(data.frames < data.sourceFrames ? { description: t.animation.sampled(data.frames, data.sourceFrames) } : {}),
    fields: [
      ...(recipe.fields ?? []),
      { name: t.zoom.fields.frames, value: t.zoom.frames(fitted.frames, data.sourceFrames), inline: true },
      ...(gaveUp.length ? [{ name: t.zoom.fields.fitted, value: t.list(gaveUp), inline: false }] : []),
    ],
  };
}

/** The animation kind for a JobProcessor's registry. */
export function animationKind(opts: AnimationKindOptions): JobKind<'animation'> {
  return { read: (ctx, job, signal) => readFrames(ctx, job, signal, opts), screened: screenedFrames, run: animationView };
}
