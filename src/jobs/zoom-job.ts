import { EmbedBuilder, type APIEmbed } from 'discord.js';
import type { Logger } from 'pino';
import type { ZoomProgress } from '../engine/index.ts';
import { encodeAnimationToFit, encodeImage, encodeLastFrame, type FittedAnimation, type RgbImage } from '../imaging/index.ts';
import type { RunnableJob, ZoomJob } from './job.ts';
import type { JobBody, JobProcessor } from './processor.ts';
import type { JobView } from './reply-target.ts';
import { zoomProgressView } from './views.ts';

type ZoomRun = RunnableJob & { data: ZoomJob };

/** A still of the animation every this many frames while it is made (and of the last one). */
export const ZOOM_PREVIEW_EVERY = 6;
/** The still of the last frame is posted beside the GIF only if at least this much of the budget is left. */
const MIN_STILL_BYTES = 32 * 1024;

/**
 * Animates a job's picture (an endless zoom on the worker) and builds its view: a looping GIF fitted to the upload
 * budget, an embed with the recipe and what was given up to fit, and the last frame as a still when it fits beside it.
 */
export async function zoomView(p: JobProcessor, job: ZoomRun, input: RgbImage, signal: AbortSignal, log: Logger): Promise<JobBody> {
  const started = Date.now();
  const { params, source } = job.data;
  const editor = p.deps.messages.editor(job);
  let lastStep = 0;
  const onProgress = (progress: ZoomProgress) => {
    p.deps.onStep?.(Math.max(0, progress.elapsedMs - lastStep) / 1000);
    lastStep = progress.elapsedMs;
    if (!progress.preview) return editor.update(zoomProgressView(job.id, progress));
    encodeImage(progress.preview, 'jpeg', { quality: 70 }).then(
      (jpeg) => editor.update(zoomProgressView(job.id, progress, jpeg), true),
      () => editor.update(zoomProgressView(job.id, progress)),
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
  const embed = zoomEmbed(job.data, gif, frames.length, seconds, source.url, name);
  return { view: { content: `<@${job.userId}>, your animation is ready.`, embeds: [embed], files } };
}

function zoomEmbed(data: ZoomJob, gif: FittedAnimation, made: number, seconds: number, sourceUrl: string, imageName: string): APIEmbed {
  const p = data.params;
  const frames = gif.frames === made ? String(made) : `${gif.frames} of ${made}`;
  return new EmbedBuilder()
    .setTitle(`DeepDream zoom · ${p.intensity}`)
    .setURL(sourceUrl)
    .setImage(`attachment://${imageName}`)
    .setColor(0x7b2fbe)
    .addFields(
      { name: 'Intensity', value: p.intensity, inline: true },
      { name: 'Frames', value: frames, inline: true },
      { name: 'Zoom', value: `${p.zoom}× a frame`, inline: true },
      { name: 'Seed', value: String(p.seed), inline: true },
      { name: 'Size', value: `${gif.width}×${gif.height}`, inline: true },
      { name: 'Time', value: `${seconds.toFixed(1)} s`, inline: true },
      ...(gif.steps.length ? [{ name: 'To fit the upload limit', value: gif.steps.join(', '), inline: false }] : []),
    )
    .setFooter({ text: 'The title links to the source image. Same picture + same seed = same animation.' })
    .toJSON();
}
