// The messages between the main thread and a dream worker thread (structured-clone safe).
import type { ErrorData } from '../errors.ts';
import type { AnimationParams, BackendChoice, BackendInfo, DreamParams, DreamProgress, Explanation, ScreenResult, ZoomParams, ZoomProgress } from '../engine/index.ts';
import type { RgbImage } from '../imaging/index.ts';

/** `workerData` of a dream worker. */
export interface DreamWorkerData {
  backend: BackendChoice;
  model: string;
  /** CPU threads for one dream (onnx). */
  threads: number;
  cacheDir?: string;
  stylesDir?: string;
}

export type MainToWorker =
  | { type: 'dream'; jobId: number; image: RgbImage; params: DreamParams; previews: boolean }
  | { type: 'explain'; jobId: number; images: RgbImage[]; model?: string; target?: string; top?: number }
  | { type: 'zoom'; jobId: number; image: RgbImage; params: ZoomParams; previewEvery: number }
  | { type: 'animate'; jobId: number; frames: RgbImage[]; params: AnimationParams; previewEvery: number }
  | { type: 'screen'; jobId: number; images: RgbImage[] }
  | { type: 'cancel'; jobId: number }
  /** Finish (the pool has cancelled any job), free the model, and end the thread by emptying its event loop. */
  | { type: 'close' };

export type WorkerToMain =
  | { type: 'ready'; backend: BackendInfo; model: string; loadMs: number }
  /** A non-fatal note from model loading (e.g. the compiled-model cache could not be written). */
  | { type: 'warning'; message: string }
  /** A dream's progress, or a zoom's (a ZoomProgress, with `frame` and `frames`). */
  | { type: 'progress'; jobId: number; progress: DreamProgress | ZoomProgress }
  | { type: 'done'; jobId: number; image: RgbImage }
  /** A zoom's or an animation's frames, each moved (not copied). */
  | { type: 'frames'; jobId: number; frames: RgbImage[] }
  | { type: 'explained'; jobId: number; explanations: Explanation[] }
  | { type: 'screened'; jobId: number; results: ScreenResult[] }
  | { type: 'failed'; jobId: number; error: ErrorData }
  /** Startup failed (backend or model): the worker is useless and should be terminated. */
  | { type: 'fatal'; error: ErrorData };

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
