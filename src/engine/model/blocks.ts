// The top blocks of a compiled trunk, as fine-tuning sees them: which nodes a block owns, what feeds it, and a copy
// of the graph with some convolutions' weights replaced (a fine-tuned style's own trunk).
import { createHash } from 'node:crypto';
import type { CompiledGraph, GraphNode } from './graph.ts';
import { weightView } from './graph.ts';

export type ConvNode = Extract<GraphNode, { op: 'conv' }>;

/** The nodes from just above one dream layer up to the model's cut: what `--fine-tune BLOCK` trains. */
export interface BlockPlan {
  /** The fine-tuned blocks, lowest first: the chosen dream layer and every dream layer above it. */
  blocks: string[];
  /** The dream layer whose output feeds the blocks (frozen); the graph's input when the first block is chosen. */
  from: string;
  /** Its node's name. */
  fromNode: string;
  /** The blocks' nodes in graph order (each reads only these nodes or `fromNode`). */
  nodes: GraphNode[];
  /** The convolutions among them: the trained weights. */
  convs: ConvNode[];
  /** The node whose output is the last block (the cut). */
  outputNode: string;
}

function inputsOf(node: GraphNode): string[] {
  if ('inputs' in node) return node.inputs;
  if ('input' in node) return [node.input];
  return [];
}

/** Nodes `targets` depend on, themselves included. */
function ancestorNodes(graph: CompiledGraph, targets: string[]): Set<string> {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const seen = new Set<string>();
  const stack = [...targets];
  while (stack.length) {
    const name = stack.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    const node = byName.get(name);
    if (node) stack.push(...inputsOf(node));
  }
  return seen;
}

/**
 * The blocks from `block` (one of `dreamLayers`, which are in depth order) up to the last dream layer. Returns a
 * sentence instead when the block's nodes read anything below the previous dream layer other than through it.
 */
export function planBlocks(graph: CompiledGraph, dreamLayers: string[], block: string): BlockPlan | string {
  const i = dreamLayers.indexOf(block);
  if (i < 0) return `"${block}" is not one of the dream layers (${dreamLayers.join(', ')})`;
  const top = dreamLayers[dreamLayers.length - 1];
  const from = i === 0 ? graph.nodes[0].name : dreamLayers[i - 1];
  const fromNode = i === 0 ? graph.nodes[0].name : graph.outputs[from];
  const outputNode = graph.outputs[top];
  if (!fromNode || !outputNode) return `the compiled graph lacks ${from} or ${top}`;
  const below = ancestorNodes(graph, [fromNode]);
  const owned = ancestorNodes(graph, [outputNode]);
  const nodes = graph.nodes.filter((n) => owned.has(n.name) && !below.has(n.name));
  const inside = new Set(nodes.map((n) => n.name));
  for (const n of nodes) {
    const stray = inputsOf(n).find((x) => !inside.has(x) && x !== fromNode);
    if (stray) return `${n.name} reads ${stray}, which is below ${from} but not ${from} itself`;
  }
  const convs = nodes.filter((n): n is ConvNode => n.op === 'conv');
  return { blocks: dreamLayers.slice(i), from, fromNode, nodes, convs, outputNode };
}

/** A convolution's weights by name: `<node>/kernel` ([kh, kw, in, out]) and `<node>/bias`. */
export type BlockWeights = Map<string, Float32Array>;

export const kernelName = (conv: string) => `${conv}/kernel`;
export const biasName = (conv: string) => `${conv}/bias`;

/** The graph's current weights of the given convolutions. */
export function readBlockWeights(graph: CompiledGraph, convs: ConvNode[]): BlockWeights {
  const out: BlockWeights = new Map();
  for (const c of convs) {
    out.set(kernelName(c.name), Float32Array.from(weightView(graph, c.kernel)));
    out.set(biasName(c.name), Float32Array.from(weightView(graph, c.bias)));
  }
  return out;
}

/** A copy of the graph with the named convolutions' weights replaced (same layout, so the same plan and caches apply). */
export function withBlockWeights(graph: CompiledGraph, weights: BlockWeights): CompiledGraph {
  const copy = Float32Array.from(graph.weights);
  for (const node of graph.nodes) {
    if (node.op !== 'conv') continue;
    for (const [name, ref] of [
      [kernelName(node.name), node.kernel],
      [biasName(node.name), node.bias],
    ] as const) {
      const w = weights.get(name);
      if (!w) continue;
      const size = ref.shape.reduce((a, b) => a * b, 1);
      if (w.length !== size) throw new Error(`Weight ${name} has ${w.length} values; the graph's has ${size}.`);
      copy.set(w, ref.offset);
    }
  }
  return { nodes: graph.nodes, outputs: graph.outputs, weights: copy };
}

/** Identifies a compiled graph: its structure and every weight (16 hex digits of SHA-256). */
export function graphDigest(graph: CompiledGraph): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ nodes: graph.nodes, outputs: graph.outputs }));
  hash.update(new Uint8Array(graph.weights.buffer, graph.weights.byteOffset, graph.weights.byteLength));
  return hash.digest('hex').slice(0, 16);
}
