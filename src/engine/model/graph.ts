/**
 * A Keras network compiled to a handful of plain ops, with BatchNorm folded into the convolutions.
 * It is plain data (JSON + one Float32Array) so it can be cached on disk and sent to worker threads.
 */
export type Padding = 'same' | 'valid';

export interface WeightRef {
  /** Offset into CompiledGraph.weights, in floats. */
  offset: number;
  shape: number[];
}

export type GraphNode =
  | { op: 'input'; name: string }
  | {
      op: 'conv';
      name: string;
      input: string;
      /** [kh, kw, inChannels, outChannels], BatchNorm already folded in. */
      kernel: WeightRef;
      bias: WeightRef;
      strides: [number, number];
      padding: Padding;
      relu: boolean;
    }
  | { op: 'maxPool' | 'avgPool'; name: string; input: string; size: [number, number]; strides: [number, number]; padding: Padding }
  | { op: 'concat'; name: string; inputs: string[] }
  | { op: 'add'; name: string; inputs: string[] }
  | { op: 'relu'; name: string; input: string }
  /** Keras LeakyReLU: y = x for x > 0, alpha·x otherwise. */
  | { op: 'leakyRelu'; name: string; input: string; alpha: number }
  /** A BatchNorm that could not be folded: y = x * scale + shift per channel. */
  | { op: 'affine'; name: string; input: string; scale: WeightRef; shift: WeightRef };

export interface CompiledGraph {
  /** Topologically ordered; the first node is the input. */
  nodes: GraphNode[];
  /** Keras layer name -> node whose output it is (folded layers point at their conv). */
  outputs: Record<string, string>;
  weights: Float32Array;
}

export function weightView(graph: CompiledGraph, ref: WeightRef): Float32Array {
  const size = ref.shape.reduce((a, b) => a * b, 1);
  return graph.weights.subarray(ref.offset, ref.offset + size);
}

/** Channels of every node's output (input: 3), from the kernel shapes and how nodes combine. */
export function nodeChannels(graph: CompiledGraph): Map<string, number> {
  const out = new Map<string, number>();
  for (const node of graph.nodes) {
    switch (node.op) {
      case 'input':
        out.set(node.name, 3);
        break;
      case 'conv':
        out.set(node.name, node.kernel.shape[3]);
        break;
      case 'concat':
        out.set(node.name, node.inputs.reduce((sum, n) => sum + (out.get(n) ?? 0), 0));
        break;
      case 'add':
        out.set(node.name, out.get(node.inputs[0]) ?? 0);
        break;
      case 'relu':
      case 'leakyRelu':
        out.set(node.name, out.get(node.input) ?? 0);
        break;
      default:
        out.set(node.name, out.get(node.input) ?? 0);
    }
  }
  return out;
}
