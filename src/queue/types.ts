/** Caps of a queue. */
export interface QueueLimits {
  /** Jobs running at once (1 = one GPU). */
  concurrency: number;
  /** Jobs allowed to wait; more are refused. */
  maxQueue: number;
  /** Jobs (waiting or running) one member may have. */
  maxPerUser: number;
}

/**
 * Why a job was not accepted. `unavailable`: the queue's store (Redis) is unreachable or did not answer in time;
 * nothing was queued, the member should try again shortly.
 */
export type Refusal =
  | { kind: 'queue_full'; waiting: number; etaSeconds: number }
  | { kind: 'user_limit'; limit: number }
  | { kind: 'closed' }
  | { kind: 'unavailable' };

/** A job as a processor sees it: `data` is plain JSON (it may cross Redis); `local` only exists in this process. */
export interface QueueJob<D, L = never> {
  id: string;
  userId: string;
  data: D;
  /** Something the submitting process already has (a decoded image), handed over only in memory mode. */
  local?: L;
}

/** Runs one job to its end, as BullMQ's `Processor` does: it never sees the queue. Its result must be JSON. */
export type Processor<D, L, R> = (job: QueueJob<D, L>, signal: AbortSignal) => Promise<R>;

/** How a job left the queue: it ran (with the processor's result), or it never ran, or its worker died twice. */
export type Ending<R> =
  | { kind: 'completed'; result: R }
  | { kind: 'cancelled' }
  | { kind: 'not_run' }
  | { kind: 'failed'; reason: string };

/** What the queue tells its owner; none of it is about Discord. */
export interface QueueHooks<D, R> {
  /** A waiting job's place in line (1 = next) and the estimated wait; `first` when it was just accepted. */
  onPosition(job: { id: string; data: D }, position: number, etaSeconds: number, first: boolean): Promise<void> | void;
  /** Every job's end, once, whichever process ran it. */
  onEnd(job: { id: string; data: D }, ending: Ending<R>): Promise<void> | void;
}

export type Submission = { ok: true; jobId: string; position: number } | { ok: false; refusal: Refusal };

/**
 * Where accepted jobs wait and run. `memory`: a p-queue in this process, running the processor here.
 * `redis`: a BullMQ queue, run by `npm run worker` processes anywhere. Callers do not know which. Both serve members
 * in fair turns (fair-turns.ts), and the positions they report are places in that order.
 */
export interface JobQueue<D, L = never> {
  readonly name: 'memory' | 'redis';
  /**
   * `cost`: what the job counts for in the caps and the wait estimate, in ordinary jobs (default 1; a long
   * animation costs several). The memory queue honours it; the Redis queue counts every job as 1 for now.
   */
  submit(job: { userId: string; data: D; local?: L; cost?: number }): Promise<Submission>;
  cancel(jobId: string, userId: string): Promise<'cancelled' | 'not_owner' | 'gone'>;
  /** Whether the queue can take jobs now (Redis reachable, not shut down). */
  connected(): boolean;
  /** Waiting and running jobs, as last known (for health and metrics). */
  snapshot(): { waiting: number; running: number };
  /** Stops taking jobs; see each queue for what happens to waiting and running ones. */
  shutdown(graceMs: number): Promise<void>;
}
