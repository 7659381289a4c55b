import { EmbedBuilder, type APIEmbed } from 'discord.js';
import type { Logger } from 'pino';
import type { ZoomProgress } from '../engine/index.ts';
import { encodeAnimationToFit, encodeImage, encodeLastFrame, type FittedAnimation, type RgbImage } from '../imaging/index.ts';
import type { RunnableJob, ZoomJob } from './job.ts';
import type { JobBody, JobContext } from './job-kind.ts';
import type { JobView } from './reply-target.ts';
import type { Catalog } from '../i18n/index.ts';
import { wordsFor, zoomProgressView } from './views.ts';

type ZoomRun = RunnableJob & { data: ZoomJob };

/** A still of the animation every this many frames while it is made (and of the last one). */
export const ZOOM_PREVIEW_EVERY = 6;
/** The still of the last frame is posted beside the GIF only if at least this much of the budget is left. */
const MIN_STILL_BYTES = 32 * 1024;

/**
 * Animates a job's picture (an endless zoom on the worker) and builds its view: a looping GIF fitted to the upload
 * budget, an embed with the recipe and what was given up to fit, and the last frame as a still when it fits beside it.
 */
export async function zoomView(p: JobContext, job: ZoomRun, input: RgbImage, signal: AbortSignal, log: Logger): Promise<JobBody> {
  const started = Date.now();
  const { params, source } = job.data;
  const editor = p.deps.messages.editor(job);
  const t = wordsFor(job.data.reply);
  let lastStep = 0;
  const onProgress = (progress: ZoomProgress) => {
    p.deps.onStep?.(Math.max(0, progress.elapsedMs - lastStep) / 1000);
    lastStep = progress.elapsedMs;
    if (!progress.preview) return editor.update(zoomProgressView(t, job.id, progress));
    encodeImage(progress.preview, 'jpeg', { quality: 70 }).then(
      (jpeg) => editor.update(zoomProgressView(t, job.id, progress, jpeg), true),
      () => editor.update(zoomProgressView(t, job.id, progress)),
    );
  };
  const frames = await p.deps.runner.zoom({ image: input, params, previewEvery: ZOOM_PREVIEW_EVERY }, { signal, onProgress });
  const seconds = (Date.now() - started) / 1000;
  const budget = p.uploadBudget(job);
  const gif = await encodeAnimationToFit(frames, budget, 'gif');
  const name = `zoom-${params.seed}.gif`;
  const files: NonNullable<JobView['files']> = [{ name, data: gif.buffer }];
  // The last frame as a still, in what the GIF left of the budget; skipped when it does not fit.
  const room = budget - gif.buffer.length;
  if (room >= MIN_STILL_BYTES) {
    const still = await encodeLastFrame(frames, room, 'jpeg').catch(() => null);
    if (still && still.buffer.length <= room) files.push({ name: `zoom-${params.seed}-last.${still.format === 'jpeg' ? 'jpg' : still.format}`, data: still.buffer });
  }
  log.info({ bytes: gif.buffer.length, frames: gif.frames, steps: gif.steps, still: files.length > 1 }, 'zoom encoded');
  const embed = zoomEmbed(t, job.data, gif, { frames: frames.length, width: frames[0].width, height: frames[0].height }, seconds, source.url, name);
  return { view: { content: t.ready.animation(`<@${job.userId}>`), embeds: [embed], files } };
}

/** What the GIF gave up to fit the upload limit, in the member's words (from what the encoder used, not its notes). */
function gaveUp(t: Catalog, gif: FittedAnimation, made: { frames: number; width: number; height: number }): string[] {
  const words = t.zoom.gaveUp;
  return [
    ...(gif.dither === 0 ? [words.dithering] : []),
    ...(gif.colours !== undefined && gif.colours < 256 ? [words.colours(gif.colours)] : []),
    ...(gif.quality !== undefined && gif.quality < 80 ? [words.quality(gif.quality)] : []),
    ...(gif.width !== made.width || gif.height !== made.height ? [words.scaledTo(gif.width, gif.height)] : []),
    ...(gif.frames < made.frames ? [words.frames(gif.frames, made.frames)] : []),
  ];
}

function zoomEmbed(t: Catalog, data: ZoomJob, gif: FittedAnimation, made: { frames: number; width: number; height: number }, seconds: number, sourceUrl: string, imageName: string): APIEmbed {
  const p = data.params;
  const field = t.zoom.fields;
  const fitted = gaveUp(t, gif, made);
  return new EmbedBuilder()
    .setTitle(t.zoom.title(p.intensity))
    .setURL(sourceUrl)
    .setImage(`attachment://${imageName}`)
    .setColor(0x7b2fbe)
    .addFields(
      { name: field.intensity, value: p.intensity, inline: true },
      { name: field.frames, value: t.zoom.frames(gif.frames, made.frames), inline: true },
      { name: field.zoom, value: t.zoom.perFrame(p.zoom), inline: true },
      { name: field.seed, value: String(p.seed), inline: true },
      { name: field.size, value: `${gif.width}×${gif.height}`, inline: true },
      { name: field.time, value: t.recipe.seconds(seconds), inline: true },
      ...(p.target ? [{ name: t.recipe.fields.target, value: p.target, inline: true }] : []),
      ...(p.layers.some((l) => l.includes(':')) ? [{ name: t.recipe.fields.layers, value: p.layers.join(', '), inline: true }] : []),
      ...(p.soft ? [{ name: t.recipe.fields.soft, value: 'on', inline: true }] : []),
      ...(fitted.length ? [{ name: field.fitted, value: t.list(fitted), inline: false }] : []),
    )
    .setFooter({ text: t.zoom.footer })
    .toJSON();
}
