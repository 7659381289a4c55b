import { CancelledError } from '../errors.ts';
import { JobLine, QueueClosedError } from './memory-line.ts';
import type { Ending, JobQueue, Processor, QueueHooks, QueueLimits, Submission } from './types.ts';

/** The single-machine queue: a JobLine (p-queue) in this process, running the processor here. */
export class MemoryQueue<D, L, R> implements JobQueue<D, L> {
  readonly name = 'memory';
  readonly line: JobLine;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    limits: QueueLimits,
    private readonly processor: Processor<D, L, R>,
    private readonly hooks: QueueHooks<D, R>,
  ) {
    this.line = new JobLine(limits);
  }

  async submit({ userId, data, local, cost }: { userId: string; data: D; local?: L; cost?: number }): Promise<Submission> {
    let started = false;
    const submission = this.line.submit(
      userId,
      (signal, id) => {
        started = true;
        return this.processor({ id, userId, data, local }, signal);
      },
      { onPosition: (position, eta, id) => void this.hooks.onPosition({ id, data }, position, eta, false) },
      cost,
    );
    if (!submission.ok) return submission;
    const job = { id: submission.jobId, data };
    void this.hooks.onPosition(job, submission.position, submission.etaSeconds, true);
    const ending = submission.done.then(
      (result): Ending<R> => ({ kind: 'completed', result }),
      (err: unknown): Ending<R> => {
        if (err instanceof QueueClosedError) return { kind: 'not_run' };
        if (err instanceof CancelledError && !started) return { kind: 'cancelled' };
        return { kind: 'failed', reason: err instanceof Error ? err.message : String(err) };
      },
    );
    const tracked = ending.then((e) => this.hooks.onEnd(job, e)).finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
    return { ok: true, jobId: submission.jobId, position: submission.position };
  }

  async cancel(jobId: string, userId: string): Promise<'cancelled' | 'not_owner' | 'gone'> {
    const owner = this.line.ownerOf(jobId);
    if (!owner) return 'gone';
    if (owner !== userId) return 'not_owner';
    return this.line.cancel(jobId) ? 'cancelled' : 'gone';
  }

  connected(): boolean {
    return true;
  }

  snapshot(): { waiting: number; running: number } {
    return { waiting: this.line.waiting, running: this.line.running };
  }

  /** Waiting jobs end as not run; the running one finishes or is cancelled after the grace. */
  async shutdown(graceMs: number): Promise<void> {
    await this.line.shutdown(graceMs);
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }
}
