import { AttachmentBuilder } from 'discord.js';
import type { Logger } from 'pino';
import type { BotConfig } from '../config.ts';
import { DEFAULT_MAX_SIDE } from '../config.ts';
import type { BackendInfo } from '../engine/backend.ts';
import { DreamCancelledError, DreamParamsError, type DreamParams, type DreamProgress } from '../engine/dream.ts';
import type { ModelManifest } from '../engine/model/manifest.ts';
import { resolveParams, type RecipeOverrides } from '../engine/presets.ts';
import { encodeImage, encodeToFit, ImageInputError, readImage, shrinkImage, type RgbImage } from '../imaging/index.ts';
import { QueueClosedError, type DreamQueue } from '../queue/dream-queue.ts';
import { WorkerCrashedError, type DreamInput, type DreamRunCallbacks } from '../queue/worker-pool.ts';
import { downloadImage, precheck, type ImageRef } from './image-source.ts';
import type { BotMetrics } from './metrics.ts';
import { recipeEmbed } from './recipe-embed.ts';
import type { ReplyTarget, StatusView } from './reply-target.ts';
import { cancelRow, progressText, refusalText, resultRow, waitingText } from './status-messages.ts';

/** Runs dreams off the main thread (the worker pool). */
export interface DreamRunner {
  readonly backend: BackendInfo;
  run(input: DreamInput, opts?: DreamRunCallbacks): Promise<RgbImage>;
}

export interface DreamRequest {
  userId: string;
  source: ImageRef;
  overrides: RecipeOverrides;
  target: ReplyTarget;
}

/** Progress edits at most this often (Discord rate-limits message edits). */
const EDIT_INTERVAL_MS = 2000;

/**
 * Serialises a job's message edits and drops stale ones: at most one edit per interval, always the latest,
 * and a final view that nothing queued before it can overwrite.
 */
class StatusEditor {
  private chain: Promise<void> = Promise.resolve();
  private pending: StatusView | null = null;
  private timer: NodeJS.Timeout | null = null;
  private last = 0;
  private finished = false;

  constructor(
    private readonly target: ReplyTarget,
    private readonly log: Logger,
  ) {}

  update(view: StatusView, urgent = false): void {
    if (this.finished) return;
    this.pending = view;
    const wait = urgent ? 0 : Math.max(0, this.last + EDIT_INTERVAL_MS - Date.now());
    if (this.timer && !urgent) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), wait);
  }

  private flush(): void {
    this.timer = null;
    const view = this.pending;
    this.pending = null;
    if (!view || this.finished) return;
    this.last = Date.now();
    this.enqueue(() => this.target.show(view));
  }

  private enqueue(edit: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(edit).catch((err: Error) => this.log.warn({ err }, 'could not update a dream message'));
    return this.chain;
  }

  /** The last word: cancels pending progress, then shows `view` (or runs `final`). */
  finish(final: () => Promise<void>): Promise<void> {
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = null;
    return this.enqueue(final);
  }
}

/** The job side of the bot: validate, download, queue, run in a worker, report progress, post the result. */
export class DreamService {
  private readonly active = new Set<Promise<void>>();

  constructor(
    private readonly deps: { config: BotConfig; queue: DreamQueue; runner: DreamRunner; manifest: ModelManifest; log: Logger; metrics?: BotMetrics },
  ) {}

  /** Handles a request whose interaction (if any) is already acknowledged. Never throws. */
  handle(req: DreamRequest): Promise<void> {
    const run = this.process(req).finally(() => this.active.delete(run));
    this.active.add(run);
    return run;
  }

  /** Resolves when every request being handled has settled (used at shutdown). */
  async settled(): Promise<void> {
    while (this.active.size) await Promise.allSettled([...this.active]);
  }

  cancel(jobId: string, userId: string): 'cancelled' | 'not_owner' | 'gone' {
    const owner = this.deps.queue.ownerOf(jobId);
    if (!owner) return 'gone';
    if (owner !== userId) return 'not_owner';
    return this.deps.queue.cancel(jobId) ? 'cancelled' : 'gone';
  }

  ownerOf(jobId: string): string | undefined {
    return this.deps.queue.ownerOf(jobId);
  }

  private maxSide(): number {
    return this.deps.config.maxSide ?? DEFAULT_MAX_SIDE[this.deps.runner.backend.name];
  }

  private async process(req: DreamRequest): Promise<void> {
    const { config, queue, runner, manifest, log } = this.deps;
    const jobLog = log.child({ user: req.userId, source: req.source.filename });
    try {
      const early = precheck(req.source, config);
      if (early) return await this.refuse(req, early);
      const params = resolveParams(manifest, req.overrides);
      const bytes = await downloadImage(req.source, config);
      const image = await readImage(bytes, { maxSide: this.maxSide(), maxInputPixels: config.maxInputPixels });

      const editor = new StatusEditor(req.target, jobLog);
      let jobId = '';
      const started = { at: 0 };
      const submission = queue.submit(
        req.userId,
        (signal) => {
          started.at = Date.now();
          return this.runWithRetry(image, params, signal, (p) => this.showProgress(editor, p, jobId), jobLog);
        },
        { onPosition: (pos, eta) => editor.update({ content: waitingText(pos, eta), components: [cancelRow(jobId)] }) },
      );
      if (!submission.ok) return await this.refuse(req, refusalText(submission.refusal));
      jobId = submission.jobId;
      const log2 = jobLog.child({ job: jobId });
      log2.info({ params, width: image.width, height: image.height, position: submission.position }, 'dream queued');
      editor.update({ content: waitingText(submission.position, submission.etaSeconds), components: [cancelRow(jobId)] }, true);

      let result: RgbImage;
      try {
        result = await submission.done;
      } catch (err) {
        const outcome = err instanceof DreamCancelledError ? 'cancelled' : err instanceof QueueClosedError ? 'not_run' : 'failed';
        const message =
          err instanceof DreamCancelledError
            ? '🚫 Cancelled.'
            : err instanceof QueueClosedError
              ? `⚠️ ${err.message}`
              : err instanceof WorkerCrashedError
                ? '⚠️ The dream worker stopped unexpectedly while dreaming this image. Please try again.'
                : '⚠️ Something went wrong while dreaming this image, even at a smaller size. Please try again.';
        if (outcome === 'failed') log2.error({ err, outcome }, 'dream failed');
        else log2.info({ outcome }, 'dream ended');
        this.deps.metrics?.jobs.inc({ outcome });
        await editor.finish(() => req.target.show({ content: message, components: [], embeds: [], attachments: [] }, true));
        return;
      }
      const seconds = (Date.now() - started.at) / 1000;
      // Leave room for the multipart envelope and the embed.
      const budget = Math.max(req.target.uploadLimit - 64 * 1024, Math.floor(req.target.uploadLimit * 0.9));
      const fitted = await encodeToFit(result, budget, 'png');
      const name = `dream-${params.seed}.${fitted.format === 'jpeg' ? 'jpg' : fitted.format}`;
      const embed = recipeEmbed(
        { model: manifest.name, params, width: fitted.width, height: fitted.height, backend: runner.backend.name, seconds },
        req.source.url,
        name,
      );
      await editor.finish(() =>
        req.target.show({
          content: `<@${req.userId}>, your dream is ready.`,
          embeds: [embed],
          files: [new AttachmentBuilder(fitted.buffer, { name })],
          components: [resultRow()],
          attachments: [],
        }, true),
      );
      log2.info({ seconds, bytes: fitted.buffer.length, outcome: 'done' }, 'dream posted');
      this.deps.metrics?.jobs.inc({ outcome: 'done' });
      this.deps.metrics?.jobDuration.observe(seconds);
    } catch (err) {
      if (err instanceof ImageInputError || err instanceof DreamParamsError) {
        await this.refuse(req, err.message).catch((e: Error) => jobLog.warn({ err: e }, 'could not send a refusal'));
        return;
      }
      jobLog.error({ err }, 'dream request failed');
      this.deps.metrics?.jobs.inc({ outcome: 'failed' });
      await req.target.refuse('Something went wrong with that request. Please try again.').catch(() => undefined);
    }
  }

  private refuse(req: DreamRequest, sentence: string): Promise<void> {
    this.deps.metrics?.jobs.inc({ outcome: 'refused' });
    return req.target.refuse(sentence);
  }

  /**
   * Runs a dream in a worker; a backend error (out of memory, a failed kernel) gets one more try at 3/4 of the
   * size. Cancellation, bad parameters and a crashed worker are final.
   */
  private async runWithRetry(image: RgbImage, params: DreamParams, signal: AbortSignal, onProgress: (p: DreamProgress) => void, log: Logger): Promise<RgbImage> {
    let lastStep = 0;
    const progress = (p: DreamProgress) => {
      this.deps.metrics?.stepSeconds.observe(Math.max(0, p.elapsedMs - lastStep) / 1000);
      lastStep = p.elapsedMs;
      onProgress(p);
    };
    try {
      return await this.deps.runner.run({ image, params, previews: true }, { signal, onProgress: progress });
    } catch (err) {
      if (err instanceof DreamCancelledError || err instanceof DreamParamsError || err instanceof WorkerCrashedError || signal.aborted) throw err;
      const smaller = await shrinkImage(image, Math.max(this.deps.manifest.input.minSide, Math.round(Math.max(image.width, image.height) * 0.75)));
      log.warn({ err, width: smaller.width, height: smaller.height }, 'dream failed on the backend; retrying once at a smaller size');
      this.deps.metrics?.retries.inc();
      lastStep = 0;
      return await this.deps.runner.run({ image: smaller, params, previews: true }, { signal, onProgress: progress });
    }
  }

  /** Progress text every step (throttled); at the end of an octave, a preview of the image so far. */
  private showProgress(editor: StatusEditor, p: DreamProgress, jobId: string): void {
    const view: StatusView = { content: progressText(p), components: [cancelRow(jobId)] };
    if (!p.preview) return editor.update(view);
    encodeImage(p.preview, 'jpeg', { quality: 70 }).then(
      (jpeg) => editor.update({ ...view, files: [new AttachmentBuilder(jpeg, { name: 'preview.jpg' })], attachments: [] }, true),
      () => editor.update(view),
    );
  }
}
