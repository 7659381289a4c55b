import PQueue from 'p-queue';
import { CancelledError } from '../errors.ts';
import { byTurn, turnOf } from './fair-turns.ts';
import type { QueueLimits, Refusal } from './types.ts';

export interface JobEvents {
  /** Called whenever the job's place in line changes (1 = next), with an estimate of the wait. */
  onPosition?: (position: number, etaSeconds: number, jobId: string) => void;
}

/** The queue is shutting down: the job was never run. */
export class QueueClosedError extends Error {
  override name = 'QueueClosedError';
  constructor() {
    super('The queue closed before this job ran.');
  }
}

interface Job {
  id: string;
  userId: string;
  /** What the job counts for in the caps and the wait estimate, in ordinary jobs (1 by default). */
  cost: number;
  events: JobEvents;
  abort: AbortController;
  state: 'waiting' | 'running' | 'done';
  reject: (err: Error) => void;
  /** Runs the job's task to its end (settling `done`). */
  run: () => Promise<void>;
  /** Submission order. */
  seq: number;
  /** Its member's turn it waits for (see `fair-turns.ts`), and when it took that turn (ties go to the earlier). */
  turn: number;
  turnSeq: number;
  /** The place in line its member was last told (0: none yet). */
  shown: number;
}

export type Submission<T> = { ok: true; jobId: string; position: number; etaSeconds: number; done: Promise<T> } | { ok: false; refusal: Refusal };

/**
 * The line in front of the GPU: p-queue runs `concurrency` jobs at a time; this class adds fair turns (members are
 * served in turn: a member's second job waits behind every other member's first, see `fair-turns.ts`), the caps,
 * positions with a wait estimate from measured throughput, cancellation of waiting and running jobs,
 * and an orderly shutdown. Each submission adds one p-queue task, and a task runs whichever job is at the head of the
 * fair line when a slot frees (not necessarily its own), so p-queue keeps the concurrency and this class the order.
 */
export class JobLine {
  private readonly queue: PQueue;
  private readonly jobs = new Map<string, Job>();
  private waitingLine: Job[] = [];
  private closed = false;
  private nextId = 1;
  private nextSeq = 1;
  /** Moving average of seconds per cost unit (a job of cost 1), seeded with a guess until jobs finish. */
  private averageSeconds: number;

  constructor(
    private readonly limits: QueueLimits,
    initialJobSeconds = 30,
  ) {
    this.queue = new PQueue({ concurrency: limits.concurrency });
    this.averageSeconds = initialJobSeconds;
  }

  get waiting(): number {
    return this.waitingLine.length;
  }

  get running(): number {
    return [...this.jobs.values()].filter((j) => j.state === 'running').length;
  }

  /**
   * Seconds until the job at `position` (1 = next) starts: the work ahead of it, in cost units (running jobs taken as
   * half done, the waiting ones before it in full), shared by the workers, at the measured seconds per unit.
   */
  private etaFor(position: number): number {
    const running = [...this.jobs.values()].filter((j) => j.state === 'running');
    const free = this.limits.concurrency - running.length;
    if (position <= free) return 0;
    const ahead = this.waitingLine.slice(0, position - 1).reduce((sum, j) => sum + j.cost, 0);
    const inFlight = running.reduce((sum, j) => sum + j.cost, 0) / 2;
    const units = (ahead - Math.max(0, free) + inFlight) / this.limits.concurrency;
    return Math.round(Math.max(0.5, units) * this.averageSeconds);
  }

  /** Estimated seconds until a newly queued job would start. */
  etaForNewJob(): number {
    return this.etaFor(this.waitingLine.length + 1);
  }

  /** Cost units a member has waiting or running (what counts toward `maxPerUser`). */
  costOf(userId: string): number {
    let n = 0;
    for (const j of this.jobs.values()) if (j.userId === userId && j.state !== 'done') n += j.cost;
    return n;
  }

  ownerOf(jobId: string): string | undefined {
    return this.jobs.get(jobId)?.userId;
  }

  /**
   * Queues `task`; it may start before this returns, so it gets its job id as an argument. `cost` (default 1) is what
   * the job counts for toward the member's cap, at most the whole cap (so a member with nothing queued can always ask
   * for one big job), and how much it weighs in the wait estimates of the jobs behind it.
   */
  submit<T>(userId: string, task: (signal: AbortSignal, jobId: string) => Promise<T>, events: JobEvents = {}, cost = 1): Submission<T> {
    if (this.closed) return { ok: false, refusal: { kind: 'closed' } };
    const units = Math.min(Math.max(1, Math.ceil(cost)), this.limits.maxPerUser);
    if (this.costOf(userId) + units > this.limits.maxPerUser) return { ok: false, refusal: { kind: 'user_limit', limit: this.limits.maxPerUser } };
    if (this.waitingLine.length >= this.limits.maxQueue) {
      return { ok: false, refusal: { kind: 'queue_full', waiting: this.waitingLine.length, etaSeconds: this.etaForNewJob() } };
    }
    const id = `j${this.nextId++}`;
    let reject!: (err: Error) => void;
    let resolve!: (value: T) => void;
    const done = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const seq = this.nextSeq++;
    const job: Job = {
      id,
      userId,
      cost: Math.max(1, Math.ceil(cost)),
      events,
      abort: new AbortController(),
      state: 'waiting',
      reject,
      seq,
      turn: 0,
      turnSeq: seq,
      shown: 0,
      run: async () => {
        const started = Date.now();
        try {
          const value = await task(job.abort.signal, job.id);
          this.averageSeconds = 0.7 * this.averageSeconds + 0.3 * ((Date.now() - started) / 1000 / job.cost);
          resolve(value);
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        } finally {
          this.ended(job);
        }
      },
    };
    this.jobs.set(id, job);
    job.turn = turnOf(job, this.jobs.values());
    this.waitingLine.push(job);
    this.reorder();
    job.shown = this.waitingLine.indexOf(job) + 1;
    const position = job.shown;
    const etaSeconds = this.etaFor(position);
    // Jobs this one went ahead of (later turns) hear their new places.
    this.announce(false);
    void this.queue.add(() => this.runNext());
    return { ok: true, jobId: id, position, etaSeconds, done };
  }

  /** Runs the head of the fair line, if any (a cancelled job leaves one task with nothing to run). */
  private async runNext(): Promise<void> {
    const job = this.waitingLine[0];
    if (!job) return;
    this.waitingLine.shift();
    job.state = 'running';
    this.announce(true);
    await job.run();
  }

  /** Cancels a waiting or running job; returns false when there is no such job any more. */
  cancel(jobId: string): boolean {
    const job = this.jobs.get(jobId);
    if (!job || job.state === 'done') return false;
    if (job.state === 'waiting') {
      this.waitingLine = this.waitingLine.filter((j) => j !== job);
      this.ended(job);
      job.reject(new CancelledError());
    } else {
      job.abort.abort();
    }
    return true;
  }

  /** A job is over (finished, failed or cancelled): its member's later jobs move up a turn. */
  private ended(job: Job): void {
    job.state = 'done';
    this.jobs.delete(job.id);
    if (this.closed) return;
    for (const j of this.waitingLine) {
      if (j.userId !== job.userId) continue;
      const turn = turnOf(j, this.jobs.values());
      if (turn !== j.turn) [j.turn, j.turnSeq] = [turn, this.nextSeq++];
    }
    this.reorder();
    this.announce(false);
  }

  private reorder(): void {
    this.waitingLine.sort(byTurn);
  }

  /** Tells waiting jobs their place: every one (`all`: the line moved, estimates too) or those whose place changed. */
  private announce(all: boolean): void {
    this.waitingLine.forEach((j, i) => {
      const position = i + 1;
      if (!all && j.shown === position) return;
      j.shown = position;
      j.events.onPosition?.(position, this.etaFor(position), j.id);
    });
  }

  /**
   * Stops taking jobs, fails every waiting job with QueueClosedError, lets running jobs finish for up to
   * `graceMs`, then cancels them. Resolves when nothing runs any more.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.closed = true;
    const waiting = this.waitingLine;
    this.waitingLine = [];
    for (const job of waiting) {
      job.state = 'done';
      this.jobs.delete(job.id);
      job.reject(new QueueClosedError());
    }
    const idle = this.queue.onIdle();
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceMs).unref());
    if ((await Promise.race([idle, timer])) === 'timeout') {
      for (const job of this.jobs.values()) job.abort.abort();
      await idle;
    }
  }
}
