import 'dotenv/config';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { UserError } from './errors.ts';
import type { DatabaseTarget } from './store/index.ts';
import { BACKEND_CHOICES, DEFAULT_NSFW_THRESHOLD, MODELS_DIR, type BackendChoice } from './engine/options.ts';

/** A setting that is missing or malformed; the message names the variable and what it accepts. */
export class ConfigError extends UserError {
  override name = 'ConfigError';
  constructor(message: string) {
    super(message, 'config');
  }
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, not "${raw}".`);
  return n;
}

function fraction(env: Env, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new ConfigError(`${name} must be a number from 0 to 1, not "${raw}".`);
  return n;
}

/** A comma-separated list of 1 to 10 waits in milliseconds (each 0 to 10 minutes). */
function delays(env: Env, name: string, fallback: number[]): number[] {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const parts = raw.split(',').map((p) => p.trim());
  const ok = parts.length <= 10 && parts.every((p) => /^\d+$/.test(p) && Number(p) <= 600_000);
  if (!ok) throw new ConfigError(`${name} must be 1 to 10 comma-separated whole numbers of milliseconds from 0 to 600000, not "${raw}".`);
  return parts.map(Number);
}

function oneOf<T extends string>(env: Env, name: string, choices: readonly T[], fallback: T): T {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  if (!(choices as readonly string[]).includes(raw)) throw new ConfigError(`${name} must be one of ${choices.join(', ')}, not "${raw}".`);
  return raw as T;
}

export interface EngineConfig {
  backend: BackendChoice;
  model: string;
  /** Undefined: pick by backend (DEFAULT_MAX_SIDE). */
  maxSide?: number;
  maxInputPixels: number;
  /** Dreams running at once on this machine (worker threads; 1 = one GPU). */
  concurrency: number;
  /** CPU threads one dream may use on onnx: default the cores divided among the concurrent dreams. */
  threads: number;
  /** Where trained styles are saved and looked up: a writable place, since the project folder may be read-only. */
  stylesDir: string;
  /** Where compiled weights and ONNX models are cached (undefined: models/.cache). */
  cacheDir?: string;
  /** An animated input is dreamed as at most this many frames (sampled evenly, delays summed). */
  maxAnimationFrames: number;
  /** Frames to decode × their stored width × height, checked from an animation's header before decoding. */
  maxAnimationPixels: number;
}

/** Engine settings from the environment (and .env), validated. */
export function engineConfig(env: Env = process.env): EngineConfig {
  const concurrency = int(env, 'DREAM_CONCURRENCY', 1, 1, 64)!;
  const cacheDir = env.DREAM_MODEL_CACHE?.trim();
  return {
    backend: oneOf(env, 'DREAM_BACKEND', BACKEND_CHOICES, 'auto'),
    model: env.DREAM_MODEL?.trim() || 'inception_v3',
    maxSide: int(env, 'DREAM_MAX_SIDE', undefined, 64, 4096),
    maxInputPixels: int(env, 'MAX_INPUT_PIXELS', 40_000_000, 1)!,
    concurrency,
    threads: int(env, 'DREAM_THREADS', Math.max(1, Math.floor(availableParallelism() / concurrency)), 1, 256)!,
    stylesDir: path.resolve(env.DREAM_STYLES_DIR?.trim() || MODELS_DIR),
    cacheDir: cacheDir ? path.resolve(cacheDir) : undefined,
    maxAnimationFrames: int(env, 'MAX_ANIMATION_FRAMES', DEFAULT_MAX_ANIMATION_FRAMES, 2, 500)!,
    maxAnimationPixels: int(env, 'MAX_ANIMATION_PIXELS', DEFAULT_MAX_ANIMATION_PIXELS, 1)!,
  };
}

/**
 * A later frame of an animation costs a fifth to a third of a still dream (npm run bench -- --only anim, as in the
 * README: 24 frames of 320 px took 5.3–8.6× one still's wall time, 7.0–8.5× its CPU), so 48 frames cost about 10–17
 * still dreams: two seconds of a GIF at 24 fps, or five at 10. Longer clips are sampled evenly (their delays summed, so they
 * last as long).
 */
export const DEFAULT_MAX_ANIMATION_FRAMES = 48;
/**
 * Frames decoded × their stored size: 48 frames of 1920×1080 (100 MP) pass; 40 frames of 3000×3000 (360 MP) are
 * refused from the header at once (accepted, they took 8 s to decode and 2m 47s in all on a busy 2-core machine).
 */
export const DEFAULT_MAX_ANIMATION_PIXELS = 200_000_000;

const DEFAULT_ATTACHMENT_PREFIXES = ['https://cdn.discordapp.com/', 'https://media.discordapp.net/'];

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface BotConfig extends EngineConfig {
  token: string;
  clientId: string;
  guildId?: string;
  /** REST base URL including /api (a fake Discord in tests). */
  discordApi?: string;
  attachmentUrlPrefixes: string[];
  maxQueue: number;
  maxJobsPerUser: number;
  maxInputBytes: number;
  downloadTimeoutMs: number;
  shutdownGraceMs: number;
  /** A job's message is edited with progress at most this often (Discord rate-limits message edits). */
  statusEditIntervalMs: number;
  /** Waits before posting a job's outcome again while Discord keeps failing; one retry per entry. */
  outcomeRetryDelaysMs: number[];
  logLevel: LogLevel;
  queueDriver: 'memory' | 'redis';
  redisUrl: string;
  /** How long a redis worker's lock on a job lasts; a worker silent for longer is taken as dead. */
  queueLockMs: number;
  /** How long the bot waits for Redis to answer a command before refusing the request as unavailable. */
  redisCommandTimeoutMs: number;
  /** Serve /healthz and /metrics on this port; undefined = off. */
  healthPort?: number;
  healthHost: string;
  /**
   * Inputs screened as explicit (see NSFW_THRESHOLD) outside age-restricted channels: `block` refuses them privately,
   * `spoiler` dreams them and posts the result as a spoiler, `off` does not screen.
   */
  nsfwPolicy: 'block' | 'spoiler' | 'off';
  /** An input counts as explicit when P(porn) + P(hentai) + P(sexy) under nsfwjs's classifier reaches this (0..1). */
  nsfwThreshold: number;
  /** Which gateway shards this process holds (SHARD_COUNT, SHARD_IDS). */
  shards: ShardPlan;
  /** Reply-mentions on: the GuildMessages intent, i.e. every message of every server the bot is in. */
  mentions: boolean;
  /** How long a held shard may be down before /healthz turns 503 (a routine resume takes well under a second). */
  gatewayGraceMs: number;
  /** Where settings, daily counts and history live: embedded SQLite (default) or a Postgres shared by every process. */
  database: DatabaseTarget;
  /** Job history is deleted after this many days (the pictures are never kept). */
  historyDays: number;
  /**
   * Discord lets `max_concurrency` shards identify per this window (5 s); bot processes sharing shards in Redis mode
   * pace their identifies by it. Only tests shorten it (a real gateway would refuse faster identifies).
   */
  identifyWindowMs: number;
}

export const DEFAULT_DATABASE_PATH = 'data/deepdream.sqlite';

/** DATABASE_URL: unset = sqlite:data/deepdream.sqlite; `sqlite:PATH`; or `postgres://…` (postgresql:// too). */
export function databaseTarget(env: Env): DatabaseTarget {
  const raw = env.DATABASE_URL?.trim();
  if (!raw) return { kind: 'sqlite', path: path.resolve(DEFAULT_DATABASE_PATH) };
  // A database that lives as long as the process (tests).
  if (raw === 'sqlite::memory:') return { kind: 'sqlite', path: ':memory:' };
  if (/^postgres(ql)?:\/\/[^/]/.test(raw)) return { kind: 'postgres', url: raw };
  const file = /^sqlite:(.+)$/.exec(raw)?.[1].replace(/^\/\/(?=\/)/, '');
  if (file) return { kind: 'sqlite', path: path.resolve(file) };
  throw new ConfigError(`DATABASE_URL must be sqlite:PATH (e.g. sqlite:${DEFAULT_DATABASE_PATH}) or postgres://user:password@host/db, not "${raw.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')}".`);
}

/**
 * The shards of one bot process: `count` is the bot's total over all its processes ('auto': Discord's
 * recommendation, every shard in this process); `ids` the ones this process holds (undefined: all of them).
 */
export interface ShardPlan {
  count: number | 'auto';
  ids?: number[];
}

const MAX_SHARDS = 4096;

/** /healthz turns 503 when a held shard has been down this long (HEALTH_GATEWAY_GRACE_MS). */
export const DEFAULT_GATEWAY_GRACE_MS = 3000;

/** `0,1`, `0-3` or `0-1,6`: sorted, without repeats. */
function shardIds(raw: string): number[] {
  const ids = new Set<number>();
  for (const part of raw.split(',').map((p) => p.trim())) {
    const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(part);
    const from = m ? Number(m[1]) : NaN;
    const to = m?.[2] !== undefined ? Number(m[2]) : from;
    if (!m || to < from || to >= MAX_SHARDS) throw new ConfigError(`SHARD_IDS must list shard ids like 0,1 or 0-3, not "${raw}".`);
    for (let id = from; id <= to; id++) ids.add(id);
  }
  return [...ids].sort((a, b) => a - b);
}

/**
 * SHARD_COUNT and SHARD_IDS, checked together. SHARDS is discord.js's own ShardingManager variable (JSON): a
 * process that sets it means something else, so it is refused rather than half-read by two parties.
 */
function shardPlan(env: Env): ShardPlan {
  if (env.SHARDS?.trim()) throw new ConfigError('SHARDS is not read by this bot: set SHARD_COUNT (the total) and SHARD_IDS (this process\'s, e.g. 0,1 or 0-3) instead.');
  const rawCount = env.SHARD_COUNT?.trim();
  const rawIds = env.SHARD_IDS?.trim();
  const count = !rawCount || rawCount === 'auto' ? 'auto' : Number(rawCount);
  if (count !== 'auto' && (!Number.isInteger(count) || count < 1 || count > MAX_SHARDS)) throw new ConfigError(`SHARD_COUNT must be auto or a whole number from 1 to ${MAX_SHARDS}, not "${rawCount}".`);
  if (!rawIds) return { count };
  if (count === 'auto') throw new ConfigError(`SHARD_IDS needs a SHARD_COUNT (the total over every bot process, e.g. SHARD_COUNT=4): with "auto" processes could count differently.`);
  const ids = shardIds(rawIds);
  const outside = ids.filter((id) => id >= count);
  if (outside.length) throw new ConfigError(`SHARD_IDS ${outside.join(', ')} ${outside.length > 1 ? 'are' : 'is'} out of range: with SHARD_COUNT=${count} shard ids go from 0 to ${count - 1}.`);
  return { count, ids };
}

function snowflake(env: Env, name: string, required: boolean): string | undefined {
  const raw = env[name]?.trim();
  if (!raw) {
    if (required) throw new ConfigError(`${name} is not set: copy .env.example to .env and fill it in (see README, "Run the bot").`);
    return undefined;
  }
  if (!/^\d{17,20}$/.test(raw)) throw new ConfigError(`${name} must be a Discord id (17 to 20 digits), not "${raw}".`);
  return raw;
}

function url(raw: string, name: string): string {
  try {
    const u = new URL(raw);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('not http');
    return raw;
  } catch {
    throw new ConfigError(`${name} must contain http(s) URLs, not "${raw}".`);
  }
}

function redisUrl(env: Env): string {
  const raw = env.REDIS_URL?.trim() || 'redis://127.0.0.1:6379';
  if (!/^rediss?:\/\//.test(raw)) throw new ConfigError(`REDIS_URL must start with redis:// or rediss://, not "${raw}".`);
  return raw;
}

/**
 * Everything the bot needs, validated; throws ConfigError with one readable sentence. A queue worker
 * (`npm run worker`) posts over REST only and has no use for the application id.
 */
export function botConfig(env: Env = process.env, role: 'bot' | 'worker' = 'bot'): BotConfig {
  const token = env.DISCORD_TOKEN?.trim();
  if (!token) throw new ConfigError('DISCORD_TOKEN is not set: copy .env.example to .env and put your bot token in it (see README, "Run the bot").');
  const prefixes = env.ATTACHMENT_URL_PREFIXES?.trim()
    ? env.ATTACHMENT_URL_PREFIXES.split(',').map((p) => p.trim()).filter(Boolean).map((p) => url(p, 'ATTACHMENT_URL_PREFIXES'))
    : DEFAULT_ATTACHMENT_PREFIXES;
  const api = env.DISCORD_API?.trim();
  return {
    ...engineConfig(env),
    token,
    clientId: snowflake(env, 'DISCORD_CLIENT_ID', role === 'bot') ?? '',
    guildId: snowflake(env, 'DISCORD_GUILD_ID', false),
    discordApi: api ? url(api, 'DISCORD_API').replace(/\/+$/, '') : undefined,
    attachmentUrlPrefixes: prefixes,
    maxQueue: int(env, 'MAX_QUEUE', 20, 0, 10_000)!,
    maxJobsPerUser: int(env, 'MAX_JOBS_PER_USER', 2, 1, 100)!,
    maxInputBytes: int(env, 'MAX_INPUT_BYTES', 25 * 2 ** 20, 1024)!,
    downloadTimeoutMs: int(env, 'DOWNLOAD_TIMEOUT_MS', 15_000, 100, 600_000)!,
    shutdownGraceMs: int(env, 'SHUTDOWN_GRACE_MS', 30_000, 0, 3_600_000)!,
    statusEditIntervalMs: int(env, 'STATUS_EDIT_INTERVAL_MS', 2000, 0, 60_000)!,
    outcomeRetryDelaysMs: delays(env, 'OUTCOME_RETRY_DELAYS_MS', [1000, 4000, 15000]),
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    queueDriver: oneOf(env, 'QUEUE_DRIVER', ['memory', 'redis'] as const, 'memory'),
    redisUrl: redisUrl(env),
    queueLockMs: int(env, 'QUEUE_LOCK_MS', 30_000, 1000, 600_000)!,
    redisCommandTimeoutMs: int(env, 'REDIS_COMMAND_TIMEOUT_MS', 2000, 100, 60_000)!,
    healthPort: int(env, 'HEALTH_PORT', undefined, 0, 65535),
    healthHost: env.HEALTH_HOST?.trim() || '0.0.0.0',
    nsfwPolicy: oneOf(env, 'NSFW_POLICY', ['block', 'spoiler', 'off'] as const, 'block'),
    nsfwThreshold: fraction(env, 'NSFW_THRESHOLD', DEFAULT_NSFW_THRESHOLD),
    shards: shardPlan(env),
    mentions: oneOf(env, 'MENTIONS', ['on', 'off'] as const, 'on') === 'on',
    gatewayGraceMs: int(env, 'HEALTH_GATEWAY_GRACE_MS', DEFAULT_GATEWAY_GRACE_MS, 0, 600_000)!,
    database: databaseTarget(env),
    historyDays: int(env, 'HISTORY_DAYS', 30, 1, 3650)!,
    identifyWindowMs: int(env, 'DISCORD_IDENTIFY_WINDOW_MS', 5000, 100, 60_000)!,
  };
}

export interface DeployConfig {
  token: string;
  clientId: string;
  /** Register in this server at once; without it the commands are global. */
  guildId?: string;
  discordApi?: string;
}

/** What `npm run deploy-commands` needs: the token and application id, and where to register. */
export function deployConfig(env: Env = process.env): DeployConfig {
  const token = env.DISCORD_TOKEN?.trim();
  if (!token) throw new ConfigError('DISCORD_TOKEN and DISCORD_CLIENT_ID must be set (see .env.example).');
  const api = env.DISCORD_API?.trim();
  return {
    token,
    clientId: snowflake(env, 'DISCORD_CLIENT_ID', true)!,
    guildId: snowflake(env, 'DISCORD_GUILD_ID', false),
    discordApi: api ? url(api, 'DISCORD_API').replace(/\/+$/, '') : undefined,
  };
}
