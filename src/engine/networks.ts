import path from 'node:path';
import type { BackendInfo } from './backend.ts';
import type { GradientNetwork } from './gradient-network.ts';
import type { LoadedModel } from './model/load.ts';
import { TfjsGradientNetwork } from './tfjs-network.ts';

/**
 * The loaded model's network on the running backend: ONNX Runtime, or tfjs (tensorflow, wasm, cpu). `spinning`:
 * see OnnxNetworkOptions (default true).
 */
export async function createGradientNetwork(backend: BackendInfo, model: LoadedModel, opts: { spinning?: boolean } = {}): Promise<GradientNetwork> {
  if (backend.name === 'onnx') {
    const { createOnnxNetwork } = await import('./onnx/index.ts');
    return createOnnxNetwork(model.graph, {
      inputRange: model.manifest.input.range,
      threads: backend.threads,
      cacheDir: model.cacheDir,
      // The cache folder is already keyed by the model's weights.
      cacheKey: path.basename(model.cacheDir),
      dreamLayers: model.manifest.dreamLayers,
      spinning: opts.spinning,
    });
  }
  return new TfjsGradientNetwork(model.graph, model.manifest.input.range);
}
