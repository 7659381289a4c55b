import { randomBytes } from 'node:crypto';
import { Job, Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { JobQueue, QueueHooks, QueueLimits, Submission } from './types.ts';

export const QUEUE_NAME = 'deepdream';
export const CANCEL_CHANNEL = 'deepdream:cancel';
export const cancelKey = (jobId: string) => `deepdream:cancelled:${jobId}`;
/** Jobs a member still has in line or running. */
const OPEN_STATES = ['waiting', 'active', 'prioritized', 'delayed'] as const;

/** What every job carries, so the queue can enforce the per-member cap across processes. */
interface Stored<D> {
  userId: string;
  data: D;
}

export function redisConnection(url: string): Redis {
  // BullMQ needs maxRetriesPerRequest: null for its blocking commands.
  return new Redis(url, { maxRetriesPerRequest: null });
}

/**
 * The scaled-out queue, submitting side: jobs go to a BullMQ queue on Redis and `npm run worker` processes anywhere
 * run them (see redis-worker.ts). Accepted jobs survive a restart of this process. This side enforces the caps,
 * reports waiting positions, cancels, and reports every job's end (its result, or a worker that died twice).
 */
export class RedisQueue<D, R> implements JobQueue<D> {
  readonly name = 'redis';
  private readonly queue: Queue;
  private readonly events: QueueEvents;
  private readonly redis: Redis;
  private readonly eventsRedis: Redis;
  private readonly shownPosition = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private last = { waiting: 0, running: 0 };
  private closed = false;

  private constructor(
    url: string,
    private readonly limits: QueueLimits,
    private readonly hooks: QueueHooks<D, R>,
    private readonly log: Logger,
  ) {
    this.redis = redisConnection(url);
    this.queue = new Queue(QUEUE_NAME, { connection: this.redis });
    this.eventsRedis = redisConnection(url);
    this.events = new QueueEvents(QUEUE_NAME, { connection: this.eventsRedis });
  }

  static async start<D, R>(url: string, limits: QueueLimits, hooks: QueueHooks<D, R>, log: Logger): Promise<RedisQueue<D, R>> {
    const queue = new RedisQueue(url, limits, hooks, log);
    await queue.queue.waitUntilReady();
    await queue.events.waitUntilReady();
    queue.events.on('completed', ({ jobId, returnvalue }) => void queue.ended(jobId, { kind: 'completed', result: returnvalue as R }));
    queue.events.on('failed', ({ jobId, failedReason }) => void queue.ended(jobId, { kind: 'failed', reason: failedReason }));
    queue.timer = setInterval(() => void queue.refreshPositions(), 2000);
    await queue.refreshPositions();
    return queue;
  }

  /** Average seconds a job takes, from the last finished ones; 30 s before any finished. */
  private async averageSeconds(): Promise<number> {
    const done = await this.queue.getCompleted(0, 9);
    const times = done.filter((j) => j.processedOn && j.finishedOn).map((j) => (j.finishedOn! - j.processedOn!) / 1000);
    return times.length ? times.reduce((a, b) => a + b, 0) / times.length : 30;
  }

  private async line(): Promise<Job<Stored<D>>[]> {
    const waiting = (await this.queue.getWaiting(0, -1)) as Job<Stored<D>>[];
    return waiting.sort((a, b) => a.timestamp - b.timestamp);
  }

  private async eta(position: number): Promise<number> {
    const workers = Math.max(1, (await this.queue.getWorkersCount()) || 1);
    return Math.round((Math.ceil(position / workers) - 0.5) * (await this.averageSeconds()));
  }

  async submit({ userId, data }: { userId: string; data: D }): Promise<Submission> {
    if (this.closed) return { ok: false, refusal: { kind: 'closed' } };
    const waiting = await this.queue.getWaitingCount();
    if (waiting >= this.limits.maxQueue) return { ok: false, refusal: { kind: 'queue_full', waiting, etaSeconds: await this.eta(waiting + 1) } };
    const open = (await this.queue.getJobs([...OPEN_STATES])) as Job<Stored<D>>[];
    if (open.filter((j) => j.data.userId === userId).length >= this.limits.maxPerUser) {
      return { ok: false, refusal: { kind: 'user_limit', limit: this.limits.maxPerUser } };
    }
    const jobId = `d${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
    const position = waiting + 1;
    // The owner shows the job before it is queued: what that writes into `data` (a status message id) travels with it.
    await this.hooks.onPosition({ id: jobId, data }, position, await this.eta(position), true);
    await this.queue.add('job', { userId, data } satisfies Stored<D>, {
      jobId,
      removeOnComplete: { age: 24 * 3600, count: 1000 },
      removeOnFail: { age: 24 * 3600, count: 1000 },
    });
    this.shownPosition.set(jobId, position);
    return { ok: true, jobId, position };
  }

  async cancel(jobId: string, userId: string): Promise<'cancelled' | 'not_owner' | 'gone'> {
    const job = (await Job.fromId(this.queue, jobId)) as Job<Stored<D>> | undefined;
    if (!job) return 'gone';
    if (job.data.userId !== userId) return 'not_owner';
    const state = await job.getState();
    if (state === 'completed' || state === 'failed' || state === 'unknown') return 'gone';
    if (state !== 'active') {
      const removed = await job.remove().then(
        () => true,
        () => false, // it just became active: cancel it where it runs
      );
      if (removed) {
        this.shownPosition.delete(jobId);
        await this.hooks.onEnd({ id: jobId, data: job.data.data }, { kind: 'cancelled' });
        void this.refreshPositions();
        return 'cancelled';
      }
    }
    // The worker running it hears this at once; the key covers a worker that picks it up right now.
    await this.redis.set(cancelKey(jobId), '1', 'EX', 24 * 3600);
    await this.redis.publish(CANCEL_CHANNEL, jobId);
    return 'cancelled';
  }

  /** Keeps waiting jobs' positions up to date as the line moves. */
  private async refreshPositions(): Promise<void> {
    try {
      const line = await this.line();
      this.last = { waiting: line.length, running: await this.queue.getActiveCount() };
      for (const [i, job] of line.entries()) {
        const position = i + 1;
        if (!job.id || this.shownPosition.get(job.id) === position) continue;
        this.shownPosition.set(job.id, position);
        await this.hooks.onPosition({ id: job.id, data: job.data.data }, position, await this.eta(position), false);
      }
      const waitingIds = new Set(line.map((j) => j.id));
      for (const id of this.shownPosition.keys()) if (!waitingIds.has(id)) this.shownPosition.delete(id);
    } catch (err) {
      if (!this.closed) this.log.warn({ err }, 'could not refresh queue positions');
    }
  }

  /** A job ended in some worker: its result, or a failure (its worker died, it was retried once, and died again). */
  private async ended(jobId: string, ending: { kind: 'completed'; result: R } | { kind: 'failed'; reason: string }): Promise<void> {
    try {
      const job = (await Job.fromId(this.queue, jobId)) as Job<Stored<D>> | undefined;
      if (!job) return;
      if (ending.kind === 'failed') this.log.error({ job: jobId, reason: ending.reason }, 'job failed in its worker');
      await this.hooks.onEnd({ id: jobId, data: job.data.data }, ending);
    } catch (err) {
      if (!this.closed) this.log.warn({ err, job: jobId }, 'could not report the end of a job');
    }
  }

  connected(): boolean {
    return !this.closed && this.redis.status === 'ready';
  }

  snapshot(): { waiting: number; running: number } {
    return this.last;
  }

  /** Waiting and running jobs stay in Redis for the workers; this process just stops taking new ones. */
  async shutdown(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.events.close();
    await this.queue.close();
    this.redis.disconnect();
    this.eventsRedis.disconnect();
  }
}
