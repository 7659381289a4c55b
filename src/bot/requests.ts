import type { REST } from 'discord.js';
import type { Logger } from 'pino';
import type { BotConfig } from '../config.ts';
import { isUserError } from '../errors.ts';
import { resolveParams, resolveStyle, type ModelManifest, type RecipeOverrides } from '../engine/index.ts';
import { readImage, type RgbImage } from '../imaging/index.ts';
import { downloadImage, RestReplyTarget, type DreamJob, type ImageRef, type ReplyAddress } from '../jobs/index.ts';
import type { JobQueue, Refusal } from '../queue/index.ts';
import type { BotMetrics } from './metrics.ts';

export interface DreamRequest {
  userId: string;
  source: ImageRef;
  overrides: RecipeOverrides;
  reply: ReplyAddress;
}

export interface DreamRequestsDeps {
  config: BotConfig;
  queue: JobQueue<DreamJob, RgbImage>;
  manifest: ModelManifest;
  log: Logger;
  rest: REST;
  metrics?: BotMetrics;
  /** Longest side the input is decoded at (the engine's default for the runner's backend). */
  maxSide: number;
}

export function refusalText(r: Refusal): string {
  switch (r.kind) {
    case 'queue_full':
      return `The queue is full (${r.waiting} waiting); try again in ~${Math.max(1, Math.round(r.etaSeconds / 60))} min.`;
    case 'user_limit':
      return `You already have ${r.limit} dream${r.limit > 1 ? 's' : ''} in the queue; wait for one to finish.`;
    case 'closed':
      return 'The bot is restarting and not taking dreams right now; try again in a minute.';
  }
}

/** The bot's side of a request: resolve the recipe, download and decode (to refuse bad files at once), then queue. */
export class DreamRequests {
  private readonly active = new Set<Promise<void>>();

  constructor(private readonly deps: DreamRequestsDeps) {}

  /** Handles a request whose interaction (if any) is already acknowledged. Never throws. */
  handle(req: DreamRequest): Promise<void> {
    const run = this.process(req).finally(() => this.active.delete(run));
    this.active.add(run);
    return run;
  }

  /** Resolves when every request being taken in has been queued or refused (used at shutdown). */
  async settled(): Promise<void> {
    while (this.active.size) await Promise.allSettled([...this.active]);
  }

  cancel(jobId: string, userId: string): Promise<'cancelled' | 'not_owner' | 'gone'> {
    return this.deps.queue.cancel(jobId, userId);
  }

  private async process(req: DreamRequest): Promise<void> {
    const { config, queue, manifest, log, metrics } = this.deps;
    const target = new RestReplyTarget(this.deps.rest, req.reply);
    const refuse = (sentence: string) => {
      metrics?.count('refused');
      return target.refuse(sentence);
    };
    const jobLog = log.child({ user: req.userId, source: req.source.filename });
    try {
      const style = await resolveStyle(manifest, req.overrides.style, req.overrides.target, { stylesDir: config.stylesDir });
      const params = resolveParams(manifest, { ...req.overrides, ...style });
      // The download checks the host, announced size and type before fetching a byte.
      const image = await readImage(await downloadImage(req.source, config), { maxSide: this.deps.maxSide, maxInputPixels: config.maxInputPixels });
      const result = await queue.submit({ userId: req.userId, data: { source: req.source, params, reply: req.reply }, local: image });
      if (!result.ok) return await refuse(refusalText(result.refusal));
      jobLog.info({ job: result.jobId, params, width: image.width, height: image.height, position: result.position, queue: queue.name }, 'dream queued');
    } catch (err) {
      if (isUserError(err)) {
        await refuse(err.message).catch((e: Error) => jobLog.warn({ err: e }, 'could not send a refusal'));
        return;
      }
      jobLog.error({ err }, 'dream request failed');
      metrics?.count('failed');
      await target.refuse('Something went wrong with that request. Please try again.').catch(() => undefined);
    }
  }
}
