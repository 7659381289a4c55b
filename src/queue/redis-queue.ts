import { randomBytes } from 'node:crypto';
import { Job, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { isConnectionError, RedisLink } from './redis-link.ts';
import { RedisSlots } from './redis-slots.ts';
import { RedisTurns } from './redis-turns.ts';
import type { JobQueue, QueueHooks, QueueLimits, Submission } from './types.ts';

export const QUEUE_NAME = 'deepdream';
export const CANCEL_CHANNEL = 'deepdream:cancel';
export const cancelKey = (jobId: string) => `deepdream:cancelled:${jobId}`;
/** How often waiting members' positions (and the ETA figures) are refreshed. */
const REFRESH_MS = 2000;
/** How often every member's reservations are checked against the jobs (a repair; `reserve` repairs its own). */
const SWEEP_MS = 60_000;

/** What every job carries, so the queue can enforce the per-member cap across processes. */
interface Stored<D> {
  userId: string;
  data: D;
  /** What the job counts for in the wait estimate, in cost units (absent on older jobs: 1). */
  cost?: number;
}

const costOfStored = (s: Stored<unknown>) => Math.max(1, s.cost ?? 1);

export interface RedisQueueOptions {
  /** How long a reservation waits for its job to be added before it counts as abandoned (default 60 s). */
  reservationTtlMs?: number;
  /** How long a command waits for Redis to answer before the submission is refused (default COMMAND_TIMEOUT_MS). */
  commandTimeoutMs?: number;
}

/**
 * The scaled-out queue, submitting side: jobs go to a BullMQ queue on Redis and `npm run worker` processes anywhere
 * run them (see redis-worker.ts). Accepted jobs survive a restart of this process. This side enforces the caps
 * (atomically, in Redis: redis-slots.ts), reports waiting positions, cancels, and reports every job's end (its
 * result, or a worker that died twice).
 *
 * It fails fast: while Redis is unreachable, or when it does not answer within the command timeout, a submission is
 * refused as `unavailable` at once, and no command waits to run later (the connection has no offline queue).
 */
export class RedisQueue<D, R> implements JobQueue<D> {
  readonly name = 'redis';
  readonly link: RedisLink;
  readonly slots: RedisSlots;
  /** Turns shared by every process on this Redis (the gateway's identify pacing across bot processes). */
  readonly turns: RedisTurns;
  private readonly queue: Queue;
  private readonly events: QueueEvents;
  private readonly redis: Redis;
  private readonly shownPosition = new Map<string, number>();
  /**
   * Jobs whose reserve or add went unanswered: it may still happen when Redis answers again (a command that timed out
   * is still in the connection's pipe). Their members were told to try again, so once Redis answers, the reservation
   * is let go and the job, if it was added, withdrawn. Commands on one connection run in order, so this runs after.
   */
  private readonly abandoned = new Set<string>();
  private timers: NodeJS.Timeout[] = [];
  private last = { waiting: 0, running: 0 };
  /** Cost units of the waiting line beyond one per job, at the last refresh (a zoom of cost 5 adds 4). */
  private extraUnits = 0;
  /** Seconds per cost unit (the last completed jobs' time over their cost) and the workers sharing the line. */
  private pace = { secondsPerUnit: 30, workers: 1 };
  private refreshFailing = false;
  private closed = false;

  private constructor(
    url: string,
    private readonly limits: QueueLimits,
    private readonly hooks: QueueHooks<D, R>,
    private readonly log: Logger,
    options: RedisQueueOptions,
  ) {
    this.link = new RedisLink(url, log, 'dreams are refused until it is back');
    this.redis = this.link.connect('bot', 'commands', options.commandTimeoutMs ? { commandTimeout: options.commandTimeoutMs } : {});
    this.queue = new Queue(QUEUE_NAME, { connection: this.redis });
    // QueueEvents reads with a blocking command on a duplicate of the connection it is given; this one never connects.
    const eventsBase = this.link.connect('events-base', 'patient', { lazyConnect: true }, false);
    this.events = new QueueEvents(QUEUE_NAME, { connection: eventsBase });
    this.queue.on('error', (err) => this.link.report(err, 'queue'));
    this.events.on('error', (err) => this.link.report(err, 'queue events'));
    this.turns = new RedisTurns(this.redis);
    this.slots = new RedisSlots(
      this.redis,
      { wait: this.queue.keys.wait, paused: this.queue.keys.paused, prioritized: this.queue.keys.prioritized, pc: this.queue.keys.pc, jobPrefix: this.queue.toKey('') },
      options.reservationTtlMs,
    );
  }

  static async start<D, R>(url: string, limits: QueueLimits, hooks: QueueHooks<D, R>, log: Logger, options: RedisQueueOptions = {}): Promise<RedisQueue<D, R>> {
    const queue = new RedisQueue(url, limits, hooks, log, options);
    await queue.queue.waitUntilReady();
    await queue.events.waitUntilReady();
    // The connection QueueEvents really reads on: watched too, so the link is up only when events flow.
    queue.link.watch('events', (await queue.events.client) as unknown as Redis);
    queue.link.onChange((up) => {
      if (up) void queue.afterOutage();
    });
    queue.events.on('completed', ({ jobId, returnvalue }) => void queue.ended(jobId, { kind: 'completed', result: returnvalue as R }));
    queue.events.on('failed', ({ jobId, failedReason }) => void queue.ended(jobId, { kind: 'failed', reason: failedReason }));
    queue.timers.push(setInterval(() => void queue.refreshPositions(), REFRESH_MS));
    queue.timers.push(setInterval(() => void queue.sweep(), SWEEP_MS));
    await queue.sweep();
    await queue.refreshPositions();
    return queue;
  }

  /**
   * Seconds until a job starts with `unitsAhead` cost units waiting before it, from the last refresh's figures (no
   * Redis call): the work ahead shared by the workers, plus half a job for the ones running now.
   */
  private eta(unitsAhead: number): number {
    return Math.round((unitsAhead / this.pace.workers + 0.5) * this.pace.secondsPerUnit);
  }

  private async measurePace(): Promise<void> {
    const done = (await this.queue.getCompleted(0, 9)) as Job<Stored<D>>[];
    const timed = done.filter((j) => j.processedOn && j.finishedOn);
    const seconds = timed.reduce((sum, j) => sum + (j.finishedOn! - j.processedOn!) / 1000, 0);
    const units = timed.reduce((sum, j) => sum + costOfStored(j.data), 0);
    this.pace = { secondsPerUnit: units ? seconds / units : 30, workers: Math.max(1, (await this.queue.getWorkersCount()) || 1) };
  }

  /** The waiting jobs in the order they will run: any without a priority first (BullMQ's rule), then by turn. */
  private async line(): Promise<Job<Stored<D>>[]> {
    const waiting = (await this.queue.getWaiting(0, -1)) as Job<Stored<D>>[];
    const byTurn = (await this.queue.getPrioritized(0, -1)) as Job<Stored<D>>[];
    return [...waiting.sort((a, b) => a.timestamp - b.timestamp), ...byTurn];
  }

  private unavailable(step: string, err?: unknown): Submission {
    this.log.warn({ step, reason: err instanceof Error ? err.message : 'Redis is not connected', downSeconds: this.link.downSeconds() }, 'dream refused: the queue (Redis) is unavailable');
    return { ok: false, refusal: { kind: 'unavailable' } };
  }

  async submit({ userId, data, cost }: { userId: string; data: D; cost?: number }): Promise<Submission> {
    if (this.closed) return { ok: false, refusal: { kind: 'closed' } };
    if (!this.link.up) return this.unavailable('connect');
    const jobId = `d${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
    // Both caps, checked and taken in one step in Redis, before anything slow: a burst cannot slip through.
    let reservation;
    try {
      reservation = await this.slots.reserve(userId, jobId, this.limits, cost);
    } catch (err) {
      // Unanswered: the reservation may still be made when Redis answers again; it is let go then.
      this.abandoned.add(jobId);
      return this.unavailable('reserve', err);
    }
    if (reservation.kind === 'user_limit') return { ok: false, refusal: { kind: 'user_limit', limit: this.limits.maxPerUser } };
    if (reservation.kind === 'queue_full') return { ok: false, refusal: { kind: 'queue_full', waiting: reservation.waiting, etaSeconds: this.eta(reservation.waiting + this.extraUnits) } };
    // Its place in fair turns (see redis-slots.ts). Each job ahead counts one unit, plus the extra units of heavy
    // jobs seen in the line at the last refresh.
    const position = reservation.ahead + 1;
    const unitsAhead = reservation.ahead + this.extraUnits;
    try {
      // The owner shows the job before it is queued: what that writes into `data` (a status message id) travels with it.
      await this.hooks.onPosition({ id: jobId, data }, position, this.eta(unitsAhead), true);
    } catch (err) {
      await this.release(jobId);
      throw err;
    }
    if (this.closed || !this.link.up) {
      if (!this.link.up) this.abandoned.add(jobId);
      void this.release(jobId);
      return this.closed ? { ok: false, refusal: { kind: 'closed' } } : this.unavailable('add');
    }
    try {
      await this.queue.add('job', { userId, data, cost: Math.max(1, Math.ceil(cost ?? 1)) } satisfies Stored<D>, {
        jobId,
        // Its turn (fair turns): BullMQ runs lower priorities first, equal ones in the order they were set.
        priority: reservation.turn,
        removeOnComplete: { age: 24 * 3600, count: 1000 },
        removeOnFail: { age: 24 * 3600, count: 1000 },
      });
    } catch (err) {
      // Unanswered: the add may still have reached Redis. The member is told now, so it must not run later.
      this.abandoned.add(jobId);
      void this.release(jobId);
      return this.unavailable('add', err);
    }
    // If this fails, the next reservation made by any bot confirms it (its job exists).
    await this.slots.confirm(userId, jobId).catch((err: unknown) => this.link.report(err, 'confirm reservation'));
    this.shownPosition.set(jobId, position);
    // It went ahead of jobs in later turns: they hear their new places now rather than at the next refresh.
    if (reservation.ahead < reservation.waiting) void this.refreshPositions();
    return { ok: true, jobId, position };
  }

  /** Frees a job's slots; when Redis cannot be told, the reservation's deadline or the next repair frees them. */
  private async release(jobId: string): Promise<void> {
    await this.slots.release(jobId).catch((err: unknown) => this.link.report(err, 'release reservation'));
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
        await this.release(jobId);
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

  /** Keeps waiting jobs' positions and the ETA figures up to date as the line moves. */
  private async refreshPositions(): Promise<void> {
    if (this.closed || !this.link.up) return;
    if (this.abandoned.size) await this.withdrawAbandoned();
    try {
      const line = await this.line();
      this.last = { waiting: line.length, running: await this.queue.getActiveCount() };
      await this.measurePace();
      let unitsAhead = 0;
      for (const [i, job] of line.entries()) {
        const position = i + 1;
        const ahead = unitsAhead;
        unitsAhead += costOfStored(job.data);
        if (!job.id || this.shownPosition.get(job.id) === position) continue;
        this.shownPosition.set(job.id, position);
        await this.hooks.onPosition({ id: job.id, data: job.data.data }, position, this.eta(ahead), false);
      }
      this.extraUnits = unitsAhead - line.length;
      const waitingIds = new Set(line.map((j) => j.id));
      for (const id of this.shownPosition.keys()) if (!waitingIds.has(id)) this.shownPosition.delete(id);
      if (this.refreshFailing) this.log.info('queue positions refresh again');
      this.refreshFailing = false;
    } catch (err) {
      if (this.closed) return;
      // Once per stretch of failures, not every 2 s; connection errors belong to the outage already logged.
      if (!this.refreshFailing && !isConnectionError(err)) this.log.warn({ err }, 'could not refresh queue positions');
      else this.log.debug({ err }, 'could not refresh queue positions');
      this.refreshFailing = true;
    }
  }

  /** Lets go of reservations whose jobs ended unheard (see redis-slots.ts). */
  private async sweep(): Promise<void> {
    if (this.closed || !this.link.up) return;
    try {
      const released = await this.slots.sweep();
      if (released) this.log.info({ released }, 'released reservations of jobs that ended unheard');
    } catch (err) {
      this.link.report(err, 'sweep reservations');
    }
  }

  /** Redis is back: what it was asked while it did not answer must not take effect now. */
  private async afterOutage(): Promise<void> {
    await this.withdrawAbandoned();
    await this.sweep();
  }

  /** Lets go of unanswered reservations and withdraws unanswered jobs (see `abandoned`). */
  private async withdrawAbandoned(): Promise<void> {
    for (const jobId of [...this.abandoned]) {
      if (this.closed || !this.link.up) return;
      try {
        await this.slots.release(jobId);
        const job = await Job.fromId(this.queue, jobId);
        if (job) {
          const state = await job.getState();
          if (state === 'active') {
            await this.redis.set(cancelKey(jobId), '1', 'EX', 24 * 3600);
            await this.redis.publish(CANCEL_CHANNEL, jobId);
          } else if (state !== 'completed' && state !== 'failed') {
            await job.remove();
          }
          await this.slots.release(jobId);
          this.log.info({ job: jobId, state }, 'withdrew a job whose queueing went unanswered');
        }
        this.abandoned.delete(jobId);
      } catch (err) {
        this.link.report(err, 'withdraw job');
      }
    }
  }

  /** A job ended in some worker: its result, or a failure (its worker died, it was retried once, and died again). */
  private async ended(jobId: string, ending: { kind: 'completed'; result: R } | { kind: 'failed'; reason: string }): Promise<void> {
    try {
      await this.release(jobId);
      const job = (await Job.fromId(this.queue, jobId)) as Job<Stored<D>> | undefined;
      if (!job) return;
      if (ending.kind === 'failed') this.log.error({ job: jobId, reason: ending.reason }, 'job failed in its worker');
      await this.hooks.onEnd({ id: jobId, data: job.data.data }, ending);
    } catch (err) {
      if (!this.closed) this.log.warn({ err, job: jobId }, 'could not report the end of a job');
    }
  }

  connected(): boolean {
    return !this.closed && this.link.up;
  }

  /** Seconds Redis has been unreachable (0 when connected). */
  downSeconds(): number {
    return this.link.downSeconds();
  }

  snapshot(): { waiting: number; running: number } {
    return this.last;
  }

  /** Waiting and running jobs stay in Redis for the workers; this process just stops taking new ones. */
  async shutdown(): Promise<void> {
    this.closed = true;
    this.link.closingSoon();
    for (const t of this.timers) clearInterval(t);
    await this.events.close();
    await this.queue.close();
    this.link.disconnect();
  }
}
