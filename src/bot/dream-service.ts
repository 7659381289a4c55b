import type { REST } from 'discord.js';
import type { Logger } from 'pino';
import type { BotConfig } from '../config.ts';
import { DreamParamsError } from '../engine/dream.ts';
import { loadManifest, ModelError, type ModelManifest } from '../engine/model/manifest.ts';
import { listStyles, resolveStyleTarget } from '../engine/style/index.ts';
import { resolveParams, type RecipeOverrides } from '../engine/presets.ts';
import { ImageInputError, readImage } from '../imaging/index.ts';
import type { JobDriver } from '../queue/job-driver.ts';
import { downloadImage, precheck, type ImageRef } from './image-source.ts';
import type { BotMetrics } from './metrics.ts';
import { RestReplyTarget, type ReplyAddress } from './reply-target.ts';
import { refusalText } from './status-messages.ts';

export interface DreamRequest {
  userId: string;
  source: ImageRef;
  overrides: RecipeOverrides;
  reply: ReplyAddress;
}

export interface DreamServiceDeps {
  config: BotConfig;
  driver: JobDriver;
  manifest: ModelManifest;
  log: Logger;
  rest: REST;
  metrics?: BotMetrics;
  /** Longest side the input is decoded at (the engine's default for its backend). */
  maxSide: number;
}

/** The bot's side of a request: validate, download and decode (to refuse bad files at once), then queue. */
export class DreamService {
  private readonly active = new Set<Promise<void>>();

  constructor(private readonly deps: DreamServiceDeps) {}

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
    return this.deps.driver.cancel(jobId, userId);
  }

  /** Checks a requested style and class: installed, built on this bot's model, and the class is one of its own. */
  private async resolveStyle(o: RecipeOverrides): Promise<{ style?: string; target?: string }> {
    if (!o.style) return {};
    const installed = await listStyles();
    const names = installed.map((s) => s.name);
    const known = `Installed styles: ${names.length ? names.join(', ') : 'none yet (train one with npm run train)'}.`;
    if (!names.includes(o.style)) throw new DreamParamsError(`There is no style "${o.style}". ${known}`);
    let style: ModelManifest;
    try {
      style = await loadManifest(o.style);
    } catch (err) {
      if (err instanceof ModelError) throw new DreamParamsError(`The style "${o.style}" cannot be loaded. ${known}`);
      throw err;
    }
    if (style.style?.trunk !== this.deps.manifest.name) throw new DreamParamsError(`The style "${o.style}" was trained on another model than ${this.deps.manifest.name}.`);
    return resolveStyleTarget(style, o.target);
  }

  private async process(req: DreamRequest): Promise<void> {
    const { config, driver, manifest, log, metrics } = this.deps;
    const target = new RestReplyTarget(this.deps.rest, req.reply);
    const refuse = (sentence: string) => {
      metrics?.jobs.inc({ outcome: 'refused' });
      return target.refuse(sentence);
    };
    const jobLog = log.child({ user: req.userId, source: req.source.filename });
    try {
      const early = precheck(req.source, config);
      if (early) return await refuse(early);
      const params = resolveParams(manifest, { ...req.overrides, ...(await this.resolveStyle(req.overrides)) });
      const bytes = await downloadImage(req.source, config);
      const image = await readImage(bytes, { maxSide: this.deps.maxSide, maxInputPixels: config.maxInputPixels });
      const result = await driver.enqueue({ spec: { userId: req.userId, source: req.source, params, reply: req.reply }, image });
      if (!result.ok) return await refuse(refusalText(result.refusal));
      jobLog.info({ job: result.jobId, params, width: image.width, height: image.height, position: result.position, driver: driver.name }, 'dream queued');
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
