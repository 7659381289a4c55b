// The composition root: which queue, which runner, and the wiring between them, for `npm start` and `npm run worker`.
import { REST } from 'discord.js';
import type { Logger } from 'pino';
import { checkToken, DreamBot } from '../bot/app.ts';
import { BotMetrics } from '../bot/metrics.ts';
import type { BotConfig } from '../config.ts';
import { DEFAULT_MAX_SIDE, loadManifest, type BackendName } from '../engine/light.ts';
import type { RgbImage } from '../imaging/index.ts';
import { Community } from '../bot/community.ts';
import { jobKinds, JobMessages, JobProcessor, messageLink, type JobData, type JobResult, type RunnableJob, type StatusTiming } from '../jobs/index.ts';
import { MemoryQueue, RedisQueue, startRedisWorker, type JobQueue, type QueueHooks, type RedisTurns } from '../queue/index.ts';
import { DreamWorkerPool, type DreamRunner } from '../runner/index.ts';
import { Store } from '../store/index.ts';

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

/** The database every process of a deployment shares (settings, daily counts, history); one line if it cannot open. */
async function openStore(config: BotConfig, log: Logger): Promise<Store> {
  const store = await Store.open(config.database, { onIdleError: (err) => log.warn({ err }, 'database connection lost') });
  log.info({ database: store.description }, 'database ready');
  return store;
}

/**
 * Writes a job's end into its history row, in the process that ran it: outcome, time, the result's link. The result
 * is posted before this; a database that is down then keeps the ending for later, never the result from the member.
 */
function recordEnd(store: Store, log: Logger) {
  return async (job: RunnableJob, result: JobResult): Promise<void> => {
    const id = job.data.reply.terms?.historyId;
    // A dream that failed on our side is given back to the member's day.
    const ending = { outcome: result.outcome, reason: result.reason, seconds: result.seconds, messageLink: messageLink(job.data.reply), refund: result.outcome === 'failed' };
    if (id && !(await store.endSurely(id, ending))) log.warn({ job: job.id }, 'the database is unavailable: the job\'s history is written when it answers again');
  };
}

function jobProcessor(config: BotConfig, runner: DreamRunner, messages: JobMessages, log: Logger, minSide: number, store: Store, metrics?: BotMetrics): JobProcessor {
  return new JobProcessor({
    messages,
    runner,
    log,
    modelName: config.model,
    minSide,
    input: { ...config, maxSide: maxSideFor(config, runner.backend.name) },
    onStep: metrics && ((s) => metrics.stepSeconds.observe(s)),
    safety: { policy: config.nsfwPolicy, threshold: config.nsfwThreshold },
    onEnded: recordEnd(store, log),
  }, jobKinds({ animation: { maxPixels: config.maxAnimationPixels } }));
}

const statusTiming = (config: BotConfig): StatusTiming => ({ editIntervalMs: config.statusEditIntervalMs, outcomeRetryDelaysMs: config.outcomeRetryDelaysMs });

const maxSideFor = (config: BotConfig, backend: BackendName) => config.maxSide ?? DEFAULT_MAX_SIDE[backend];

/**
 * Queue endings are counted once, here, and shown when the processor could not show them itself; a job that never
 * ran (or whose workers died) is written to its history and given back to its member's day (once, however many bot
 * processes hear it).
 */
function queueHooks(messages: JobMessages, metrics: BotMetrics, store: Store, log: Logger): QueueHooks<JobData, JobResult> {
  return {
    onPosition: messages.showPosition,
    onEnd: async (job, ending) => {
      metrics.recordEnding(ending);
      if (ending.kind === 'completed') return;
      const id = job.data.reply.terms?.historyId;
      const written = !id || (await store.endSurely(id, { outcome: ending.kind, reason: ending.kind === 'failed' ? 'worker died twice' : undefined, refund: true }));
      if (!written) log.warn({ job: job.id }, 'the database is unavailable: the job\'s history (and the member\'s refund) is written when it answers again');
      await messages.showEnd(job, ending.kind);
    },
  };
}

/** `npm start`: the bot with a memory queue and local workers, or in front of a Redis queue. */
export async function startBot(config: BotConfig, log: Logger, overrides: Overrides = {}): Promise<DreamBot> {
  const manifest = await loadManifest(config.model, { stylesDir: config.stylesDir });
  const store = await openStore(config, log);
  try {
    return await startBotWith(config, log, overrides, manifest, store);
  } catch (err) {
    await store.close().catch(() => undefined); // closed by the bot once it has started, else here
    throw err;
  }
}

async function startBotWith(config: BotConfig, log: Logger, overrides: Overrides, manifest: Awaited<ReturnType<typeof loadManifest>>, store: Store): Promise<DreamBot> {
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
  await checkToken(config);
  if (config.queueDriver === 'redis') {
    const redisQueue = await RedisQueue.start(config.redisUrl, limits, queueHooks(messages, metrics, store, log), log, { commandTimeoutMs: config.redisCommandTimeoutMs });
    queue = redisQueue;
    identifyTurns = redisQueue.turns;
    log.info({ redis: masked(config.redisUrl) }, 'queueing dreams in Redis for `npm run worker` processes');
  } else {
    runner = overrides.runner ?? (await startPool(config, log));
    log.info({ backend: runner.backend.detail, workers: config.concurrency, model: manifest.name }, 'dream workers ready');
    const jobs = jobProcessor(config, runner, messages, log, manifest.input.minSide, store, metrics);
    queue = new MemoryQueue(limits, jobs.process, queueHooks(messages, metrics, store, log));
  }
  // Inputs are checked at the size the engine will use; with Redis, workers shrink further if their backend wants.
  const maxSide = maxSideFor(config, runner?.backend.name ?? 'tensorflow');
  // The bot owns the queue and runner from here: it closes them when it stops, or when it cannot start.
  const community = new Community(store, log);
  bot = await DreamBot.start({ config, log, rest, queue, metrics, manifest, maxSide, runner, identifyTurns, community });
  community.startPruning(config.historyDays);
  return bot;
}

/** `npm run worker`: takes dreams from Redis and runs them on this machine's workers, posting over REST. */
export async function startWorker(config: BotConfig, log: Logger, overrides: Overrides = {}): Promise<{ close(): Promise<void> }> {
  const manifest = await loadManifest(config.model, { stylesDir: config.stylesDir });
  const store = await openStore(config, log);
  const runner = overrides.runner ?? (await startPool(config, log));
  const jobs = jobProcessor(config, runner, new JobMessages(restClient(config), log, statusTiming(config)), log, manifest.input.minSide, store);
  const worker = await startRedisWorker({ url: config.redisUrl, processor: jobs.process, concurrency: config.concurrency, lockMs: config.queueLockMs, log });
  log.info({ backend: runner.backend.detail, threads: config.concurrency, redis: masked(config.redisUrl) }, 'worker ready');
  return {
    async close() {
      await worker.close();
      await runner.close();
      await store.close();
    },
  };
}
