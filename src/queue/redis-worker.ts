import { Worker, type Job } from 'bullmq';
import { REST } from 'discord.js';
import { JobProcessor, type DreamJobSpec } from '../bot/job-processor.ts';
import { precheck } from '../bot/image-source.ts';
import { RestReplyTarget } from '../bot/reply-target.ts';
import { StatusEditor } from '../bot/status-editor.ts';
import { END_TEXT, endView } from '../bot/status-messages.ts';
import { botConfig, ConfigError } from '../config.ts';
import { loadManifest } from '../engine/model/manifest.ts';
import { createLogger } from '../log.ts';
import { CANCEL_CHANNEL, cancelKey, QUEUE_NAME, redisConnection } from './redis-driver.ts';
import { DreamWorkerPool } from './worker-pool.ts';

/**
 * `npm run worker`: takes dreams from the Redis queue and runs them on this machine (its own backend and
 * DREAM_CONCURRENCY worker threads), posting progress and results over Discord's REST API. A worker that dies
 * mid-job loses its lock; BullMQ gives the job to another worker once, then fails it (the bot tells the member).
 */
async function main(): Promise<void> {
  let config;
  try {
    config = botConfig(process.env, 'worker');
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`deepdream-worker: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const log = createLogger(config.logLevel, [config.token]).child({ worker: process.pid });
  const manifest = await loadManifest(config.model);
  const pool = await DreamWorkerPool.start({ size: config.concurrency, backend: config.backend, model: config.model, log: (level, msg, extra) => log[level](extra ?? {}, msg) });
  const rest = new REST(config.discordApi ? { api: config.discordApi } : {}).setToken(config.token);
  const processor = new JobProcessor({ config, runner: pool, manifest, log });

  const redis = redisConnection(config.redisUrl);
  const subscriber = redisConnection(config.redisUrl);
  const running = new Map<string, AbortController>();
  await subscriber.subscribe(CANCEL_CHANNEL);
  subscriber.on('message', (_channel: string, jobId: string) => running.get(jobId)?.abort());

  const worker = new Worker<DreamJobSpec, string>(
    QUEUE_NAME,
    async (job: Job<DreamJobSpec>) => {
      const spec = job.data;
      const editor = new StatusEditor(new RestReplyTarget(rest, spec.reply), log);
      if (await redis.exists(cancelKey(spec.jobId))) {
        await editor.finish(endView(END_TEXT.cancelled));
        return 'cancelled';
      }
      // The URL was checked by the bot; check again here, where it is fetched.
      const refusal = precheck(spec.source, config);
      if (refusal) {
        await editor.finish(endView(`⚠️ ${refusal}`));
        return 'refused';
      }
      const controller = new AbortController();
      running.set(spec.jobId, controller);
      try {
        log.info({ job: spec.jobId, attempt: job.attemptsStarted, stalled: job.stalledCounter }, 'dream started');
        return await processor.run(spec, editor, controller.signal);
      } finally {
        running.delete(spec.jobId);
      }
    },
    {
      connection: redisConnection(config.redisUrl),
      concurrency: config.concurrency,
      lockDuration: config.queueLockMs,
      stalledInterval: Math.max(500, Math.round(config.queueLockMs / 2)),
      // A job whose worker died is given to another worker once more, then failed.
      maxStalledCount: 1,
    },
  );
  worker.on('error', (err) => log.error({ err }, 'queue worker error'));
  await worker.waitUntilReady();
  log.info({ backend: pool.backend.detail, threads: config.concurrency, redis: config.redisUrl.replace(/\/\/[^@]*@/, '//***@') }, 'worker ready');

  const stop = async (signal: string) => {
    log.info({ signal }, 'finishing the running dreams, then stopping');
    await worker.close();
    await pool.close();
    subscriber.disconnect();
    redis.disconnect();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

void main().catch((err: Error) => {
  process.stderr.write(`deepdream-worker: ${err.message.split('\n')[0]}\n`);
  process.exit(1);
});
