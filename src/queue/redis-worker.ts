import { Worker, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { RedisLink } from './redis-link.ts';
import { CANCEL_CHANNEL, cancelKey, QUEUE_NAME } from './redis-queue.ts';
import type { Processor } from './types.ts';

export interface RedisWorkerOptions<D, R> {
  url: string;
  processor: Processor<D, never, R>;
  /** Jobs this process runs at once. */
  concurrency: number;
  /** How long a job's lock lasts; a worker silent for longer is taken as dead and its job given to another, once. */
  lockMs: number;
  log: Logger;
}

/**
 * The scaled-out queue, running side: a BullMQ Worker that hands each job to `processor` with a signal that a Cancel
 * from any process aborts (Redis pub/sub, plus a key for a job cancelled just as it was picked up).
 */
export async function startRedisWorker<D, R>(opts: RedisWorkerOptions<D, R>): Promise<{ close(): Promise<void> }> {
  const { log } = opts;
  // Every connection is watched: an outage is two log lines (lost, back), not a stack trace per retry.
  const link = new RedisLink(opts.url, log, 'no dream starts until it is back; running ones carry on');
  const redis = link.connect('worker', 'patient');
  const subscriber = link.connect('cancel-subscriber', 'patient');
  const running = new Map<string, AbortController>();
  await subscriber.subscribe(CANCEL_CHANNEL);
  subscriber.on('message', (_channel: string, jobId: string) => running.get(jobId)?.abort());

  const worker = new Worker<{ userId: string; data: D }, R>(
    QUEUE_NAME,
    async (job: Job<{ userId: string; data: D }>) => {
      const id = job.id!;
      const controller = new AbortController();
      running.set(id, controller);
      try {
        if (await redis.exists(cancelKey(id))) controller.abort();
        log.info({ job: id, attempt: job.attemptsStarted, stalled: job.stalledCounter }, 'dream started');
        return await opts.processor({ id, userId: job.data.userId, data: job.data.data }, controller.signal);
      } finally {
        running.delete(id);
      }
    },
    {
      connection: link.connect('queue-worker', 'patient'),
      concurrency: opts.concurrency,
      lockDuration: opts.lockMs,
      stalledInterval: Math.max(500, Math.round(opts.lockMs / 2)),
      // A job whose worker died is given to another worker once more, then failed.
      maxStalledCount: 1,
    },
  );
  worker.on('error', (err) => link.report(err, 'queue worker'));
  await worker.waitUntilReady();
  return {
    async close() {
      link.closingSoon();
      await worker.close();
      link.disconnect();
    },
  };
}
