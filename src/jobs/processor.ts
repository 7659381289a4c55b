import type { Logger } from 'pino';
import { CancelledError, isUserError, type UserError } from '../errors.ts';
import { GUIDE_MAX_SIDE } from '../engine/light.ts';
import { errorText } from '../i18n/index.ts';
import { readImage, type RgbImage } from '../imaging/index.ts';
import { WorkerCrashedError, type DreamRunner } from '../runner/index.ts';
import { downloadImage, type DownloadRules, type ImageRef } from './image-source.ts';
import { decodeSidesOf, sourcesOf, type JobData, type JobOutcome, type JobResult, type RunnableJob } from './job.ts';
import type { JobContext, JobKind, JobKindName, JobKinds } from './job-kind.ts';
import type { JobMessages } from './job-messages.ts';
import { endView, withDelete, wordsFor } from './views.ts';

export interface JobProcessorDeps {
  messages: JobMessages;
  runner: DreamRunner;
  log: Logger;
  /** Name shown in dream recipes. */
  modelName: string;
  /** The smallest side the model accepts (a retry never shrinks below it). */
  minSide: number;
  /** Download rules, and the size inputs are decoded at. */
  input: DownloadRules & { maxSide: number; maxInputPixels: number };
  /** Seconds per dream step, as they happen (metrics). */
  onStep?: (seconds: number) => void;
  /** What to do with inputs screened as explicit outside age-restricted channels (NSFW_POLICY, NSFW_THRESHOLD). */
  safety: { policy: 'block' | 'spoiler' | 'off'; threshold: number };
  /** Told once a job has ended and its ending is shown (the history); its failure is logged, never the job's. */
  onEnded?: (job: RunnableJob, result: JobResult) => Promise<void>;
}

/**
 * One job from accepted to posted, over Discord's REST API only (no gateway): the processor the queue runs, for
 * every kind of job it is handed (src/jobs/kinds.ts). The bot process (memory queue) and `npm run worker` (Redis)
 * use it the same way.
 */
export class JobProcessor implements JobContext {
  constructor(
    readonly deps: JobProcessorDeps,
    private readonly kinds: JobKinds,
  ) {}

  /** Runs a job and shows every ending on its message, then reports it (onEnded). Never throws. */
  process = async (job: RunnableJob, signal: AbortSignal): Promise<JobResult> => {
    const result = await this.run(job, signal);
    await this.deps.onEnded?.(job, result).catch((err: Error) => this.deps.log.warn({ err, job: job.id }, 'could not record how a job ended'));
    return result;
  };

  private run = async (job: RunnableJob, signal: AbortSignal): Promise<JobResult> => {
    const log = this.deps.log.child({ job: job.id, user: job.userId, kind: job.data.kind ?? 'dream' });
    const started = Date.now();
    const t = wordsFor(job.data.reply);
    let retried = false;
    try {
      if (signal.aborted) throw new CancelledError();
      const kind = this.kindOf(job.data);
      const sides = decodeSidesOf(job.data, this.deps.input.maxSide, GUIDE_MAX_SIDE);
      const inputs = job.local ?? (kind.read ? await kind.read(this, job, signal) : await Promise.all(sourcesOf(job.data).map((s, i) => this.decode(s, sides[i], signal))));
      // Screened before any dream work; age-restricted channels are not screened.
      const screen = await this.screen(job, kind.screened?.(inputs) ?? inputs, signal, log);
      if (screen === 'refuse') {
        await this.deps.messages.refuse(job, t.refusals.nsfw);
        return { outcome: 'refused', reason: 'nsfw' };
      }
      if (screen === 'spoiler') this.deps.messages.spoiler(job);
      const body = await kind.run(this, job, inputs, signal, log);
      retried = body.retried ?? false;
      const seconds = (Date.now() - started) / 1000;
      // Every result, whatever its kind, can be deleted by its requester (or a moderator).
      await this.deps.messages.finish(job, withDelete(t, body.view, job.userId));
      log.info({ seconds, outcome: 'done' }, 'job posted');
      return { outcome: 'done', seconds, retried };
    } catch (err) {
      const outcome: JobOutcome = err instanceof CancelledError || signal.aborted ? 'cancelled' : isUserError(err) ? 'refused' : 'failed';
      if (outcome === 'failed') log.error({ err, outcome }, 'job failed');
      else log.info({ outcome, reason: outcome === 'refused' ? (err as Error).message : undefined }, 'job ended');
      const text = outcome === 'cancelled' ? t.end.cancelled : outcome === 'refused' ? t.refusedJob(errorText(t, err as UserError)) : err instanceof WorkerCrashedError ? t.end.crashed : t.end.failed;
      await this.deps.messages.finish(job, endView(text)).catch((e: Error) => log.warn({ err: e }, 'could not show how a job ended'));
      return { outcome, retried };
    }
  };

  /**
   * The safety policy for a job's pictures outside age-restricted channels: `pass`, or what to do with an input that
   * nsfwjs scores at or above the threshold. Only the scores are logged, never the picture.
   */
  private async screen(job: RunnableJob, inputs: RgbImage[], signal: AbortSignal, log: Logger): Promise<'pass' | 'refuse' | 'spoiler'> {
    // The server's /settings policy, fixed when the job was accepted, else the deployment's.
    const policy = job.data.reply.terms?.nsfwPolicy ?? this.deps.safety.policy;
    const { threshold } = this.deps.safety;
    if (policy === 'off' || job.data.reply.ageRestricted) return 'pass';
    const results = await this.deps.runner.screen(inputs, { signal });
    const explicit = Math.max(...results.map((r) => r.explicit));
    if (explicit < threshold) return 'pass';
    log.info({ explicit: Math.round(explicit * 1000) / 1000, threshold, policy }, 'input screened as explicit');
    return policy === 'block' ? 'refuse' : 'spoiler';
  }

  /** The largest upload a job's message takes, less room for the multipart envelope and the embed. */
  uploadBudget(job: RunnableJob): number {
    const limit = this.deps.messages.editor(job).target.uploadLimit;
    return Math.max(limit - 64 * 1024, Math.floor(limit * 0.9));
  }

  /** The job's kind, from the registry: its name picks both the entry and the shape of its data. */
  private kindOf(data: JobData): JobKind<JobKindName> {
    return this.kinds[data.kind ?? 'dream'] as unknown as JobKind<JobKindName>;
  }

  /** A source's bytes within the download rules (host, size, type, timeout). */
  download(source: ImageRef, signal: AbortSignal): Promise<Buffer> {
    return downloadImage(source, this.deps.input, signal);
  }

  /** Downloads and decodes an input within the rules; throws ImageInputError sentences. */
  private async decode(source: ImageRef, maxSide: number, signal: AbortSignal): Promise<RgbImage> {
    const { input } = this.deps;
    return readImage(await this.download(source, signal), { maxSide, maxInputPixels: input.maxInputPixels });
  }
}
