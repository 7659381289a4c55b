import * as tf from '@tensorflow/tfjs-core';
import type { FloatImage } from './float-image.ts';
import type { GradientNetwork, LayerActivations } from './gradient-network.ts';
import { nodeChannels, type CompiledGraph } from './model/graph.ts';
import { DreamNetwork } from './network.ts';
import type { ObjectiveTerm } from './objective.ts';

/** The compiled network on a tfjs backend (tensorflow, wasm, cpu): pixels go in and come out as plain arrays. */
export class TfjsGradientNetwork implements GradientNetwork {
  readonly network: DreamNetwork;
  private readonly channelsOf: Map<string, number>;

  constructor(
    private readonly graph: CompiledGraph,
    inputRange: [number, number],
  ) {
    this.network = new DreamNetwork(graph, inputRange);
    this.channelsOf = nodeChannels(graph);
  }

  hasLayer(layer: string): boolean {
    return this.network.hasLayer(layer);
  }

  channels(layer: string): number {
    const n = this.channelsOf.get(this.graph.outputs[layer] ?? '');
    if (n === undefined) throw new Error(`The network has no layer "${layer}".`);
    return n;
  }

  async lossAndGradient(image: FloatImage, terms: ObjectiveTerm[]): Promise<{ loss: number; gradient: Float32Array }> {
    const x = tf.tensor4d(image.data, [1, image.height, image.width, 3]);
    const { loss, gradient } = this.network.lossAndGradient(
      x,
      [],
      terms.map((t) => ({ ...t, scale: 1 })),
    );
    try {
      const [l, g] = await Promise.all([loss.data(), gradient.data()]);
      return { loss: l[0], gradient: g as Float32Array };
    } finally {
      tf.dispose([x, loss, gradient]);
    }
  }

  async pooledFeatures(batch: Float32Array, n: number, height: number, width: number, layer: string): Promise<Float32Array> {
    const pooled = tf.tidy(() => tf.mean(this.network.activations(tf.tensor4d(batch, [n, height, width, 3]), [layer])[0], [1, 2]));
    try {
      return (await pooled.data()) as Float32Array;
    } finally {
      pooled.dispose();
    }
  }

  async activations(image: FloatImage, layer: string): Promise<LayerActivations> {
    if (image.data.length !== image.width * image.height * 3) throw new Error(`Image data has ${image.data.length} floats for ${image.width}x${image.height}x3.`);
    const act = tf.tidy(() => this.network.activations(tf.tensor4d(image.data, [1, image.height, image.width, 3]), [layer])[0]);
    try {
      const [, height, width, channels] = act.shape;
      return { data: (await act.data()) as Float32Array, height, width, channels };
    } finally {
      act.dispose();
    }
  }

  async dispose(): Promise<void> {
    this.network.dispose();
  }
}
