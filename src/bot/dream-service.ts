import type { REST } from 'discord.js';
import type { Logger } from 'pino';
import type { BotConfig } from '../config.ts';
import { DreamCancelledError, DreamParamsError } from '../engine/dream.ts';
import type { ModelManifest } from '../engine/model/manifest.ts';
import { resolveParams, type RecipeOverrides } from '../engine/presets.ts';
import { ImageInputError } from '../imaging/index.ts';
import { QueueClosedError, type DreamQueue } from '../queue/dream-queue.ts';
import { precheck, type ImageRef } from './image-source.ts';
import { JobProcessor, type DreamRunner } from './job-processor.ts';
import type { BotMetrics } from './metrics.ts';
import { RestReplyTarget, type ReplyAddress } from './reply-target.ts';
import { StatusEditor } from './status-editor.ts';
import { endView, refusalText, waitingView } from './status-messages.ts';

export type { DreamRunner } from './job-processor.ts';

export interface DreamRequest {
  userId: string;
  source: ImageRef;
  overrides: RecipeOverrides;
  reply: ReplyAddress;
}

export interface DreamServiceDeps {
  config: BotConfig;
  queue: DreamQueue;
  runner: DreamRunner;
  manifest: ModelManifest;
  log: Logger;
  rest: REST;
  metrics?: BotMetrics;
}

/** The bot's side of a request: validate, download, queue, and hand the running job to the processor. */
export class DreamService {
  private readonly active = new Set<Promise<void>>();
  private readonly processor: JobProcessor;

  constructor(private readonly deps: DreamServiceDeps) {
    this.processor = new JobProcessor(deps);
  }

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

  private async process(req: DreamRequest): Promise<void> {
    const { config, queue, manifest, log, metrics } = this.deps;
    const target = new RestReplyTarget(this.deps.rest, req.reply);
    const refuse = (sentence: string) => {
      metrics?.jobs.inc({ outcome: 'refused' });
      return target.refuse(sentence);
    };
    const jobLog = log.child({ user: req.userId, source: req.source.filename });
    try {
      const early = precheck(req.source, config);
      if (early) return await refuse(early);
      const params = resolveParams(manifest, req.overrides);
      // Decode before queueing: a file that is not an image is refused at once, privately.
      const image = await this.processor.decode(req.source);

      const editor = new StatusEditor(target, jobLog);
      let jobId = '';
      let started = false;
      const submission = queue.submit(
        req.userId,
        (signal) => {
          started = true;
          return this.processor.run({ jobId, userId: req.userId, source: req.source, params, reply: req.reply }, editor, signal, image);
        },
        { onPosition: (position, eta) => editor.update(waitingView(jobId, position, eta)) },
      );
      if (!submission.ok) return await refuse(refusalText(submission.refusal));
      jobId = submission.jobId;
      jobLog.info({ job: jobId, params, width: image.width, height: image.height, position: submission.position }, 'dream queued');
      editor.update(waitingView(jobId, submission.position, submission.etaSeconds), true);
      try {
        await submission.done;
      } catch (err) {
        // Endings while waiting (a running job's endings are shown by the processor).
        if (started && err instanceof DreamCancelledError) return;
        const outcome = err instanceof QueueClosedError ? 'not_run' : 'cancelled';
        metrics?.jobs.inc({ outcome });
        jobLog.info({ job: jobId, outcome }, 'dream ended before it ran');
        await editor.finish(endView(err instanceof QueueClosedError ? `⚠️ ${err.message}` : '🚫 Cancelled.'));
      }
    } catch (err) {
      if (err instanceof ImageInputError || err instanceof DreamParamsError) {
        await refuse(err.message).catch((e: Error) => jobLog.warn({ err: e }, 'could not send a refusal'));
        return;
      }
      jobLog.error({ err }, 'dream request failed');
      metrics?.jobs.inc({ outcome: 'failed' });
      await target.refuse('Something went wrong with that request. Please try again.').catch(() => undefined);
    }
  }
}
