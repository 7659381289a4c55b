import type { Logger } from 'pino';
import { DEFAULT_MAX_SIDE, type BotConfig } from '../config.ts';
import type { BackendInfo } from '../engine/backend.ts';
import { DreamCancelledError, DreamParamsError, type DreamParams, type DreamProgress } from '../engine/dream.ts';
import type { ModelManifest } from '../engine/model/manifest.ts';
import type { Intensity } from '../engine/presets.ts';
import { encodeImage, encodeToFit, readImage, shrinkImage, type RgbImage } from '../imaging/index.ts';
import { WorkerCrashedError, type DreamInput, type DreamRunCallbacks } from '../queue/worker-pool.ts';
import { downloadImage, type ImageRef } from './image-source.ts';
import type { BotMetrics } from './metrics.ts';
import { recipeEmbed } from './recipe-embed.ts';
import type { ReplyAddress } from './reply-target.ts';
import type { StatusEditor } from './status-editor.ts';
import { END_TEXT, endView, progressView, resultRow } from './status-messages.ts';

/** Runs dreams off the main thread (the worker pool). */
export interface DreamRunner {
  readonly backend: BackendInfo;
  run(input: DreamInput, opts?: DreamRunCallbacks): Promise<RgbImage>;
}

/** A dream job as data: everything needed to finish it, in this process or in a queue worker. */
export interface DreamJobSpec {
  jobId: string;
  userId: string;
  source: ImageRef;
  params: DreamParams & { intensity: Intensity };
  reply: ReplyAddress;
}

export type RunOutcome = 'done' | 'failed' | 'cancelled';

export interface ProcessorDeps {
  config: Pick<BotConfig, 'maxSide' | 'maxInputPixels' | 'attachmentUrlPrefixes' | 'maxInputBytes' | 'downloadTimeoutMs'>;
  runner: DreamRunner;
  manifest: ModelManifest;
  log: Logger;
  metrics?: BotMetrics;
}

/** The running part of a job: dream (with one retry at a smaller size), show progress, post the result. */
export class JobProcessor {
  constructor(private readonly deps: ProcessorDeps) {}

  /** Downloads and decodes a job's input within the rules; throws ImageInputError sentences. */
  async decode(source: ImageRef, signal?: AbortSignal): Promise<RgbImage> {
    const { config, runner } = this.deps;
    const bytes = await downloadImage(source, config, signal);
    return readImage(bytes, { maxSide: config.maxSide ?? DEFAULT_MAX_SIDE[runner.backend.name], maxInputPixels: config.maxInputPixels });
  }

  /** Never throws: every ending is shown on the job's message and returned. */
  async run(spec: DreamJobSpec, editor: StatusEditor, signal: AbortSignal, image?: RgbImage): Promise<RunOutcome> {
    const log = this.deps.log.child({ job: spec.jobId, user: spec.userId });
    const started = Date.now();
    try {
      const input = image ?? (await this.decode(spec.source, signal));
      const result = await this.dreamWithRetry(input, spec, editor, signal, log);
      const seconds = (Date.now() - started) / 1000;
      const limit = editor.target.uploadLimit;
      // Leave room for the multipart envelope and the embed.
      const fitted = await encodeToFit(result, Math.max(limit - 64 * 1024, Math.floor(limit * 0.9)), 'png');
      const name = `dream-${spec.params.seed}.${fitted.format === 'jpeg' ? 'jpg' : fitted.format}`;
      const embed = recipeEmbed(
        { model: this.deps.manifest.name, params: spec.params, width: fitted.width, height: fitted.height, backend: this.deps.runner.backend.name, seconds },
        spec.source.url,
        name,
      );
      await editor.finish({ content: `<@${spec.userId}>, your dream is ready.`, embeds: [embed], files: [{ name, data: fitted.buffer }], components: [resultRow()] });
      log.info({ seconds, bytes: fitted.buffer.length, outcome: 'done' }, 'dream posted');
      this.deps.metrics?.jobs.inc({ outcome: 'done' });
      this.deps.metrics?.jobDuration.observe(seconds);
      return 'done';
    } catch (err) {
      const cancelled = err instanceof DreamCancelledError || signal.aborted;
      if (cancelled) log.info({ outcome: 'cancelled' }, 'dream ended');
      else log.error({ err, outcome: 'failed' }, 'dream failed');
      this.deps.metrics?.jobs.inc({ outcome: cancelled ? 'cancelled' : 'failed' });
      const text = cancelled ? END_TEXT.cancelled : err instanceof WorkerCrashedError ? END_TEXT.crashed : err instanceof Error && err.name === 'ImageInputError' ? `⚠️ ${err.message}` : END_TEXT.failed;
      await editor.finish(endView(text));
      return cancelled ? 'cancelled' : 'failed';
    }
  }

  /** A backend error (out of memory, a failed kernel) gets one more try at 3/4 of the size; the rest is final. */
  private async dreamWithRetry(image: RgbImage, spec: DreamJobSpec, editor: StatusEditor, signal: AbortSignal, log: Logger): Promise<RgbImage> {
    let lastStep = 0;
    const onProgress = (p: DreamProgress) => {
      this.deps.metrics?.stepSeconds.observe(Math.max(0, p.elapsedMs - lastStep) / 1000);
      lastStep = p.elapsedMs;
      this.showProgress(editor, spec.jobId, p);
    };
    const run = (img: RgbImage) => this.deps.runner.run({ image: img, params: spec.params, previews: true }, { signal, onProgress });
    try {
      return await run(image);
    } catch (err) {
      if (err instanceof DreamCancelledError || err instanceof DreamParamsError || err instanceof WorkerCrashedError || signal.aborted) throw err;
      const side = Math.max(this.deps.manifest.input.minSide, Math.round(Math.max(image.width, image.height) * 0.75));
      const smaller = await shrinkImage(image, side);
      log.warn({ err, width: smaller.width, height: smaller.height }, 'dream failed on the backend; retrying once at a smaller size');
      this.deps.metrics?.retries.inc();
      lastStep = 0;
      return await run(smaller);
    }
  }

  /** Progress text every step (throttled); at the end of an octave, a preview of the image so far. */
  private showProgress(editor: StatusEditor, jobId: string, p: DreamProgress): void {
    if (!p.preview) return editor.update(progressView(jobId, p));
    encodeImage(p.preview, 'jpeg', { quality: 70 }).then(
      (jpeg) => editor.update(progressView(jobId, p, jpeg), true),
      () => editor.update(progressView(jobId, p)),
    );
  }
}
