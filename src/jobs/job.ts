import { ANIMATION_DEFAULTS, ZOOM_DEFAULTS, type AnimationParams, type DreamParams, type Intensity, type ZoomParams } from '../engine/light.ts';
import type { RgbImage } from '../imaging/index.ts';
import type { ImageRef } from './image-source.ts';
import type { ReplyAddress } from './reply-target.ts';

/** A dream job as data (JSON): everything needed to finish it, in the bot process or in a queue worker. */
export interface DreamJob {
  /** Absent on jobs queued by an older version: those are dreams. */
  kind?: 'dream';
  source: ImageRef;
  params: DreamParams & { intensity: Intensity };
  /** A guide picture that decides what grows (read at GUIDE_MAX_SIDE); the params carry no pixels. */
  guide?: ImageRef;
  /** The dream layer the guide steers (resolved before queueing). */
  guideLayer?: string;
  reply: ReplyAddress;
}

/** An endless-zoom animation of one picture: the recipe only (no pixels), so it crosses Redis as JSON. */
export interface ZoomJob {
  kind: 'zoom';
  source: ImageRef;
  params: ZoomParams & { intensity: Intensity };
  reply: ReplyAddress;
}

/**
 * An animated GIF or WebP dreamed frame by frame: the recipe, and what its header said (read when it was accepted),
 * so a worker decodes the same frames and writes them back with the same timing.
 */
export interface AnimationJob {
  kind: 'animation';
  source: ImageRef;
  params: AnimationParams & { intensity: Intensity };
  guide?: ImageRef;
  guideLayer?: string;
  /** Frames dreamed (the file's, sampled evenly to at most MAX_ANIMATION_FRAMES). */
  frames: number;
  /** Frames in the file. */
  sourceFrames: number;
  /** How long each dreamed frame shows, in ms (summed over the frames a sample skipped). */
  delays: number[];
  /** Times to play; 0 loops forever. */
  loop: number;
  format: 'gif' | 'webp';
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
  /** A picture is an animation: its first frame is explained, and the result says so. */
  firstFrame?: boolean;
  reply: ReplyAddress;
}

export type JobData = DreamJob | ExplainJob | ZoomJob | AnimationJob;

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
  /** Why a job was refused, when it was for a policy: `nsfw` (an input screened as explicit). */
  reason?: 'nsfw';
}

/** How a job ended without running; shown on its message. */
export type NotRunEnding = 'cancelled' | 'not_run' | 'failed';

/** The pictures a job reads, in order. */
export function sourcesOf(data: JobData): ImageRef[] {
  if (data.kind === 'explain') return data.sources;
  if (data.kind === 'zoom') return [data.source];
  return data.guide ? [data.source, data.guide] : [data.source];
}

/**
 * What a job counts for in the caps and the wait estimate, in dreams. Measured on onnx (2 cores): a 24-frame zoom of
 * the sample at its default 512 px took 28 s, a medium dream at the default 768 px 8.6 s, so a frame costs about an
 * eighth of a dream: ceil(frames / 8) (the default 36 frames: 5). The per-member cap counts one job for at most the
 * whole cap, and the queue measures seconds per cost unit, so the estimate corrects itself from real times. An
 * animation counts the same: ceil(frames / 8) (a later frame is a short dream, about a quarter of a still one at its
 * smaller size).
 */
export function costOf(data: JobData): number {
  if (data.kind === 'animation') return Math.max(1, Math.ceil(data.frames / ANIMATION_DEFAULTS.framesPerDream));
  return data.kind === 'zoom' ? Math.max(1, Math.ceil(data.params.frames / 8)) : 1;
}

/**
 * The longest side each of a job's pictures is decoded at: a guide at GUIDE_MAX_SIDE, a zoom's picture at most
 * ZOOM_DEFAULTS.maxSide and an animation's at ANIMATION_DEFAULTS.maxSide (so dozens of frames stay quick and the file
 * small), the rest at `maxSide`.
 */
export function decodeSidesOf(data: JobData, maxSide: number, guideMaxSide: number): number[] {
  if (data.kind === 'zoom') return [Math.min(maxSide, ZOOM_DEFAULTS.maxSide)];
  if (data.kind === 'animation') return sourcesOf(data).map((_, i) => (i === 1 ? guideMaxSide : Math.min(maxSide, ANIMATION_DEFAULTS.maxSide)));
  return sourcesOf(data).map((_, i) => (data.kind !== 'explain' && i === 1 ? guideMaxSide : maxSide));
}
