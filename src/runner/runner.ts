import type { AnimationParams, AnimationProgress, BackendInfo, DreamParams, DreamProgress, Explanation, ScreenResult, ZoomParams, ZoomProgress } from '../engine/index.ts';
import type { RgbImage } from '../imaging/index.ts';

export interface DreamInput {
  image: RgbImage;
  params: DreamParams;
  /** Attach the image to the progress event that ends each octave. */
  previews?: boolean;
}

export interface ExplainInput {
  /** Pictures explained with the same classifier and target (e.g. an original and its dream). */
  images: RgbImage[];
  /** An explainable model or a trained style (default: the engine's ImageNet classifier). */
  model?: string;
  /** The class whose evidence is painted (default: each picture's most probable class). */
  target?: string;
  /** How many labels to list (default 5). */
  top?: number;
}

export interface ZoomInput {
  /** Frame 0 of the animation. */
  image: RgbImage;
  params: ZoomParams;
  /** Attach a finished frame to its `frameDone` progress every this many frames, and the last one (0: never). */
  previewEvery?: number;
}

export interface ZoomRunCallbacks {
  signal?: AbortSignal;
  onProgress?: (p: ZoomProgress) => void;
}

export interface AnimationInput {
  /** The input's frames (decoded at the dream size, all the same size). */
  frames: RgbImage[];
  params: AnimationParams;
  /** Attach a finished frame to its `frameDone` progress every this many frames, and the last one (0: never). */
  previewEvery?: number;
}

export interface AnimationRunCallbacks {
  signal?: AbortSignal;
  onProgress?: (p: AnimationProgress) => void;
}

export interface DreamRunCallbacks {
  signal?: AbortSignal;
  onProgress?: (p: DreamProgress) => void;
}

/**
 * Runs dreams off the caller's thread. Rejects with CancelledError, a UserError (bad params, style),
 * WorkerCrashedError, or a plain Error from the backend (out of memory, a failed kernel).
 */
export interface DreamRunner {
  readonly backend: BackendInfo;
  run(input: DreamInput, callbacks?: DreamRunCallbacks): Promise<RgbImage>;
  /** nsfwjs's scores per picture (the screener is loaded on first use). */
  screen(images: RgbImage[], callbacks?: Pick<DreamRunCallbacks, 'signal'>): Promise<ScreenResult[]>;
  /** Top labels and a Grad-CAM heatmap per picture. */
  explain(input: ExplainInput, callbacks?: Pick<DreamRunCallbacks, 'signal'>): Promise<Explanation[]>;
  /** An endless-zoom animation: every frame, the input (frame 0) first. */
  zoom(input: ZoomInput, callbacks?: ZoomRunCallbacks): Promise<RgbImage[]>;
  /** An animation dreamed frame by frame, the dream following the picture's motion: one dreamed frame per input frame. */
  animate(input: AnimationInput, callbacks?: AnimationRunCallbacks): Promise<RgbImage[]>;
  /** Workers alive and how many there should be (for health). */
  readonly alive: number;
  readonly size: number;
  close(): Promise<void>;
}

export class WorkerCrashedError extends Error {
  override name = 'WorkerCrashedError';
  constructor(readonly exitCode?: number) {
    super('The dream worker stopped unexpectedly.');
  }
}
