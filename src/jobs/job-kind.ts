import type { Logger } from 'pino';
import type { RgbImage } from '../imaging/index.ts';
import type { DreamRunner } from '../runner/index.ts';
import type { ImageRef } from './image-source.ts';
import type { JobData, RunnableJob } from './job.ts';
import type { JobMessages } from './job-messages.ts';
import type { JobView } from './reply-target.ts';

/** What a job's body gives back: its final view, and whether a dream was retried smaller. */
export interface JobBody {
  view: JobView;
  retried?: boolean;
}

/** What a job kind may use of the processor that runs it (JobProcessor is one). */
export interface JobContext {
  readonly deps: {
    messages: JobMessages;
    runner: DreamRunner;
    /** Name shown in dream recipes. */
    modelName: string;
    /** The smallest side the model accepts. */
    minSide: number;
    /** Download rules, and the size inputs are decoded at. */
    input: { maxSide: number; maxInputPixels: number };
    /** Seconds per dream step, as they happen (metrics). */
    onStep?: (seconds: number) => void;
  };
  /** The largest upload a job's message takes. */
  uploadBudget(job: RunnableJob): number;
  /** A source's bytes, within the download rules. */
  download(source: ImageRef, signal: AbortSignal): Promise<Buffer>;
}

export type JobKindName = NonNullable<JobData['kind']>;
/** The job data of one kind (a dream's `kind` may be absent: jobs queued by an older version). */
export type JobDataOf<K extends JobKindName> = Extract<JobData, { kind?: K }>;

/** One kind of job: how its pictures are read (when not the default), and its work from inputs to final view. */
export interface JobKind<K extends JobKindName> {
  /**
   * The job's input pictures when they are not each source decoded as a still (an animation's frames); only when
   * the requester's process did not hand them over already.
   */
  read?(ctx: JobContext, job: RunnableJob & { data: JobDataOf<K> }, signal: AbortSignal): Promise<RgbImage[]>;
  /** The inputs screened for safety (default: all of them). */
  screened?(inputs: RgbImage[]): RgbImage[];
  run(ctx: JobContext, job: RunnableJob & { data: JobDataOf<K> }, inputs: RgbImage[], signal: AbortSignal, log: Logger): Promise<JobBody>;
}

/**
 * The job kinds a processor runs, by name: handed to the JobProcessor (as BullMQ's Worker is handed a processor), so
 * the processor knows no kind and a new kind is a new entry.
 */
export type JobKinds = { [K in JobKindName]: JobKind<K> };
