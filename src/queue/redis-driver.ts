import { randomBytes } from 'node:crypto';
import { Job, Queue, QueueEvents } from 'bullmq';
import type { REST } from 'discord.js';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { DreamJobSpec } from '../bot/job-processor.ts';
import { RestReplyTarget } from '../bot/reply-target.ts';
import { END_TEXT, endView, waitingView } from '../bot/status-messages.ts';
import type { QueueLimits } from './dream-queue.ts';
import type { EnqueueResult, JobDriver, JobRequest } from './job-driver.ts';

export const QUEUE_NAME = 'deepdream';
export const CANCEL_CHANNEL = 'deepdream:cancel';
export const cancelKey = (jobId: string) => `deepdream:cancelled:${jobId}`;
/** Jobs a member still has in line or running. */
const OPEN_STATES = ['waiting', 'active', 'prioritized', 'delayed'] as const;

export function redisConnection(url: string): Redis {
  // BullMQ needs maxRetriesPerRequest: null for its blocking commands.
  return new Redis(url, { maxRetriesPerRequest: null });
}

/**
 * The scaled-out driver, bot side: jobs go to a BullMQ queue on Redis and `npm run worker` processes anywhere run
 * them and post progress and results over Discord's REST API themselves. Accepted jobs survive a bot restart.
 * This side enforces the caps, shows waiting positions, cancels, and reports jobs whose worker died twice.
 */
export class RedisDriver implements JobDriver {
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
    private readonly deps: { rest: REST; log: Logger },
  ) {
    this.redis = redisConnection(url);
    this.queue = new Queue(QUEUE_NAME, { connection: this.redis });
    this.eventsRedis = redisConnection(url);
    this.events = new QueueEvents(QUEUE_NAME, { connection: this.eventsRedis });
  }

  static async start(url: string, limits: QueueLimits, deps: { rest: REST; log: Logger }): Promise<RedisDriver> {
    const driver = new RedisDriver(url, limits, deps);
    await driver.queue.waitUntilReady();
    await driver.events.waitUntilReady();
    driver.events.on('failed', ({ jobId, failedReason }) => void driver.onFailed(jobId, failedReason));
    driver.timer = setInterval(() => void driver.refreshPositions(), 2000);
    await driver.refreshPositions();
    return driver;
  }

  private target(spec: Pick<DreamJobSpec, 'reply'>): RestReplyTarget {
    return new RestReplyTarget(this.deps.rest, spec.reply);
  }

  /** Average seconds a job takes, from the last finished ones; 30 s before any finished. */
  private async averageSeconds(): Promise<number> {
    const done = await this.queue.getCompleted(0, 9);
    const times = done.filter((j) => j.processedOn && j.finishedOn).map((j) => (j.finishedOn! - j.processedOn!) / 1000);
    return times.length ? times.reduce((a, b) => a + b, 0) / times.length : 30;
  }

  private async line(): Promise<Job<DreamJobSpec>[]> {
    const waiting = (await this.queue.getWaiting(0, -1)) as Job<DreamJobSpec>[];
    return waiting.sort((a, b) => a.timestamp - b.timestamp);
  }

  private async eta(position: number): Promise<number> {
    const workers = Math.max(1, (await this.queue.getWorkersCount()) || 1);
    return Math.round((Math.ceil(position / workers) - 0.5) * (await this.averageSeconds()));
  }

  async enqueue({ spec }: JobRequest): Promise<EnqueueResult> {
    if (this.closed) return { ok: false, refusal: { kind: 'closed' } };
    const waiting = await this.queue.getWaitingCount();
    if (waiting >= this.limits.maxQueue) return { ok: false, refusal: { kind: 'queue_full', waiting, etaSeconds: await this.eta(waiting + 1) } };
    const open = await this.queue.getJobs([...OPEN_STATES]);
    if (open.filter((j) => (j.data as DreamJobSpec).userId === spec.userId).length >= this.limits.maxPerUser) {
      return { ok: false, refusal: { kind: 'user_limit', limit: this.limits.maxPerUser } };
    }
    const jobId = `d${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
    const position = waiting + 1;
    // Show the job before queueing it: a reply to a message gets its id here, and workers edit that message.
    await this.target(spec).show(waitingView(jobId, position, await this.eta(position)));
    await this.queue.add('dream', { ...spec, jobId } satisfies DreamJobSpec, {
      jobId,
      removeOnComplete: { age: 24 * 3600, count: 1000 },
      removeOnFail: { age: 24 * 3600, count: 1000 },
    });
    this.shownPosition.set(jobId, position);
    return { ok: true, jobId, position };
  }

  async cancel(jobId: string, userId: string): Promise<'cancelled' | 'not_owner' | 'gone'> {
    const job = (await Job.fromId(this.queue, jobId)) as Job<DreamJobSpec> | undefined;
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
        await this.target(job.data).show(endView(END_TEXT.cancelled), true);
        void this.refreshPositions();
        return 'cancelled';
      }
    }
    // The worker running it hears this at once; the key covers a worker that picks it up right now.
    await this.redis.set(cancelKey(jobId), '1', 'EX', 24 * 3600);
    await this.redis.publish(CANCEL_CHANNEL, jobId);
    return 'cancelled';
  }

  /** Keeps waiting members' messages up to date as the line moves. */
  private async refreshPositions(): Promise<void> {
    try {
      const line = await this.line();
      this.last = { waiting: line.length, running: await this.queue.getActiveCount() };
      for (const [i, job] of line.entries()) {
        const position = i + 1;
        if (!job.id || this.shownPosition.get(job.id) === position) continue;
        this.shownPosition.set(job.id, position);
        await this.target(job.data).show(waitingView(job.id, position, await this.eta(position)));
      }
      const waitingIds = new Set(line.map((j) => j.id));
      for (const id of this.shownPosition.keys()) if (!waitingIds.has(id)) this.shownPosition.delete(id);
    } catch (err) {
      if (!this.closed) this.deps.log.warn({ err }, 'could not refresh queue positions');
    }
  }

  /** A job whose worker died, was retried once, and died again: tell its member clearly. */
  private async onFailed(jobId: string, reason: string): Promise<void> {
    if (!/stalled/i.test(reason)) return;
    const job = (await Job.fromId(this.queue, jobId)) as Job<DreamJobSpec> | undefined;
    if (!job) return;
    this.deps.log.error({ job: jobId, reason }, 'dream failed: its worker stopped twice');
    await this.target(job.data)
      .show(endView('⚠️ The dream workers stopped unexpectedly twice while dreaming this image, so I gave up. Please try again.'), true)
      .catch((err: Error) => this.deps.log.warn({ err }, 'could not report a failed job'));
  }

  connected(): boolean {
    return !this.closed && this.redis.status === 'ready';
  }

  snapshot(): { waiting: number; running: number } {
    return this.last;
  }

  /** Waiting and running jobs stay in Redis for the workers; this bot just stops taking new ones. */
  async shutdown(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.events.close();
    await this.queue.close();
    this.redis.disconnect();
    this.eventsRedis.disconnect();
  }
}
