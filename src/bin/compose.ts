// The composition root: which queue, which runner, and the wiring between them, for `npm start` and `npm run worker`.
import { REST } from 'discord.js';
import type { Logger } from 'pino';
import { DreamBot } from '../bot/app.ts';
import { BotMetrics } from '../bot/metrics.ts';
import type { BotConfig } from '../config.ts';
import { DEFAULT_MAX_SIDE, loadManifest, type BackendName } from '../engine/index.ts';
import type { RgbImage } from '../imaging/index.ts';
import { jobKinds, JobMessages, JobProcessor, type JobData, type JobResult, type StatusTiming } from '../jobs/index.ts';
import { MemoryQueue, RedisQueue, startRedisWorker, type JobQueue, type QueueHooks, type RedisTurns } from '../queue/index.ts';
import { DreamWorkerPool, type DreamRunner } from '../runner/index.ts';

/** What a test may put in place of the real thing. */
export interface Overrides {
  /** Dreams run here instead of on a worker-thread pool with the real engine. */
  runner?: DreamRunner;
}

const masked = (url: string) => url.replace(/\/\/[^@]*@/, '//***@');

/** The local dream workers: DREAM_CONCURRENCY threads with the configured backend and model. */
export function startPool(config: BotConfig, log: Logger): Promise<DreamWorkerPool> {
  return DreamWorkerPool.start({
    size: config.concurrency,
    backend: config.backend,
    model: config.model,
    threads: config.threads,
    cacheDir: config.cacheDir,
    stylesDir: config.stylesDir,
    log: (level, msg, extra) => log[level](extra ?? {}, msg),
  });
}

function restClient(config: BotConfig): REST {
  return new REST(config.discordApi ? { api: config.discordApi } : {}).setToken(config.token);
}

function jobProcessor(config: BotConfig, runner: DreamRunner, messages: JobMessages, log: Logger, minSide: number, metrics?: BotMetrics): JobProcessor {
  return new JobProcessor({
    messages,
    runner,
    log,
    modelName: config.model,
    minSide,
    input: { ...config, maxSide: maxSideFor(config, runner.backend.name) },
    onStep: metrics && ((s) => metrics.stepSeconds.observe(s)),
    safety: { policy: config.nsfwPolicy, threshold: config.nsfwThreshold },
  }, jobKinds({ animation: { maxPixels: config.maxAnimationPixels } }));
}

const statusTiming = (config: BotConfig): StatusTiming => ({ editIntervalMs: config.statusEditIntervalMs, outcomeRetryDelaysMs: config.outcomeRetryDelaysMs });

const maxSideFor = (config: BotConfig, backend: BackendName) => config.maxSide ?? DEFAULT_MAX_SIDE[backend];

/** Queue endings are counted once, here, and shown when the processor could not show them itself. */
function queueHooks(messages: JobMessages, metrics: BotMetrics): QueueHooks<JobData, JobResult> {
  return {
    onPosition: messages.showPosition,
    onEnd: async (job, ending) => {
      metrics.recordEnding(ending);
      if (ending.kind !== 'completed') await messages.showEnd(job, ending.kind);
    },
  };
}

/** `npm start`: the bot with a memory queue and local workers, or in front of a Redis queue. */
export async function startBot(config: BotConfig, log: Logger, overrides: Overrides = {}): Promise<DreamBot> {
  const manifest = await loadManifest(config.model, { stylesDir: config.stylesDir });
  const rest = restClient(config);
  const messages = new JobMessages(rest, log, statusTiming(config));
  let queue: JobQueue<JobData, RgbImage[]> | undefined;
  let runner: DreamRunner | undefined;
  let identifyTurns: RedisTurns | undefined;
  let bot: DreamBot | undefined;
  const metrics = new BotMetrics({
    queueDepth: () => queue?.snapshot().waiting ?? 0,
    running: () => queue?.snapshot().running ?? 0,
    backend: () => runner?.backend.name ?? 'redis',
    shards: () => bot?.shards.states() ?? [],
  });
  const limits = { concurrency: config.concurrency, maxQueue: config.maxQueue, maxPerUser: config.maxJobsPerUser };
  if (config.queueDriver === 'redis') {
    const redisQueue = await RedisQueue.start(config.redisUrl, limits, queueHooks(messages, metrics), log, { commandTimeoutMs: config.redisCommandTimeoutMs });
    queue = redisQueue;
    identifyTurns = redisQueue.turns;
    log.info({ redis: masked(config.redisUrl) }, 'queueing dreams in Redis for `npm run worker` processes');
  } else {
    runner = overrides.runner ?? (await startPool(config, log));
    log.info({ backend: runner.backend.detail, workers: config.concurrency, model: manifest.name }, 'dream workers ready');
    const jobs = jobProcessor(config, runner, messages, log, manifest.input.minSide, metrics);
    queue = new MemoryQueue(limits, jobs.process, queueHooks(messages, metrics));
  }
  // Inputs are checked at the size the engine will use; with Redis, workers shrink further if their backend wants.
  const maxSide = maxSideFor(config, runner?.backend.name ?? 'tensorflow');
  // The bot owns the queue and runner from here: it closes them when it stops, or when it cannot start.
  bot = await DreamBot.start({ config, log, rest, queue, metrics, manifest, maxSide, runner, identifyTurns });
  return bot;
}

/** `npm run worker`: takes dreams from Redis and runs them on this machine's workers, posting over REST. */
export async function startWorker(config: BotConfig, log: Logger, overrides: Overrides = {}): Promise<{ close(): Promise<void> }> {
  const manifest = await loadManifest(config.model, { stylesDir: config.stylesDir });
  const runner = overrides.runner ?? (await startPool(config, log));
  const jobs = jobProcessor(config, runner, new JobMessages(restClient(config), log, statusTiming(config)), log, manifest.input.minSide);
  const worker = await startRedisWorker({ url: config.redisUrl, processor: jobs.process, concurrency: config.concurrency, lockMs: config.queueLockMs, log });
  log.info({ backend: runner.backend.detail, threads: config.concurrency, redis: masked(config.redisUrl) }, 'worker ready');
  return {
    async close() {
      await worker.close();
      await runner.close();
    },
  };
}
