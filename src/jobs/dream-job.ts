import type { REST } from 'discord.js';
import type { Logger } from 'pino';
import { CancelledError, isUserError } from '../errors.ts';
import type { DreamParams, DreamProgress, Intensity } from '../engine/index.ts';
import { encodeImage, encodeToFit, readImage, shrinkImage, type RgbImage } from '../imaging/index.ts';
import { WorkerCrashedError, type DreamRunner } from '../runner/index.ts';
import { downloadImage, type DownloadRules, type ImageRef } from './image-source.ts';
import { recipeEmbed } from './recipe-embed.ts';
import { RestReplyTarget, type JobView, type ReplyAddress } from './reply-target.ts';
import { StatusEditor } from './status-editor.ts';
import { END_TEXT, endView, progressView, resultRow, waitingView } from './views.ts';

/** A dream job as data (JSON): everything needed to finish it, in the bot process or in a queue worker. */
export interface DreamJob {
  source: ImageRef;
  params: DreamParams & { intensity: Intensity };
  reply: ReplyAddress;
}

/** A job as the queue hands it over: `local` is the decoded input when the requester's process runs it. */
export interface RunnableJob {
  id: string;
  userId: string;
  data: DreamJob;
  local?: RgbImage;
}

export type JobOutcome = 'done' | 'failed' | 'cancelled' | 'refused';

/** What a finished job reports (JSON, so it can come back through Redis). */
export interface JobResult {
  outcome: JobOutcome;
  /** Seconds from start to posted result, for finished dreams. */
  seconds?: number;
  /** The dream was retried once at a smaller size after a backend error. */
  retried?: boolean;
}

/** How a job ended without running; shown on its message. */
export type NotRunEnding = 'cancelled' | 'not_run' | 'failed';

export interface DreamJobsDeps {
  messages: JobMessages;
  runner: DreamRunner;
  log: Logger;
  /** Name shown in the recipe. */
  modelName: string;
  /** The smallest side the model accepts (a retry never shrinks below it). */
  minSide: number;
  /** Download rules, and the size the input is decoded at. */
  input: DownloadRules & { maxSide: number; maxInputPixels: number };
  /** Seconds per dream step, as they happen (metrics). */
  onStep?: (seconds: number) => void;
}

type JobRef = { id: string; data: DreamJob };

/**
 * The messages of the jobs this process shows: one status editor per job, so its edits stay in order, for the
 * waiting line (wherever the queue is), the run and the ending.
 */
export class JobMessages {
  private readonly editors = new Map<string, StatusEditor>();

  constructor(
    private readonly rest: REST,
    private readonly log: Logger,
  ) {}

  editor(job: JobRef): StatusEditor {
    let editor = this.editors.get(job.id);
    if (!editor) {
      editor = new StatusEditor(new RestReplyTarget(this.rest, job.data.reply), this.log);
      this.editors.set(job.id, editor);
    }
    return editor;
  }

  /** The job's last word; its editor is forgotten after it. */
  async finish(job: JobRef, view: JobView): Promise<void> {
    try {
      await this.editor(job).finish(view);
    } finally {
      this.editors.delete(job.id);
    }
  }

  /** Shows a waiting job's place in line; the first view is sent at once (a reply to a message gets its id). */
  showPosition = async (job: JobRef, position: number, etaSeconds: number, first: boolean): Promise<void> => {
    const view = waitingView(job.id, position, etaSeconds);
    if (first) await this.editor(job).show(view);
    else this.editor(job).update(view);
  };

  /** Shows how a job ended when it never ran (or its workers died): its processor could not say so itself. */
  showEnd = async (job: JobRef, ending: NotRunEnding): Promise<void> => {
    const text = ending === 'cancelled' ? END_TEXT.cancelled : ending === 'not_run' ? END_TEXT.notRun : END_TEXT.diedTwice;
    await this.finish(job, endView(text)).catch((err: Error) => this.log.warn({ err, job: job.id }, 'could not show how a job ended'));
  };
}

/**
 * One dream job from accepted to posted, over Discord's REST API only (no gateway): the processor the queue runs.
 * The bot process (memory queue) and `npm run worker` (Redis) use it alike.
 */
export class DreamJobs {
  constructor(private readonly deps: DreamJobsDeps) {}

  /** Runs a job and shows every ending on its message. Never throws. */
  process = async (job: RunnableJob, signal: AbortSignal): Promise<JobResult> => {
    const log = this.deps.log.child({ job: job.id, user: job.userId });
    const started = Date.now();
    const { params, source } = job.data;
    let retried = false;
    try {
      if (signal.aborted) throw new CancelledError();
      const input = job.local ?? (await this.decode(source, signal));
      const result = await this.dreamWithRetry(input, job, signal, log, () => (retried = true));
      const seconds = (Date.now() - started) / 1000;
      const editor = this.deps.messages.editor(job);
      const limit = editor.target.uploadLimit;
      // Leave room for the multipart envelope and the embed.
      const fitted = await encodeToFit(result, Math.max(limit - 64 * 1024, Math.floor(limit * 0.9)), 'png');
      const name = `dream-${params.seed}.${fitted.format === 'jpeg' ? 'jpg' : fitted.format}`;
      const embed = recipeEmbed(
        { model: this.deps.modelName, params, width: fitted.width, height: fitted.height, backend: this.deps.runner.backend.name, seconds },
        source.url,
        name,
      );
      await this.deps.messages.finish(job, { content: `<@${job.userId}>, your dream is ready.`, embeds: [embed], files: [{ name, data: fitted.buffer }], components: [resultRow()] });
      log.info({ seconds, bytes: fitted.buffer.length, outcome: 'done' }, 'dream posted');
      return { outcome: 'done', seconds, retried };
    } catch (err) {
      const outcome: JobOutcome = err instanceof CancelledError || signal.aborted ? 'cancelled' : isUserError(err) ? 'refused' : 'failed';
      if (outcome === 'failed') log.error({ err, outcome }, 'dream failed');
      else log.info({ outcome, reason: outcome === 'refused' ? (err as Error).message : undefined }, 'dream ended');
      const text = outcome === 'cancelled' ? END_TEXT.cancelled : outcome === 'refused' ? `⚠️ ${(err as Error).message}` : err instanceof WorkerCrashedError ? END_TEXT.crashed : END_TEXT.failed;
      await this.deps.messages.finish(job, endView(text)).catch((e: Error) => log.warn({ err: e }, 'could not show how a dream ended'));
      return { outcome, retried };
    }
  };

  /** Downloads and decodes a job's input within the rules; throws ImageInputError sentences. */
  private async decode(source: ImageRef, signal: AbortSignal): Promise<RgbImage> {
    const { input } = this.deps;
    return readImage(await downloadImage(source, input, signal), input);
  }

  /** A backend error (out of memory, a failed kernel) gets one more try at 3/4 of the size; the rest is final. */
  private async dreamWithRetry(image: RgbImage, job: RunnableJob, signal: AbortSignal, log: Logger, onRetry: () => void): Promise<RgbImage> {
    let lastStep = 0;
    const onProgress = (p: DreamProgress) => {
      this.deps.onStep?.(Math.max(0, p.elapsedMs - lastStep) / 1000);
      lastStep = p.elapsedMs;
      this.showProgress(job, p);
    };
    const run = (img: RgbImage) => this.deps.runner.run({ image: img, params: job.data.params, previews: true }, { signal, onProgress });
    try {
      return await run(image);
    } catch (err) {
      if (err instanceof CancelledError || isUserError(err) || err instanceof WorkerCrashedError || signal.aborted) throw err;
      const side = Math.max(this.deps.minSide, Math.round(Math.max(image.width, image.height) * 0.75));
      const smaller = await shrinkImage(image, side);
      log.warn({ err, width: smaller.width, height: smaller.height }, 'dream failed on the backend; retrying once at a smaller size');
      onRetry();
      lastStep = 0;
      return await run(smaller);
    }
  }

  /** Progress text every step (throttled); at the end of an octave, a preview of the image so far. */
  private showProgress(job: RunnableJob, p: DreamProgress): void {
    const editor = this.deps.messages.editor(job);
    if (!p.preview) return editor.update(progressView(job.id, p));
    encodeImage(p.preview, 'jpeg', { quality: 70 }).then(
      (jpeg) => editor.update(progressView(job.id, p, jpeg), true),
      () => editor.update(progressView(job.id, p)),
    );
  }
}
