// A dream-worker entry for tests: the real worker, made to crash or fail on cue by the dream's seed.
import { parentPort } from 'node:worker_threads';
import type { Dreamer } from '../../src/engine/index.ts';
import type { MainToWorker } from '../../src/runner/messages.ts';
import { serveDreams as serveReal } from '../../src/runner/dream-worker.ts';

/** A dream with this seed makes the worker thread exit with code 7 at its first step, as a crash would. */
export const CRASH_SEED = 7_000_007;
/**
 * A dream with this seed ignores cancels (as a worker stuck in a long native call would), and stops only when its
 * worker is told to end (as the pool tells a worker it replaces), so it never outlives its test however many steps
 * it was given.
 */
export const IGNORE_CANCEL_SEED = 7_000_013;
/** The first dream with this seed on a worker fails as a backend out-of-memory error would; later ones run. */
export const OOM_ONCE_SEED = 7_000_011;

export function serveDreams(): void {
  let failedOnce = false;
  const told = new AbortController(); // aborted when the worker is told to close
  parentPort?.on('message', (msg: MainToWorker) => {
    if (msg.type === 'close') told.abort();
  });
  serveReal((dreamer: Dreamer): Dreamer => ({
    get backend() {
      return dreamer.backend;
    },
    get manifest() {
      return dreamer.manifest;
    },
    get loadInfo() {
      return dreamer.loadInfo;
    },
    pooledFeatures: (image, layer) => dreamer.pooledFeatures(image, layer),
    classify: (image, style) => dreamer.classify(image, style),
    dispose: () => dreamer.dispose(),
    dream: (image, params, opts) => {
      if (params.seed === OOM_ONCE_SEED && !failedOnce) {
        failedOnce = true;
        return Promise.reject(new Error('Aborted(OOM): out of memory'));
      }
      if (params.seed === IGNORE_CANCEL_SEED) return dreamer.dream(image, params, { ...opts, signal: told.signal });
      if (params.seed !== CRASH_SEED) return dreamer.dream(image, params, opts);
      // Stop at the first step, free the native sessions (exiting a thread that holds onnxruntime sessions aborts
      // the whole process: a real native crash would), then exit as a crashed worker does.
      const stop = new AbortController();
      return dreamer
        .dream(image, params, { ...opts, signal: stop.signal, onProgress: () => stop.abort() })
        .catch(() => undefined)
        .then(() => dreamer.dispose())
        .then(() => process.exit(7));
    },
  }));
}
