import type { Server } from 'node:http';
import { DiscordAPIError, Events, REST, Routes, type Client } from 'discord.js';
import type { Logger } from 'pino';
import type { BotConfig } from '../config.ts';
import { UserError } from '../errors.ts';
import type { ModelManifest } from '../engine/index.ts';
import type { RgbImage } from '../imaging/index.ts';
import type { JobData } from '../jobs/index.ts';
import type { JobQueue, RedisTurns } from '../queue/index.ts';
import type { DreamRunner } from '../runner/index.ts';
import { createClient } from './client-options.ts';
import { loadCommands, type Commands } from './command-loader.ts';
import type { Community } from './community.ts';
import type { BotContext } from './context.ts';
import { failSafe, routeInteraction } from './events/interaction-create.ts';
import { handleMention } from './events/message-create.ts';
import { GatewayShards, type ShardState } from './gateway-shards.ts';
import { startHealthServer } from './health-server.ts';
import type { BotMetrics } from './metrics.ts';
import { DreamRequests } from './requests.ts';

/** Discord said no to the token: the one start-up failure a person must fix by hand. */
export class TokenRejectedError extends UserError {
  override name = 'TokenRejectedError';
  constructor() {
    super('Discord rejected DISCORD_TOKEN: check the bot token in your .env (Developer Portal > Bot > Reset Token).', 'config');
  }
}

/**
 * Asks Discord whose token this is before anything slow starts (the dream workers load the model first), so a
 * rejected token is reported in a moment. Any other answer, or none within 5 s, is left to the login, which retries
 * and reports it.
 */
export async function checkToken(config: Pick<BotConfig, 'token' | 'discordApi'>): Promise<void> {
  const rest = new REST({ retries: 0, timeout: 5000, ...(config.discordApi ? { api: config.discordApi } : {}) }).setToken(config.token);
  try {
    await rest.get(Routes.user('@me'));
  } catch (err) {
    if (err instanceof DiscordAPIError && err.status === 401) throw new TokenRejectedError();
  }
}

/** Discord closed an identify with 4011: this process asked for fewer shards than the bot's servers need. */
export class ShardingRequiredError extends UserError {
  override name = 'ShardingRequiredError';
  constructor(count: number | 'auto') {
    super(`Discord requires more shards than SHARD_COUNT=${count}: leave SHARD_COUNT unset (auto) or raise it to at least what Discord recommends (README, "Shards").`, 'config');
  }
}

/** What the bot is given: the composition root (src/bin) chooses the queue and the runner. */
export interface BotDeps {
  config: BotConfig;
  log: Logger;
  /** The REST client jobs and refusals answer through. */
  rest: REST;
  queue: JobQueue<JobData, RgbImage[]>;
  metrics: BotMetrics;
  /** The model dreams run with (recipes are resolved against it). */
  manifest: ModelManifest;
  /** Longest side inputs are decoded at. */
  maxSide: number;
  /** The local dream workers (memory queue); with Redis they are other processes. Closed when the bot stops. */
  runner?: DreamRunner;
  /** With Redis: shards identify in turns shared by every bot process. */
  identifyTurns?: RedisTurns;
  /** Server settings, daily limits and history, in the database; closed when the bot stops. */
  community: Community;
}

/** The running bot: the Discord client, its event handlers and health server, in front of a queue. */
export class DreamBot {
  private stopping: Promise<void> | null = null;
  private health: Server | null = null;
  readonly shards: GatewayShards;
  private readonly startedAt = Date.now();

  private constructor(
    readonly client: Client,
    private readonly deps: BotDeps,
    readonly ctx: BotContext,
    private readonly commands: Commands,
  ) {
    this.shards = new GatewayShards(client, deps.config.shards);
  }

  get queue(): JobQueue<JobData, RgbImage[]> {
    return this.deps.queue;
  }

  /** Ready for work: connected to the gateway and the queue, every local worker alive, not shutting down. */
  healthy(): boolean {
    return this.healthProblems().length === 0;
  }

  /** Why the bot is not ready for work, one short phrase each; empty when it is (/healthz 200). */
  healthProblems(): string[] {
    const { queue, runner } = this.deps;
    const problems: string[] = [];
    if (this.stopping) problems.push('shutting down');
    const shards = this.shards.states();
    if (!this.client.isReady()) problems.push('gateway not connected yet');
    else {
      // One shard is "the gateway"; with several, each one that is down is named.
      const name = (s: ShardState) => (shards.length > 1 ? `gateway shard ${s.id}` : 'gateway');
      for (const s of shards) if (s.state !== 'ready' && s.downMs >= this.deps.config.gatewayGraceMs) problems.push(`${name(s)} ${s.state} for ${Math.round(s.downMs / 1000)} s`);
    }
    if (!queue.connected()) problems.push(queue.name === 'redis' ? 'Redis unreachable' : 'queue closed');
    if (runner && runner.alive !== runner.size) problems.push(`dream workers alive ${runner.alive}/${runner.size}`);
    return problems;
  }

  healthDetails(): Record<string, unknown> {
    const { queue, runner } = this.deps;
    const problems = this.healthProblems();
    const shards = this.shards.states();
    const gateway = this.gatewayState(shards);
    return {
      backend: runner?.backend.name ?? 'redis workers',
      driver: queue.name,
      gateway,
      gatewayDownSeconds: gateway === 'ready' ? undefined : Math.round(Math.max(0, ...shards.map((s) => s.downMs)) / 1000),
      shards: shards.map(({ id, state, pingMs, guilds, downMs }) => ({ id, state, pingMs, guilds, downSeconds: state === 'ready' ? undefined : Math.round(downMs / 1000) })),
      redis: queue.name === 'redis' ? (queue.connected() ? 'connected' : 'unreachable') : undefined,
      workers: runner ? { alive: runner.alive, size: runner.size } : undefined,
      queue: queue.snapshot(),
      problems: problems.length ? problems : undefined,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
    };
  }

  /**
   * The gateway's live state, from its shard(s) (`client.isReady()` stays true through an outage): `ready`, or the
   * state of a shard that is not (`connecting`, `resuming`, `identifying`, `waitingforguilds`, `disconnected`, …).
   */
  gatewayState(shards = this.shards.states()): string {
    if (!this.client.isReady()) return 'not ready';
    return shards.find((s) => s.state !== 'ready')?.state ?? 'ready';
  }

  /**
   * Logs each shard's outages: one warning when its connection drops, one when it is back (resumed, or a new
   * session), with the outage's length; the retries in between (one every ~0.5 s) are not logged one by one.
   */
  private watchGateway(): void {
    const { client, ctx } = this;
    const everReady = new Set<number>();
    const errorLogged = new Set<number>();
    const lostAt = new Map<number, number>();
    const down = (shard: number, why: string) => {
      if (this.stopping || !everReady.has(shard)) return;
      this.shards.markDown(shard);
      if (lostAt.has(shard)) return;
      lostAt.set(shard, Date.now());
      errorLogged.delete(shard);
      ctx.log.warn({ shard, why }, 'gateway connection lost; reconnecting');
    };
    const up = (shard: number, how: 'resumed' | 'reconnected with a new session', extra: Record<string, unknown> = {}) => {
      if (this.stopping) return;
      const since = lostAt.get(shard);
      lostAt.delete(shard);
      if (since !== undefined || how !== 'resumed') ctx.log.warn({ shard, outageSeconds: since === undefined ? undefined : Math.round((Date.now() - since) / 100) / 10, ...extra }, `gateway ${how}`);
    };
    client.on(Events.ShardReconnecting, (shard) => down(shard, 'connection closed'));
    client.on(Events.ShardDisconnect, (event, shard) => {
      if (this.stopping) return;
      this.shards.markDown(shard);
      if (!lostAt.has(shard)) lostAt.set(shard, Date.now());
      ctx.log.error({ shard, code: event.code }, 'gateway closed for good (Discord will not take this session back); restart the bot');
    });
    client.on(Events.ShardError, (err, shard) => {
      if (this.stopping) return;
      if (errorLogged.has(shard)) return void ctx.log.debug({ shard, err }, 'gateway connection error');
      errorLogged.add(shard);
      ctx.log.warn({ shard, err }, 'gateway connection error');
    });
    client.on(Events.ShardResume, (shard, replayed) => up(shard, 'resumed', { replayed }));
    client.on(Events.ShardReady, (shard) => {
      if (everReady.has(shard)) up(shard, 'reconnected with a new session');
      else ctx.log.info({ shard, guilds: client.guilds.cache.filter((g) => g.shardId === shard).size }, 'shard ready');
      everReady.add(shard);
    });
  }

  /** Address of the health server, when HEALTH_PORT is set. */
  healthAddress(): string | null {
    const addr = this.health?.address();
    return addr && typeof addr === 'object' ? `http://127.0.0.1:${addr.port}` : null;
  }

  /** Connects to Discord and starts answering; on failure everything given is closed again. */
  static async start(deps: BotDeps): Promise<DreamBot> {
    const { config, log } = deps;
    const client = createClient(config, deps.identifyTurns);
    client.rest.setToken(config.token);
    const { community } = deps;
    const dreams = new DreamRequests({ config, queue: deps.queue, manifest: deps.manifest, log, metrics: deps.metrics, rest: deps.rest, maxSide: deps.maxSide, community });
    const bot = new DreamBot(client, deps, { config, dreams, log, community }, await loadCommands());
    bot.wire();
    bot.watchGateway();
    try {
      if (config.healthPort !== undefined) {
        bot.health = await startHealthServer(config.healthPort, config.healthHost, { healthy: () => bot.healthy(), details: () => bot.healthDetails() }, deps.metrics);
        log.info({ address: bot.healthAddress() }, 'health and metrics server listening');
      }
      const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
      await client.login(config.token);
      await ready;
    } catch (err) {
      await bot.close(0);
      const message = err instanceof Error ? err.message : String(err);
      if (/invalid token|authentication failed|401/i.test(message)) throw new TokenRejectedError();
      if (/sharding is required/i.test(message)) throw new ShardingRequiredError(config.shards.count);
      throw err;
    }
    log.info({ user: client.user?.tag, guilds: client.guilds.cache.size, shards: [...client.ws.shards.keys()], shardCount: client.options.shardCount, mentions: config.mentions }, 'connected to Discord');
    return bot;
  }

  private wire(): void {
    const { client, ctx } = this;
    client.on(Events.InteractionCreate, (interaction) => {
      routeInteraction(interaction, this.commands, ctx, this.stopping !== null).catch((err: Error) => failSafe(interaction, err, ctx));
    });
    // With MENTIONS=off the GuildMessages intent is off and no message arrives (DMs were never asked for).
    if (ctx.config.mentions) {
      client.on(Events.MessageCreate, (message) => {
        if (this.stopping || !client.user) return;
        handleMention(message, ctx, client.user.id).catch((err: Error) => ctx.log.error({ err, shard: message.guild?.shardId }, 'mention handler failed'));
      });
    }
    client.on(Events.Error, (err) => ctx.log.error({ err }, 'discord client error'));
  }

  /** Stops taking jobs, tells waiting users, lets the running dream finish (or cancels it after the grace), disconnects. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const { log, dreams } = this.ctx;
      log.info({ ...this.deps.queue.snapshot(), driver: this.deps.queue.name }, 'shutting down');
      // Requests being taken in finish queueing first, so none is lost between the two steps.
      await Promise.race([dreams.settled(), new Promise((r) => setTimeout(r, 10_000).unref())]);
      await this.close(this.deps.config.shutdownGraceMs);
      log.info('stopped');
    })();
    return this.stopping;
  }

  private async close(graceMs: number): Promise<void> {
    await this.deps.queue.shutdown(graceMs);
    await this.deps.runner?.close();
    await this.deps.community.close().catch((err: Error) => this.ctx.log.warn({ err }, 'could not close the database'));
    await this.client.destroy();
    await new Promise((resolve) => (this.health ? this.health.close(resolve) : resolve(undefined)));
    this.deps.metrics.close();
  }
}
