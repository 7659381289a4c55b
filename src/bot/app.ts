import type { Server } from 'node:http';
import { Client, Events, GatewayIntentBits, type REST } from 'discord.js';
import type { Logger } from 'pino';
import type { BotConfig } from '../config.ts';
import { UserError } from '../errors.ts';
import type { ModelManifest } from '../engine/index.ts';
import type { RgbImage } from '../imaging/index.ts';
import type { DreamJob } from '../jobs/index.ts';
import type { JobQueue } from '../queue/index.ts';
import type { DreamRunner } from '../runner/index.ts';
import { loadCommands, type Commands } from './command-loader.ts';
import type { BotContext } from './context.ts';
import { failSafe, routeInteraction } from './events/interaction-create.ts';
import { handleMention } from './events/message-create.ts';
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

/** What the bot is given: the composition root (src/bin) chooses the queue and the runner. */
export interface BotDeps {
  config: BotConfig;
  log: Logger;
  /** The REST client jobs and refusals answer through. */
  rest: REST;
  queue: JobQueue<DreamJob, RgbImage>;
  metrics: BotMetrics;
  /** The model dreams run with (recipes are resolved against it). */
  manifest: ModelManifest;
  /** Longest side inputs are decoded at. */
  maxSide: number;
  /** The local dream workers (memory queue); with Redis they are other processes. Closed when the bot stops. */
  runner?: DreamRunner;
}

/** The running bot: the Discord client, its event handlers and health server, in front of a queue. */
export class DreamBot {
  private stopping: Promise<void> | null = null;
  private health: Server | null = null;
  private readonly startedAt = Date.now();

  private constructor(
    readonly client: Client,
    private readonly deps: BotDeps,
    readonly ctx: BotContext,
    private readonly commands: Commands,
  ) {}

  get queue(): JobQueue<DreamJob, RgbImage> {
    return this.deps.queue;
  }

  /** Ready for work: connected to the gateway and the queue, every local worker alive, not shutting down. */
  healthy(): boolean {
    const { queue, runner } = this.deps;
    return !this.stopping && this.client.isReady() && queue.connected() && (!runner || runner.alive === runner.size);
  }

  healthDetails(): Record<string, unknown> {
    const { queue, runner } = this.deps;
    return {
      backend: runner?.backend.name ?? 'redis workers',
      driver: queue.name,
      gateway: this.client.isReady() ? 'ready' : 'not ready',
      workers: runner ? { alive: runner.alive, size: runner.size } : undefined,
      queue: queue.snapshot(),
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
    };
  }

  /** Address of the health server, when HEALTH_PORT is set. */
  healthAddress(): string | null {
    const addr = this.health?.address();
    return addr && typeof addr === 'object' ? `http://127.0.0.1:${addr.port}` : null;
  }

  /** Connects to Discord and starts answering; on failure everything given is closed again. */
  static async start(deps: BotDeps): Promise<DreamBot> {
    const { config, log } = deps;
    const client = new Client({
      // Messages that mention the bot carry their content without the privileged MessageContent intent.
      intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages],
      rest: config.discordApi ? { api: config.discordApi } : {},
    });
    client.rest.setToken(config.token);
    const dreams = new DreamRequests({ config, queue: deps.queue, manifest: deps.manifest, log, metrics: deps.metrics, rest: deps.rest, maxSide: deps.maxSide });
    const bot = new DreamBot(client, deps, { config, dreams, log }, await loadCommands());
    bot.wire();
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
      throw err;
    }
    log.info({ user: client.user?.tag, guilds: client.guilds.cache.size }, 'connected to Discord');
    return bot;
  }

  private wire(): void {
    const { client, ctx } = this;
    client.on(Events.InteractionCreate, (interaction) => {
      routeInteraction(interaction, this.commands, ctx, this.stopping !== null).catch((err: Error) => failSafe(interaction, err, ctx));
    });
    client.on(Events.MessageCreate, (message) => {
      if (this.stopping || !client.user) return;
      handleMention(message, ctx, client.user.id).catch((err: Error) => ctx.log.error({ err }, 'mention handler failed'));
    });
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
    await this.client.destroy();
    await new Promise((resolve) => (this.health ? this.health.close(resolve) : resolve(undefined)));
  }
}
