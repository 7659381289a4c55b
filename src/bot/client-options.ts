import { Client, GatewayIntentBits, Options, type ClientOptions } from 'discord.js';
import type { BotConfig, ShardPlan } from '../config.ts';
import type { RedisTurns } from '../queue/index.ts';

/**
 * What the bot keeps of what the gateway sends. It reads guilds (locale, guild count) and channels (age
 * restriction, replies) from the cache, and everything else from the event at hand or over REST: a replied-to
 * message is fetched, a button's message comes with the interaction. So messages, users and members other than
 * the bot's own are not kept at all, and memory does not grow with the chatter of the servers it is in.
 * (Guilds, channels, roles and permission overwrites cannot be limited: discord.js needs them whole.)
 */
const CACHE_LIMITS = {
  MessageManager: 0,
  GuildMessageManager: 0,
  DMMessageManager: 0,
  // The bot's own user and member stay: discord.js reads them (client.user, guild.members.me).
  UserManager: { maxSize: 0, keepOverLimit: (user) => user.id === user.client.user?.id },
  GuildMemberManager: { maxSize: 0, keepOverLimit: (member) => member.id === member.client.user?.id },
  ThreadMemberManager: 0,
  PresenceManager: 0,
  ReactionManager: 0,
  ReactionUserManager: 0,
  VoiceStateManager: 0,
  GuildEmojiManager: 0,
  BaseGuildEmojiManager: 0,
  GuildStickerManager: 0,
  GuildScheduledEventManager: 0,
  StageInstanceManager: 0,
  GuildInviteManager: 0,
  GuildBanManager: 0,
  AutoModerationRuleManager: 0,
  ApplicationCommandManager: 0,
} satisfies Parameters<typeof Options.cacheWithLimits>[0];

/**
 * Sweepers for what the limits above cannot bound: threads (archived ones after an hour; discord.js's default keeps
 * them four) and, in case something adds them by another path, users and members other than the bot.
 */
const SWEEPERS: NonNullable<ClientOptions['sweepers']> = {
  threads: { interval: 3600, lifetime: 3600 },
  users: { interval: 3600, filter: () => (user) => user.id !== user.client.user?.id },
  guildMembers: { interval: 3600, filter: () => (member) => member.id !== member.client.user?.id },
};

/**
 * The shards handed to discord.js. `shards` is always given, so its constructor never reads SHARDS from the
 * environment (its ShardingManager's); `shardCount` is given with a number (see `createClient` for `auto`).
 */
function shardOptions(plan: ShardPlan): Pick<ClientOptions, 'shards' | 'shardCount'> {
  if (plan.count === 'auto') return { shards: 'auto' };
  return { shards: plan.ids ?? Array.from({ length: plan.count }, (_, id) => id), shardCount: plan.count };
}

/** Intents: Guilds always (slash commands and the Apps menu need nothing more); GuildMessages only for mentions. */
function intentsFor(config: Pick<BotConfig, 'mentions'>): GatewayIntentBits[] {
  // Messages that mention the bot carry their content without the privileged MessageContent intent.
  return config.mentions ? [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages] : [GatewayIntentBits.Guilds];
}

/**
 * Identify pacing over every bot process of this bot: discord.js paces the shards of one process; with several
 * (Redis mode) each bucket's turn is taken in Redis, so two processes never identify in one bucket's window. Discord
 * lets `max_concurrency` shards identify per window (`windowMs`, 5 s), shard `id` in bucket `id % max_concurrency`.
 */
function sharedIdentifyPacing(turns: RedisTurns, clientId: string, windowMs: number): NonNullable<ClientOptions['ws']> {
  return {
    async buildIdentifyThrottler(manager) {
      const { max_concurrency: buckets } = (await manager.fetchGatewayInformation()).session_start_limit;
      return { waitForIdentify: (shardId, signal) => turns.take(`identify:${clientId}:${shardId % buckets}`, windowMs, signal) };
    },
  };
}

/** The discord.js client's options for this bot: intents, shards, bounded caches, REST base, identify pacing. */
function clientOptions(config: BotConfig, identifyTurns?: RedisTurns): ClientOptions {
  return {
    intents: intentsFor(config),
    ...shardOptions(config.shards),
    makeCache: Options.cacheWithLimits(CACHE_LIMITS),
    sweepers: SWEEPERS,
    rest: config.discordApi ? { api: config.discordApi } : {},
    ...(identifyTurns ? { ws: sharedIdentifyPacing(identifyTurns, config.clientId, config.identifyWindowMs) } : {}),
  };
}

/**
 * The bot's discord.js client. Its constructor reads SHARD_COUNT from the environment (as its ShardingManager's,
 * a number) whenever it is not given a count other than 1, as with `auto`; ours was read and checked by the config
 * and is in the options, so the constructor does not see it ("auto" would fail its check).
 */
export function createClient(config: BotConfig, identifyTurns?: RedisTurns): Client {
  const ours = process.env.SHARD_COUNT;
  delete process.env.SHARD_COUNT;
  try {
    return new Client(clientOptions(config, identifyTurns));
  } finally {
    if (ours !== undefined) process.env.SHARD_COUNT = ours;
  }
}
