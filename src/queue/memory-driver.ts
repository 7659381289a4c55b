import type { Logger } from 'pino';
import type { REST } from 'discord.js';
import { DreamCancelledError } from '../engine/dream.ts';
import type { JobProcessor } from '../bot/job-processor.ts';
import type { BotMetrics } from '../bot/metrics.ts';
import { RestReplyTarget } from '../bot/reply-target.ts';
import { StatusEditor } from '../bot/status-editor.ts';
import { endView, waitingView } from '../bot/status-messages.ts';
import { QueueClosedError, type DreamQueue } from './dream-queue.ts';
import type { EnqueueResult, JobDriver, JobRequest } from './job-driver.ts';

/** The single-machine driver: DreamQueue (p-queue) in the bot process, dreams in its worker threads. */
export class MemoryDriver implements JobDriver {
  readonly name = 'memory';
  private readonly pending = new Set<Promise<void>>();

  constructor(
    readonly queue: DreamQueue,
    private readonly deps: { processor: JobProcessor; rest: REST; log: Logger; metrics?: BotMetrics },
  ) {}

  async enqueue({ spec, image }: JobRequest): Promise<EnqueueResult> {
    const { processor, rest, log, metrics } = this.deps;
    const editor = new StatusEditor(new RestReplyTarget(rest, spec.reply), log);
    let started = false;
    const submission = this.queue.submit(
      spec.userId,
      (signal, id) => {
        started = true;
        return processor.run({ ...spec, jobId: id }, editor, signal, image);
      },
      { onPosition: (position, eta, id) => editor.update(waitingView(id, position, eta)) },
    );
    if (!submission.ok) return submission;
    const { jobId } = submission;
    editor.update(waitingView(jobId, submission.position, submission.etaSeconds), true);
    // Endings while waiting; a running job's endings are shown by the processor.
    const ending = submission.done.then(
      () => undefined,
      async (err: unknown) => {
        if (started && err instanceof DreamCancelledError) return;
        const outcome = err instanceof QueueClosedError ? 'not_run' : 'cancelled';
        metrics?.jobs.inc({ outcome });
        log.info({ job: jobId, outcome }, 'dream ended before it ran');
        await editor.finish(endView(err instanceof QueueClosedError ? `⚠️ ${err.message}` : '🚫 Cancelled.'));
      },
    );
    const tracked = ending.finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
    return { ok: true, jobId, position: submission.position };
  }

  async cancel(jobId: string, userId: string): Promise<'cancelled' | 'not_owner' | 'gone'> {
    const owner = this.queue.ownerOf(jobId);
    if (!owner) return 'gone';
    if (owner !== userId) return 'not_owner';
    return this.queue.cancel(jobId) ? 'cancelled' : 'gone';
  }

  connected(): boolean {
    return true;
  }

  snapshot(): { waiting: number; running: number } {
    return { waiting: this.queue.waiting, running: this.queue.running };
  }

  /** Waiting jobs are told they were not run; the running one finishes or is cancelled after the grace. */
  async shutdown(graceMs: number): Promise<void> {
    await this.queue.shutdown(graceMs);
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }
}
