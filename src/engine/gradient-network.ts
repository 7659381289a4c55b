import type { FloatImage } from './float-image.ts';
import type { ObjectiveTerm } from './objective.ts';

/**
 * What a dream step needs from a backend: the objective's value and its gradient with respect to the image.
 * Implemented on tfjs (cpu, wasm, tensorflow) and on ONNX Runtime; the dream loop itself is plain JavaScript.
 */
export interface GradientNetwork {
  /** Layer names the network can produce. */
  hasLayer(layer: string): boolean;
  /** Channels of a layer's activations. */
  channels(layer: string): number;
  /**
   * `loss = Σ terms` for an image (or tile), and d(loss)/d(image) as `[height, width, 3]` floats. Terms are
   * channel-weighted means or guides (see objective.ts); both backends compute the same objective.
   */
  lossAndGradient(image: FloatImage, terms: ObjectiveTerm[]): Promise<{ loss: number; gradient: Float32Array }>;
  /**
   * Global average of `layer` for a batch of same-sized images (`[n, height, width, 3]` floats in [0, 1]):
   * `[n, channels]` row-major. The features a style's head reads.
   */
  pooledFeatures(batch: Float32Array, n: number, height: number, width: number, layer: string): Promise<Float32Array>;
  /** A layer's full activations for one image in [0, 1]: `[height, width, channels]` row-major (HWC). */
  activations(image: FloatImage, layer: string): Promise<LayerActivations>;
  /** Frees the network's memory (native sessions on onnx); resolves when they are gone. */
  dispose(): Promise<void>;
}

/** One image's activations of a layer, HWC row-major: `data[(y · width + x) · channels + c]`. */
export interface LayerActivations {
  data: Float32Array;
  height: number;
  width: number;
  channels: number;
}
