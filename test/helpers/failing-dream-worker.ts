// A dream-worker entry for tests: the real worker, made to crash or fail on cue by the dream's seed.
import type { Dreamer } from '../../src/engine/index.ts';
import { serveDreams as serveReal } from '../../src/runner/dream-worker.ts';

/** A dream with this seed makes the worker thread exit with code 7 at its first step, as a crash would. */
export const CRASH_SEED = 7_000_007;
/** The first dream with this seed on a worker fails as a backend out-of-memory error would; later ones run. */
export const OOM_ONCE_SEED = 7_000_011;

export function serveDreams(): void {
  let failedOnce = false;
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
      if (params.seed !== CRASH_SEED) return dreamer.dream(image, params, opts);
      return dreamer.dream(image, params, { ...opts, onProgress: () => process.exit(7) });
    },
  }));
}
