// The messages between the bot's main thread and a dream worker thread (structured-clone safe).
import type { BackendChoice, BackendInfo } from '../engine/backend.ts';
import type { DreamParams, DreamProgress } from '../engine/dream.ts';
import type { RgbImage } from '../imaging/rgb-image.ts';

/** `workerData` of a dream worker. */
export interface DreamWorkerData {
  backend: BackendChoice;
  model: string;
  cacheDir?: string;
  /** Honour the `crash` message (tests only). */
  allowCrashHook?: boolean;
}

/** An Error flattened for postMessage; `name` is DreamCancelledError, DreamParamsError or anything else. */
export interface WorkerError {
  name: string;
  message: string;
}

export type MainToWorker =
  | { type: 'dream'; jobId: number; image: RgbImage; params: DreamParams; previews: boolean }
  | { type: 'cancel'; jobId: number }
  /** Test hook: the worker calls process.exit(7), as if it had crashed. */
  | { type: 'crash' }
  /** Test hook: the next job fails with this backend-style error (e.g. an out-of-memory abort). */
  | { type: 'fail-next'; message: string };

export type WorkerToMain =
  | { type: 'ready'; backend: BackendInfo; model: string; loadMs: number }
  /** A non-fatal note from model loading (e.g. the compiled-model cache could not be written). */
  | { type: 'warning'; message: string }
  | { type: 'progress'; jobId: number; progress: DreamProgress }
  | { type: 'done'; jobId: number; image: RgbImage }
  | { type: 'failed'; jobId: number; error: WorkerError }
  /** Startup failed (backend or model): the worker is useless and should be terminated. */
  | { type: 'fatal'; error: WorkerError };

export function toWorkerError(err: unknown): WorkerError {
  return err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) };
}

/**
 * An image ready to be moved (not copied) through postMessage: its pixels in an ArrayBuffer of their
 * own. A view into a larger buffer is copied first, because transferring would detach the whole buffer.
 */
export function transferableImage(image: RgbImage, copy = false): { image: RgbImage; transfer: ArrayBuffer[] } {
  const { data } = image;
  const own = !copy && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer;
  const pixels = own ? data : data.slice();
  return { image: { data: pixels, width: image.width, height: image.height }, transfer: [pixels.buffer as ArrayBuffer] };
}
