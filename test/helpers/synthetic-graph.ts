import type { CompiledGraph, GraphNode, Padding, WeightRef } from '../../src/engine/model/graph.ts';
import { seededRandom } from '../../src/engine/random.ts';

/**
 * Builds the weights of a small synthetic CompiledGraph: every tensor is seeded uniform noise in [-1, 1), appended in
 * the order the tensors are asked for (so a seed gives the same graph every time).
 */
export class RandomWeights {
  private readonly values: number[] = [];
  private readonly random: () => number;

  constructor(seed: number) {
    this.random = seededRandom(seed);
  }

  add(shape: number[]): WeightRef {
    const offset = this.values.length;
    const size = shape.reduce((a, b) => a * b, 1);
    for (let i = 0; i < size; i++) this.values.push(this.random() * 2 - 1);
    return { offset, shape };
  }

  /** A k×k convolution (kernel, then bias), stride 1 and 'same' padding unless told. */
  conv(name: string, input: string, k: number, ci: number, co: number, opts: { relu?: boolean; stride?: number; padding?: Padding } = {}): GraphNode {
    const kernel = this.add([k, k, ci, co]);
    const bias = this.add([co]);
    const s = opts.stride ?? 1;
    return { op: 'conv', name, input, kernel, bias, strides: [s, s], padding: opts.padding ?? 'same', relu: opts.relu ?? false };
  }

  /** The graph of `nodes` with these weights; every node is an output layer of its own name unless `outputs` is given. */
  graph(nodes: GraphNode[], outputs?: Record<string, string>): CompiledGraph {
    return { nodes, outputs: outputs ?? Object.fromEntries(nodes.map((n) => [n.name, n.name])), weights: Float32Array.from(this.values) };
  }
}
