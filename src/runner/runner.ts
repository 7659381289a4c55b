import type { BackendInfo, DreamParams, DreamProgress } from '../engine/index.ts';
import type { RgbImage } from '../imaging/index.ts';

export interface DreamInput {
  image: RgbImage;
  params: DreamParams;
  /** Attach the image to the progress event that ends each octave. */
  previews?: boolean;
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
