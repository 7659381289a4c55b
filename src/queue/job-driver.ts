import type { RgbImage } from '../imaging/index.ts';
import type { DreamJobSpec } from '../bot/job-processor.ts';
import type { Refusal } from './dream-queue.ts';

/** A validated request ready to queue: the spec (without its id yet) and the decoded input. */
export interface JobRequest {
  spec: Omit<DreamJobSpec, 'jobId'>;
  image: RgbImage;
}

export type EnqueueResult = { ok: true; jobId: string; position: number } | { ok: false; refusal: Refusal };

/**
 * Where accepted dreams wait and run. `memory`: a p-queue in the bot process, dreams in its worker threads.
 * `redis`: a BullMQ queue on Redis, dreams in `npm run worker` processes anywhere. Commands do not know which.
 */
export interface JobDriver {
  readonly name: 'memory' | 'redis';
  /** Queues a job and shows its place in line on its message, or refuses it. */
  enqueue(req: JobRequest): Promise<EnqueueResult>;
  cancel(jobId: string, userId: string): Promise<'cancelled' | 'not_owner' | 'gone'>;
  /** Whether the driver can take jobs now (Redis reachable, not shut down). */
  connected(): boolean;
  /** Waiting and running jobs, as last known (for health and metrics). */
  snapshot(): { waiting: number; running: number };
  /** Stops taking jobs; see each driver for what happens to waiting and running ones. */
  shutdown(graceMs: number): Promise<void>;
}
