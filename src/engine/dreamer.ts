import * as tf from '@tensorflow/tfjs-core';
import type { RgbImage } from '../imaging/rgb-image.ts';
import { initBackend, type BackendChoice, type BackendInfo } from './backend.ts';
import { dream, type DreamParams, type DreamRunOptions } from './dream.ts';
import { loadCompiledModel } from './model/load.ts';
import type { ModelManifest } from './model/manifest.ts';
import { DreamNetwork } from './network.ts';

export interface DreamerOptions {
  model?: string;
  backend?: BackendChoice;
  cacheDir?: string;
  onWarning?: (message: string) => void;
}

/** A loaded model on a started backend: load once, dream many times. */
export class Dreamer {
  private constructor(
    readonly backend: BackendInfo,
    readonly manifest: ModelManifest,
    readonly network: DreamNetwork,
    /** How the model got here and how long it took, for logs and --info. */
    readonly loadInfo: { fromCache: boolean; ms: number },
  ) {}

  static async create(opts: DreamerOptions = {}): Promise<Dreamer> {
    const backend = await initBackend(opts.backend ?? 'auto');
    const started = Date.now();
    const { manifest, graph, fromCache } = await loadCompiledModel(opts.model ?? 'inception_v3', opts);
    const network = new DreamNetwork(graph, manifest.input.range);
    return new Dreamer(backend, manifest, network, { fromCache, ms: Date.now() - started });
  }

  dream(image: RgbImage, params: DreamParams, opts: DreamRunOptions = {}): Promise<RgbImage> {
    return dream(this.network, image, params, { minSide: this.manifest.input.minSide, ...opts });
  }

  dispose(): void {
    this.network.dispose();
  }

  /** Live tensors on the backend (for leak checks). */
  static tensorCount(): number {
    return tf.memory().numTensors;
  }
}
