import type { DreamParams, Intensity } from '../engine/index.ts';
import type { RgbImage } from '../imaging/index.ts';
import type { ImageRef } from './image-source.ts';
import type { ReplyAddress } from './reply-target.ts';

/** A dream job as data (JSON): everything needed to finish it, in the bot process or in a queue worker. */
export interface DreamJob {
  /** Absent on jobs queued by an older version: those are dreams. */
  kind?: 'dream';
  source: ImageRef;
  params: DreamParams & { intensity: Intensity };
  reply: ReplyAddress;
}

/** An Explain job: the top labels of one picture, or of an original and its dream side by side, with heatmaps. */
export interface ExplainJob {
  kind: 'explain';
  /** One picture, or [original, dream]. */
  sources: ImageRef[];
  /** The class to paint (checked before queueing); default: each picture's most probable. */
  target?: string;
  /** A trained style whose classes explain the picture (default: the ImageNet classifier). */
  style?: string;
  reply: ReplyAddress;
}

export type JobData = DreamJob | ExplainJob;

/** A job as the queue hands it over: `local` holds the decoded inputs when the requester's process runs it. */
export interface RunnableJob {
  id: string;
  userId: string;
  data: JobData;
  local?: RgbImage[];
}

export type JobRef = { id: string; data: JobData };

export type JobOutcome = 'done' | 'failed' | 'cancelled' | 'refused';

/** What a finished job reports (JSON, so it can come back through Redis). */
export interface JobResult {
  outcome: JobOutcome;
  /** Seconds from start to posted result, for finished jobs. */
  seconds?: number;
  /** The dream was retried once at a smaller size after a backend error. */
  retried?: boolean;
}

/** How a job ended without running; shown on its message. */
export type NotRunEnding = 'cancelled' | 'not_run' | 'failed';

/** The pictures a job reads, in order. */
export function sourcesOf(data: JobData): ImageRef[] {
  return data.kind === 'explain' ? data.sources : [data.source];
}
