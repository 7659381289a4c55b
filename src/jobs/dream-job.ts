import type { Logger } from 'pino';
import { CancelledError, isUserError } from '../errors.ts';
import type { DreamParams, DreamProgress } from '../engine/index.ts';
import { encodeImage, encodeToFit, shrinkImage, type RgbImage } from '../imaging/index.ts';
import { WorkerCrashedError } from '../runner/index.ts';
import type { DreamJob, RunnableJob } from './job.ts';
import type { JobBody, JobContext } from './job-kind.ts';
import { imageNetClassName } from './class-names.ts';
import { recipeEmbed } from './recipe-embed.ts';
import { progressView, resultRow, wordsFor } from './views.ts';

type DreamRun = RunnableJob & { data: DreamJob };

/** Dreams a job's picture (one retry at 3/4 of the size after a backend error) and builds its result view. */
export async function dreamView(p: JobContext, job: DreamRun, input: RgbImage, signal: AbortSignal, log: Logger, guide?: RgbImage): Promise<JobBody> {
  const started = Date.now();
  const { params, source } = job.data;
  let retried = false;
  // The guide's pixels join the params here only: the job's data stays JSON.
  const runParams: DreamParams = guide && job.data.guide ? { ...params, guide: { image: guide, layer: job.data.guideLayer } } : params;
  const result = await dreamWithRetry(p, job, input, runParams, signal, log, () => (retried = true));
  const seconds = (Date.now() - started) / 1000;
  const fitted = await encodeToFit(result, p.uploadBudget(job), 'png');
  const name = `dream-${params.seed}.${fitted.format === 'jpeg' ? 'jpg' : fitted.format}`;
  const t = wordsFor(job.data.reply);
  const targetName = params.target !== undefined && !params.style ? await imageNetClassName(t, params.target) : undefined;
  const embed = recipeEmbed(t, { model: p.deps.modelName, targetName, params, width: fitted.width, height: fitted.height, backend: p.deps.runner.backend.name, seconds }, source.url, name, job.data.guide && { url: job.data.guide.url, layer: job.data.guideLayer });
  log.info({ bytes: fitted.buffer.length }, 'dream encoded');
  return { view: { content: t.ready.dream(`<@${job.userId}>`), embeds: [embed], files: [{ name, data: fitted.buffer }], components: [resultRow(t)] }, retried };
}

/** A backend error (out of memory, a failed kernel) gets one more try at 3/4 of the size; the rest is final. */
async function dreamWithRetry(p: JobContext, job: DreamRun, image: RgbImage, params: DreamParams, signal: AbortSignal, log: Logger, onRetry: () => void): Promise<RgbImage> {
  const { deps } = p;
  let lastStep = 0;
  const onProgress = (progress: DreamProgress) => {
    deps.onStep?.(Math.max(0, progress.elapsedMs - lastStep) / 1000);
    lastStep = progress.elapsedMs;
    showProgress(p, job, progress);
  };
  const run = (img: RgbImage) => deps.runner.run({ image: img, params, previews: true }, { signal, onProgress });
  try {
    return await run(image);
  } catch (err) {
    if (err instanceof CancelledError || isUserError(err) || err instanceof WorkerCrashedError || signal.aborted) throw err;
    const side = Math.max(deps.minSide, Math.round(Math.max(image.width, image.height) * 0.75));
    const smaller = await shrinkImage(image, side);
    log.warn({ err, width: smaller.width, height: smaller.height }, 'dream failed on the backend; retrying once at a smaller size');
    onRetry();
    lastStep = 0;
    return await run(smaller);
  }
}

/** Progress text every step (throttled); at the end of an octave, a preview of the image so far. */
function showProgress(p: JobContext, job: DreamRun, progress: DreamProgress): void {
  const editor = p.deps.messages.editor(job);
  const t = wordsFor(job.data.reply);
  if (!progress.preview) return editor.update(progressView(t, job.id, progress));
  encodeImage(progress.preview, 'jpeg', { quality: 70 }).then(
    (jpeg) => editor.update(progressView(t, job.id, progress, jpeg), true),
    () => editor.update(progressView(t, job.id, progress)),
  );
}
