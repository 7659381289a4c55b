import type { Server } from 'node:http';
import { Client, Events, GatewayIntentBits, MessageFlags, type Interaction } from 'discord.js';
import type { Logger } from 'pino';
import { messageMenuCommands, slashCommands } from '../../commands/index.ts';
import { DEFAULT_MAX_SIDE, type BotConfig } from '../config.ts';
import { loadManifest } from '../engine/model/manifest.ts';
import { DreamQueue } from '../queue/dream-queue.ts';
import type { JobDriver } from '../queue/job-driver.ts';
import { MemoryDriver } from '../queue/memory-driver.ts';
import { RedisDriver } from '../queue/redis-driver.ts';
import { DreamWorkerPool } from '../queue/worker-pool.ts';
import { handleButton } from './buttons.ts';
import type { BotContext } from './context.ts';
import { DreamService } from './dream-service.ts';
import { startHealthServer } from './health-server.ts';
import { JobProcessor } from './job-processor.ts';
import { handleMention } from './mentions.ts';
import { BotMetrics } from './metrics.ts';

/** Discord said no to the token: the one start-up failure a person must fix by hand. */
export class TokenRejectedError extends Error {
  override name = 'TokenRejectedError';
  constructor() {
    super('Discord rejected DISCORD_TOKEN: check the bot token in your .env (Developer Portal > Bot > Reset Token).');
  }
}

export interface BotOptions {
  config: BotConfig;
  log: Logger;
  /** Test hook: lets a test crash a worker. */
  allowCrashHook?: boolean;
}

/** The running bot: worker pool, queue, Discord client and the handlers between them. */
export class DreamBot {
  private stopping: Promise<void> | null = null;
  private health: Server | null = null;
  private readonly startedAt = Date.now();

  private constructor(
    readonly client: Client,
    /** The local dream workers (memory driver only; with Redis they are separate processes). */
    readonly pool: DreamWorkerPool | null,
    readonly driver: JobDriver,
    readonly ctx: BotContext,
    readonly metrics: BotMetrics,
  ) {}

  /** Ready for work: connected to the gateway and the queue, every local worker alive, not shutting down. */
  healthy(): boolean {
    return !this.stopping && this.client.isReady() && this.driver.connected() && (!this.pool || this.pool.alive === this.pool.size);
  }

  healthDetails(): Record<string, unknown> {
    return {
      backend: this.pool?.backend.name ?? 'redis workers',
      driver: this.driver.name,
      gateway: this.client.isReady() ? 'ready' : 'not ready',
      workers: this.pool ? { alive: this.pool.alive, size: this.pool.size } : undefined,
      queue: this.driver.snapshot(),
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
    };
  }

  /** Address of the health server, when HEALTH_PORT is set. */
  healthAddress(): string | null {
    const addr = this.health?.address();
    return addr && typeof addr === 'object' ? `http://127.0.0.1:${addr.port}` : null;
  }

  static async start({ config, log, allowCrashHook }: BotOptions): Promise<DreamBot> {
    const manifest = await loadManifest(config.model);
    const client = new Client({
      // Messages that mention the bot carry their content without the privileged MessageContent intent.
      intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages],
      rest: config.discordApi ? { api: config.discordApi } : {},
    });
    client.rest.setToken(config.token);
    let pool: DreamWorkerPool | null = null;
    let driver: JobDriver;
    const limits = { concurrency: config.concurrency, maxQueue: config.maxQueue, maxPerUser: config.maxJobsPerUser };
    const metrics = new BotMetrics({
      queueDepth: () => driver.snapshot().waiting,
      running: () => driver.snapshot().running,
      backend: () => pool?.backend.name ?? 'redis',
      gatewayPingMs: () => client.ws.ping,
    });
    if (config.queueDriver === 'redis') {
      driver = await RedisDriver.start(config.redisUrl, limits, { rest: client.rest, log });
      log.info({ redis: config.redisUrl.replace(/\/\/[^@]*@/, '//***@') }, 'queueing dreams in Redis for `npm run worker` processes');
    } else {
      pool = await DreamWorkerPool.start({
        size: config.concurrency,
        backend: config.backend,
        model: config.model,
        allowCrashHook,
        log: (level, msg, extra) => log[level](extra ?? {}, msg),
      });
      log.info({ backend: pool.backend.detail, workers: config.concurrency, model: manifest.name }, 'dream workers ready');
      const processor = new JobProcessor({ config, runner: pool, manifest, log, metrics });
      driver = new MemoryDriver(new DreamQueue(limits), { processor, rest: client.rest, log, metrics });
    }
    // Inputs are checked at the size the engine will use; with Redis, workers shrink further if their backend wants.
    const maxSide = config.maxSide ?? DEFAULT_MAX_SIDE[pool?.backend.name ?? 'tensorflow'];
    const dreams = new DreamService({ config, driver, manifest, log, metrics, rest: client.rest, maxSide });
    const bot = new DreamBot(client, pool, driver, { config, dreams, log }, metrics);
    bot.wire();
    if (config.healthPort !== undefined) {
      bot.health = await startHealthServer(config.healthPort, config.healthHost, { healthy: () => bot.healthy(), details: () => bot.healthDetails() }, metrics);
      log.info({ address: bot.healthAddress() }, 'health and metrics server listening');
    }
    const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
    try {
      await client.login(config.token);
      await ready;
    } catch (err) {
      await client.destroy();
      await driver.shutdown(0);
      await pool?.close();
      bot.health?.close();
      const message = err instanceof Error ? err.message : String(err);
      if (/invalid token|authentication failed|401/i.test(message)) throw new TokenRejectedError();
      throw err;
    }
    log.info({ user: client.user?.tag, guilds: client.guilds.cache.size }, 'connected to Discord');
    return bot;
  }

  private wire(): void {
    const { client, ctx } = this;
    client.on(Events.InteractionCreate, (interaction) => {
      this.route(interaction).catch((err: Error) => this.failSafe(interaction, err));
    });
    client.on(Events.MessageCreate, (message) => {
      if (this.stopping || !client.user) return;
      handleMention(message, ctx, client.user.id).catch((err: Error) => ctx.log.error({ err }, 'mention handler failed'));
    });
    client.on(Events.Error, (err) => ctx.log.error({ err }, 'discord client error'));
  }

  private async route(interaction: Interaction): Promise<void> {
    if (interaction.isAutocomplete()) {
      await slashCommands.find((c) => c.data.name === interaction.commandName)?.autocomplete?.(interaction, this.ctx);
      return;
    }
    if (this.stopping && interaction.isRepliable()) {
      await interaction.reply({ content: 'I am restarting; try again in a minute.', flags: MessageFlags.Ephemeral });
      return;
    }
    if (interaction.isChatInputCommand()) {
      await slashCommands.find((c) => c.data.name === interaction.commandName)?.execute(interaction, this.ctx);
    } else if (interaction.isMessageContextMenuCommand()) {
      await messageMenuCommands.find((c) => c.data.name === interaction.commandName)?.execute(interaction, this.ctx);
    } else if (interaction.isButton()) {
      await handleButton(interaction, this.ctx);
    }
  }

  /** A handler threw: log it and give the user a plain sentence instead of "The application did not respond". */
  private async failSafe(interaction: Interaction, err: Error): Promise<void> {
    this.ctx.log.error({ err, interaction: interaction.id }, 'interaction handler failed');
    if (!interaction.isRepliable()) return;
    const content = 'Something went wrong on my side; please try again.';
    await (interaction.deferred || interaction.replied ? interaction.followUp({ content, flags: MessageFlags.Ephemeral }) : interaction.reply({ content, flags: MessageFlags.Ephemeral })).catch(() => undefined);
  }

  /** Stops taking jobs, tells waiting users, lets the running dream finish (or cancels it after the grace), disconnects. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const { log, config, dreams } = this.ctx;
      log.info({ ...this.driver.snapshot(), driver: this.driver.name }, 'shutting down');
      // Requests being taken in finish queueing first, so none is lost between the two steps.
      await Promise.race([dreams.settled(), new Promise((r) => setTimeout(r, 10_000).unref())]);
      await this.driver.shutdown(config.shutdownGraceMs);
      await this.client.destroy();
      await this.pool?.close();
      await new Promise((resolve) => (this.health ? this.health.close(resolve) : resolve(undefined)));
      log.info('stopped');
    })();
    return this.stopping;
  }
}
