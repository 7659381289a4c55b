import type { REST } from 'discord.js';
import type { Logger } from 'pino';
import type { BotConfig } from '../config.ts';
import { isUserError } from '../errors.ts';
import { errorText, messagesFor, type Catalog } from '../i18n/index.ts';
import {
  ANIMATION_DEFAULTS,
  checkExplainTarget,
  GUIDE_MAX_SIDE,
  guideLayerFor,
  isIntensity,
  loadManifest,
  resolveClass,
  resolveDreamModel,
  resolveParams,
  resolveStyle,
  resolveZoomParams,
  type Intensity,
  type ModelManifest,
  type RecipeOverrides,
  type ZoomOverrides,
} from '../engine/light.ts';
import { probeAnimation, readAnimation, readImage, type RgbImage } from '../imaging/index.ts';
import { animationJobOf, costOf, decodeSidesOf, downloadImage, RestReplyTarget, type ImageRef, type JobData, type ReplyAddress } from '../jobs/index.ts';
import type { JobQueue, Refusal } from '../queue/index.ts';
import type { RequestFacts } from '../store/index.ts';
import type { Community } from './community.ts';
import type { BotMetrics } from './metrics.ts';

export interface DreamRequest {
  userId: string;
  source: ImageRef;
  /** Pixels come from `source` (and `guide`), never from the overrides. */
  overrides: Omit<RecipeOverrides, 'guide'>;
  /** A guide picture that decides what grows (a guided dream). */
  guide?: ImageRef;
  reply: ReplyAddress;
}

export interface ZoomRequest {
  userId: string;
  source: ImageRef;
  overrides: Omit<ZoomOverrides, 'guide' | 'guideLayer'>;
  reply: ReplyAddress;
}

export interface ExplainRequest {
  userId: string;
  /** One picture, or [original, dream] (the Explain button on a dream). */
  sources: ImageRef[];
  /** A label to paint (checked before queueing). */
  target?: string;
  /** A trained style whose classes explain the picture. */
  style?: string;
  reply: ReplyAddress;
}

export interface DreamRequestsDeps {
  config: BotConfig;
  queue: JobQueue<JobData, RgbImage[]>;
  manifest: ModelManifest;
  log: Logger;
  rest: REST;
  metrics?: BotMetrics;
  /** Longest side the input is decoded at (the engine's default for the runner's backend). */
  maxSide: number;
  /** The server's rules (/settings), daily counts and history. */
  community: Community;
}

/** Why the queue said no, in the member's words; `unavailable`: the queue (Redis) cannot be reached right now. */
export function refusalText(t: Catalog, r: Refusal): string {
  switch (r.kind) {
    case 'queue_full':
      return t.refusals.queueFull(r.waiting, r.etaSeconds);
    case 'user_limit':
      return t.refusals.userLimit(r.limit);
    case 'closed':
      return t.refusals.closed;
    case 'unavailable':
      return t.refusals.unavailable;
  }
}

/** The bot's side of a request: resolve the recipe, download and decode (to refuse bad files at once), then queue. */
export class DreamRequests {
  private readonly active = new Set<Promise<void>>();

  constructor(private readonly deps: DreamRequestsDeps) {}

  /** Handles a dream request whose interaction (if any) is already acknowledged. Never throws. */
  handle(req: DreamRequest): Promise<void> {
    return this.track(
      this.intake(req, 'dream', async (defaults) => {
        const { manifest, grows } = await this.growth(req.overrides);
        const { guideLayer, ...chosen } = req.overrides;
        const overrides = { ...chosen, intensity: chosen.intensity ?? defaults.intensity };
        // The guide's pixels join the params on the worker; the job keeps its reference and its layer.
        const guide = req.guide ? { guide: req.guide, guideLayer: guideLayerFor(manifest, guideLayer) } : {};
        // Without a guide, a guide layer is passed on so that it is refused with the engine's sentence.
        // A guided dream's pixels come later: its soft default is a guided one's (off), not a class alone's.
        const guided = req.guide ? { soft: overrides.soft ?? false } : { guideLayer };
        const params = resolveParams(manifest, { ...overrides, ...guided, ...grows });
        const data: JobData = { kind: 'dream', source: req.source, params, ...guide, reply: req.reply };
        return { data, sources: req.guide ? [req.source, req.guide] : [req.source], details: { params, guided: Boolean(req.guide) } };
      }),
    );
  }

  /** Handles a zoom (endless-zoom animation) request the same way: recipe checked, picture decoded, then queued. */
  zoom(req: ZoomRequest): Promise<void> {
    return this.track(
      this.intake(req, 'zoom', async (defaults) => {
        const { manifest, grows } = await this.growth(req.overrides);
        const params = resolveZoomParams(manifest, { ...req.overrides, intensity: req.overrides.intensity ?? defaults.intensity, ...grows });
        const data: JobData = { kind: 'zoom', source: req.source, params, reply: req.reply };
        return { data, sources: [req.source], details: { params, cost: costOf(data) } };
      }),
    );
  }

  /** Handles an Explain request (one picture, or an original and its dream) the same way: checked, then queued. */
  explain(req: ExplainRequest): Promise<void> {
    return this.track(
      this.intake(req, 'explain', async () => {
        const { stylesDir } = this.deps.config;
        // A wrong target or style is refused now, with close matches, not after waiting in line.
        if (req.style) await resolveStyle(this.deps.manifest, req.style, undefined, { stylesDir });
        if (req.target !== undefined) await checkExplainTarget(req.target, req.style, { stylesDir });
        return { data: { kind: 'explain', sources: req.sources, target: req.target, style: req.style, reply: req.reply }, sources: req.sources, details: { target: req.target, style: req.style } };
      }),
    );
  }

  /**
   * The model a recipe dreams with (`model`, checked, else the bot's) and what it grows: a style's class, or an
   * ImageNet class named in any language, as the classifier's label (so the recipe reads back the same everywhere).
   */
  private async growth(o: Pick<RecipeOverrides, 'model' | 'style' | 'target'>): Promise<{ manifest: ModelManifest; grows: { style?: string; target?: string } }> {
    const { stylesDir } = this.deps.config;
    const manifest = o.model !== undefined && o.model !== this.deps.manifest.name ? await resolveDreamModel(o.model) : this.deps.manifest;
    const grows = await resolveClass(manifest, o.style, o.target, { stylesDir });
    // A fine-tuned style dreams on its own trunk: its layers (by default its blocks') are checked against it.
    if (grows.style !== undefined && o.model === undefined) {
      const style = await loadManifest(grows.style, { stylesDir });
      if (style.style?.fineTune) return { manifest: style, grows };
    }
    return { manifest, grows };
  }

  /** Resolves when every request being taken in has been queued or refused (used at shutdown). */
  async settled(): Promise<void> {
    while (this.active.size) await Promise.allSettled([...this.active]);
  }

  /** Cancels a member's job; `unavailable` when the queue cannot be reached (Redis down), said as for a request. */
  async cancel(jobId: string, userId: string): Promise<'cancelled' | 'not_owner' | 'gone' | 'unavailable'> {
    if (!this.deps.queue.connected()) return 'unavailable';
    try {
      return await this.deps.queue.cancel(jobId, userId);
    } catch (err) {
      if (this.deps.queue.connected()) throw err;
      this.deps.log.warn({ err, job: jobId }, 'could not cancel: the queue is unavailable');
      return 'unavailable';
    }
  }

  /**
   * A job's pictures decoded: a guide at GUIDE_MAX_SIDE, every other picture at the dream's size. An animated GIF or
   * WebP to dream becomes an animation job (its frames sampled, checked against the budgets from its header first);
   * Explain on one explains its first frame and says so.
   */
  private async decode(data: JobData, bytes: Buffer[]): Promise<{ data: JobData; images: RgbImage[] }> {
    const { config } = this.deps;
    const still = (b: Buffer, maxSide: number) => readImage(b, { maxSide, maxInputPixels: config.maxInputPixels });
    const header = data.kind === 'dream' ? await probeAnimation(bytes[0]) : undefined;
    if (data.kind === 'dream' && header) {
      const maxSide = Math.min(this.deps.maxSide, ANIMATION_DEFAULTS.maxSide);
      const anim = await readAnimation(bytes[0], header, { maxSide, maxInputPixels: config.maxInputPixels, maxFrames: config.maxAnimationFrames, maxPixels: config.maxAnimationPixels });
      const guide = bytes[1] ? [await still(bytes[1], GUIDE_MAX_SIDE)] : [];
      return { data: animationJobOf(data, header, { frames: anim.images.length, delays: anim.frameDelays }), images: [...anim.images, ...guide] };
    }
    const sides = decodeSidesOf(data, this.deps.maxSide, GUIDE_MAX_SIDE);
    const images = await Promise.all(bytes.map((b, i) => still(b, sides[i])));
    if (data.kind === 'explain' && (await Promise.all(bytes.map(probeAnimation))).some(Boolean)) return { data: { ...data, firstFrame: true }, images };
    return { data, images };
  }

  private track(run: Promise<void>): Promise<void> {
    const tracked = run.finally(() => this.active.delete(tracked));
    this.active.add(tracked);
    return tracked;
  }

  /**
   * The intake every request shares: the server's rules first (is this channel open?); `prepare` checks the request
   * and says what to queue (with the server's default intensity); the inputs are downloaded and decoded (a bad file
   * is refused at once, and in memory mode the worker gets the pixels); the member's day is counted (the daily
   * limit) and the request recorded; then it is submitted. Every refusal is one private sentence, counted.
   */
  private async intake(
    req: { userId: string; reply: ReplyAddress },
    what: 'dream' | 'explain' | 'zoom',
    prepare: (defaults: { intensity?: Intensity }) => Promise<{ data: JobData; sources: ImageRef[]; details: Record<string, unknown> }>,
  ): Promise<void> {
    const { config, queue, log, metrics, community } = this.deps;
    const target = new RestReplyTarget(this.deps.rest, req.reply);
    const t = messagesFor(req.reply.locale);
    // `unavailable` (the queue could not be reached) is counted apart from refusals of the request itself.
    const refuse = (sentence: string, outcome: 'refused' | 'unavailable' = 'refused') => {
      metrics?.count(outcome);
      return target.refuse(sentence);
    };
    const jobLog = log.child({ user: req.userId, kind: what });
    const facts = (recipe: unknown = null, cost = 1): RequestFacts => ({ guildId: req.reply.guildId ?? null, channelId: req.reply.channelId, userId: req.userId, kind: what, recipe, cost });
    let recorded: RequestFacts = facts();
    // An admitted request that is not queued after all is ended in its history and given back to the member's day.
    let unqueued: string | undefined;
    const giveBack = (reason: string) =>
      unqueued && community.store.endSurely(unqueued, { outcome: 'refused', reason, refund: true });
    try {
      const rules = await community.rulesFor(req.reply, t);
      if (!rules.ok) {
        if (rules.outcome === 'refused') community.refused(recorded, 'channel');
        return await refuse(rules.sentence, rules.outcome);
      }
      const intensity = rules.settings?.intensity;
      const prepared = await prepare({ intensity: intensity && isIntensity(intensity) ? intensity : undefined });
      // The download checks the host, announced size and type before fetching a byte.
      const bytes = await Promise.all(prepared.sources.map((s) => downloadImage(s, config)));
      // A guide is read at GUIDE_MAX_SIDE, every other picture at the dream's size; an animation frame by frame.
      const { data, images } = await this.decode(prepared.data, bytes);
      const details = data.kind === 'animation' ? { ...prepared.details, frames: data.frames, sourceFrames: data.sourceFrames, cost: costOf(data) } : prepared.details;
      recorded = { ...facts(details, costOf(data)), kind: data.kind ?? what };
      const admitted = await community.admit(recorded, rules.settings, t);
      if (!admitted.ok) return await refuse(admitted.sentence, admitted.outcome);
      data.reply.terms = admitted.terms;
      unqueued = admitted.terms.historyId;
      const result = await queue.submit({ userId: req.userId, data, local: images, cost: costOf(data) });
      if (!result.ok) {
        await giveBack(result.refusal.kind);
        return await refuse(refusalText(t, result.refusal), result.refusal.kind === 'unavailable' ? 'unavailable' : 'refused');
      }
      unqueued = undefined;
      jobLog.info({ job: result.jobId, ...details, sizes: images.map((im) => `${im.width}x${im.height}`), position: result.position, queue: queue.name, locale: req.reply.locale }, `${what} queued`);
    } catch (err) {
      if (isUserError(err)) {
        community.refused(recorded, err.detail?.code ?? err.kind);
        await refuse(errorText(t, err)).catch((e: Error) => jobLog.warn({ err: e }, 'could not send a refusal'));
        return;
      }
      jobLog.error({ err }, `${what} request failed`);
      await giveBack('request failed');
      metrics?.count('failed');
      await target.refuse(t.refusals.requestFailed).catch(() => undefined);
    }
  }
}
