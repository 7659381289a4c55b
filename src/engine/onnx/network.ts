import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { FloatImage } from '../float-image.ts';
import type { GradientNetwork, LayerActivations } from '../gradient-network.ts';
import type { CompiledGraph } from '../model/graph.ts';
import { nodeChannels } from '../model/graph.ts';
import { guideRows, isGuideTerm, mergeTerms, type GuideTerm, type LayerTerm, type ObjectiveTerm } from '../objective.ts';
import { cpuSessionOptions, loadOrt, type Ort } from './runtime.ts';
import { activationOutputName, ancestors, EMITTER_VERSION, emitDreamModel, guideInputName, pooledOutputName, weightInputName, type EmitOptions } from './emit.ts';


export interface OnnxNetworkOptions {
  /** The network's expected pixel range; images given to it are in [0, 1]. */
  inputRange: [number, number];
  /** ONNX Runtime intra-op threads. */
  threads: number;
  /** Where emitted `.onnx` files are cached; none: emit in memory every time. */
  cacheDir?: string;
  /** Identifies the graph's weights in cache file names (default: a hash of the graph). */
  cacheKey?: string;
  /**
   * Layers dreams use: a gradient session for a cut also takes weights for these when they feed the cut,
   * so every objective with the same deepest layer shares one session.
   */
  dreamLayers?: string[];
  /**
   * Whether idle intra-op threads spin, waiting for the next run (default true: the fastest for one network alone).
   * Off for a network whose runs alternate with another's, whose threads would otherwise hold a core spinning.
   */
  spinning?: boolean;
}

interface SessionPlan {
  /** 'guided': a gradient model that also takes guide vectors (its own session and cache file). */
  kind: 'grad' | 'guided' | 'features' | 'activations';
  key: string;
  emit: EmitOptions;
}

/** GradientNetwork on ONNX Runtime (CPU): the compiled graph emitted as ONNX with its backward pass in-graph. */
export class OnnxNetwork implements GradientNetwork {
  private readonly sessions = new Map<string, Promise<InferenceSession>>();
  private readonly channelCounts: Map<string, number>;
  private readonly depth = new Map<string, number>();
  private disposed = false;
  private weightsHash: string | undefined;
  /** The last step's NCHW input and gradient buffers, reused while the size stays (no 2 × 3 MB allocations a step). */
  private scratch: { h: number; w: number; image: Float32Array; grad: Float32Array; busy: boolean } | undefined;

  /** @internal use createOnnxNetwork */
  constructor(
    private readonly ort: Ort,
    private readonly graph: CompiledGraph,
    private readonly opts: OnnxNetworkOptions,
  ) {
    this.channelCounts = nodeChannels(graph);
    graph.nodes.forEach((n, i) => this.depth.set(n.name, i));
    for (const layer of opts.dreamLayers ?? []) this.nodeOf(layer);
  }

  hasLayer(layer: string): boolean {
    return layer in this.graph.outputs;
  }

  channels(layer: string): number {
    return this.channelCounts.get(this.nodeOf(layer)) ?? 0;
  }

  async lossAndGradient(image: FloatImage, terms: ObjectiveTerm[]): Promise<{ loss: number; gradient: Float32Array }> {
    const { width: w, height: h } = image;
    if (image.data.length !== w * h * 3) throw new Error(`Image data has ${image.data.length} floats for ${w}x${h}x3.`);
    const merged = mergeTerms(terms);
    if (merged.length === 0) return { loss: 0, gradient: new Float32Array(w * h * 3) };
    const means = merged.filter((t): t is LayerTerm => !isGuideTerm(t));
    const guides = merged.filter(isGuideTerm);
    for (const t of means) {
      const c = this.channels(t.layer);
      if (t.channelWeights.length !== c) throw new Error(`Objective on ${t.layer}: ${t.channelWeights.length} channel weights for ${c} channels.`);
    }
    const rows = guides.map((t) => guideRows(t, this.channels(t.layer)));
    const plan = this.gradientPlan(means.map((t) => t.layer), guides.map((t) => t.layer));
    const session = await this.session(plan);
    // Concurrent calls (none in a dream, but the API allows them) get buffers of their own.
    let scratch = this.scratch;
    if (!scratch || scratch.busy || scratch.h !== h || scratch.w !== w) {
      scratch = { h, w, image: new Float32Array(3 * h * w), grad: new Float32Array(3 * h * w), busy: false };
      if (!this.scratch?.busy) this.scratch = scratch;
    }
    scratch.busy = true;
    try {
      return await this.runGradient(session, plan, scratch, image, byLayer(means), guides, rows);
    } finally {
      scratch.busy = false;
    }
  }

  private async runGradient(
    session: InferenceSession,
    plan: SessionPlan,
    scratch: { h: number; w: number; image: Float32Array; grad: Float32Array },
    image: FloatImage,
    byLayer: Map<string, Float32Array>,
    guides: GuideTerm[],
    rows: number[],
  ): Promise<{ loss: number; gradient: Float32Array }> {
    const { h, w } = scratch;
    const feeds: Record<string, Tensor> = { image: new this.ort.Tensor('float32', toNchw(image.data, 1, h, w, scratch.image), [1, 3, h, w]) };
    for (const layer of plan.emit.terms) {
      const weights = byLayer.get(layer) ?? new Float32Array(this.channels(layer));
      feeds[weightInputName(layer)] = new this.ort.Tensor('float32', weights, [weights.length]);
    }
    guides.forEach((t: GuideTerm, i) => {
      feeds[guideInputName(t.layer)] = new this.ort.Tensor('float32', t.guide, [rows[i], this.channels(t.layer)]);
    });
    // The gradient is written straight into the scratch buffer (a pre-allocated output).
    const out = await session.run(feeds, { loss: null, grad: new this.ort.Tensor('float32', scratch.grad, [1, 3, h, w]) });
    const loss = floatData(out.loss)[0];
    return { loss, gradient: toNhwc(floatData(out.grad), h, w) };
  }

  async pooledFeatures(batch: Float32Array, n: number, height: number, width: number, layer: string): Promise<Float32Array> {
    if (batch.length !== n * height * width * 3) throw new Error(`Batch has ${batch.length} floats for ${n}x${height}x${width}x3.`);
    this.nodeOf(layer);
    const plan: SessionPlan = {
      kind: 'features',
      key: `features:${layer}`,
      emit: { inputRange: this.opts.inputRange, cutLayer: layer, terms: [layer], gradient: false },
    };
    const session = await this.session(plan);
    const out = await session.run({ image: new this.ort.Tensor('float32', toNchw(batch, n, height, width), [n, 3, height, width]) });
    return floatData(out[pooledOutputName(layer)]);
  }

  async activations(image: FloatImage, layer: string): Promise<LayerActivations> {
    const { width: w, height: h } = image;
    if (image.data.length !== w * h * 3) throw new Error(`Image data has ${image.data.length} floats for ${w}x${h}x3.`);
    this.nodeOf(layer);
    // One forward session per layer (free H and W), like pooledFeatures.
    const plan: SessionPlan = {
      kind: 'activations',
      key: `activations:${layer}`,
      emit: { inputRange: this.opts.inputRange, cutLayer: layer, terms: [], gradient: false, activations: [layer] },
    };
    const session = await this.session(plan);
    const out = (await session.run({ image: new this.ort.Tensor('float32', toNchw(image.data, 1, h, w), [1, 3, h, w]) }))[activationOutputName(layer)];
    const [, channels, height, width] = out.dims;
    const nchw = floatData(out);
    const hwc = new Float32Array(nchw.length);
    const hw = height * width;
    for (let c = 0; c < channels; c++) for (let i = 0; i < hw; i++) hwc[i * channels + c] = nchw[c * hw + i];
    return { data: hwc, height, width, channels };
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await Promise.all([...this.sessions.values()].map((s) => s.then((session) => session.release()).catch(() => undefined)));
    this.sessions.clear();
  }

  private nodeOf(layer: string): string {
    const name = this.graph.outputs[layer];
    if (!name) throw new Error(`The network has no layer "${layer}".`);
    return name;
  }

  /**
   * The cut is the deepest requested layer. Its session takes weights for every dream layer feeding it, so
   * all objectives with that cut share it; layers outside that set get a session of their own. A guided objective
   * gets a session of its own, keyed by its mean and guide layers (no shared zero-weight means: a guide replaces
   * them), so unguided sessions never see a guide input.
   */
  private gradientPlan(layers: string[], guideLayers: string[] = []): SessionPlan {
    const depthOf = (l: string) => this.depth.get(this.nodeOf(l)) ?? 0;
    const byDepth = (list: string[]) => [...new Set(list)].sort((a, b) => depthOf(a) - depthOf(b) || (a < b ? -1 : 1));
    const cut = [...layers, ...guideLayers].reduce((a, b) => (depthOf(b) > depthOf(a) ? b : a));
    if (guideLayers.length) {
      const [terms, guides] = [byDepth(layers), byDepth(guideLayers)];
      return {
        kind: 'guided',
        key: `guided:${cut}|${terms.join('+')}|${guides.join('+')}`,
        emit: { inputRange: this.opts.inputRange, cutLayer: cut, terms, gradient: true, guides },
      };
    }
    const feeding = ancestors(this.graph, [this.nodeOf(cut)]);
    const base = [...new Set([...(this.opts.dreamLayers ?? []), cut])].filter((l) => feeding.has(this.nodeOf(l)));
    const extras = layers.filter((l) => !base.includes(l)).sort();
    return {
      kind: 'grad',
      key: extras.length ? `grad:${cut}+${extras.join('+')}` : `grad:${cut}`,
      emit: { inputRange: this.opts.inputRange, cutLayer: cut, terms: byDepth([...base, ...extras]), gradient: true },
    };
  }

  private session(plan: SessionPlan): Promise<InferenceSession> {
    if (this.disposed) return Promise.reject(new Error('The ONNX network was disposed.'));
    let session = this.sessions.get(plan.key);
    if (!session) {
      session = this.createSession(plan);
      this.sessions.set(plan.key, session);
      // A failed creation is not cached: the next call retries.
      session.catch(() => {
        if (this.sessions.get(plan.key) === session) this.sessions.delete(plan.key);
      });
    }
    return session;
  }

  private sessionOptions(): InferenceSession.SessionOptions {
    return cpuSessionOptions(this.opts.threads, this.opts.spinning !== false);
  }

  private async createSession(plan: SessionPlan): Promise<InferenceSession> {
    const file = await this.cacheFile(plan).catch(() => undefined);
    const cached = file ? await readFile(file).catch(() => undefined) : undefined;
    let session: InferenceSession | undefined;
    if (cached) session = await this.ort.InferenceSession.create(cached, this.sessionOptions()).catch(() => undefined);
    if (!session) {
      // No cache, or a corrupt file: emit afresh (and replace the file).
      const emitted = emitDreamModel(this.graph, plan.emit);
      if (file) await writeAtomically(file, emitted).then(() => removeStale(path.dirname(file)), () => undefined);
      session = await this.ort.InferenceSession.create(emitted, this.sessionOptions());
    }
    if (this.disposed) {
      await session.release();
      throw new Error('The ONNX network was disposed.');
    }
    return session;
  }

  private async cacheFile(plan: SessionPlan): Promise<string | undefined> {
    const dir = this.opts.cacheDir;
    if (!dir) return undefined;
    this.weightsHash ??= this.opts.cacheKey ?? graphHash(this.graph);
    const optionsHash = createHash('sha256').update(JSON.stringify([this.weightsHash, plan.emit])).digest('hex').slice(0, 16);
    const safe = plan.emit.cutLayer.replace(/[^A-Za-z0-9_.-]/g, '_');
    await mkdir(dir, { recursive: true });
    return path.join(dir, `dream-v${EMITTER_VERSION}-${safe}-${plan.kind}-${optionsHash}.onnx`);
  }
}

/** Creates the network; sessions are created lazily, one per cut (and one per pooled-features layer). */
export async function createOnnxNetwork(graph: CompiledGraph, opts: OnnxNetworkOptions): Promise<OnnxNetwork> {
  if (!(opts.threads >= 1)) throw new Error(`threads must be at least 1, got ${opts.threads}.`);
  return new OnnxNetwork(await loadOrt(), graph, opts);
}

function graphHash(graph: CompiledGraph): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ nodes: graph.nodes, outputs: graph.outputs }));
  hash.update(new Uint8Array(graph.weights.buffer, graph.weights.byteOffset, graph.weights.byteLength));
  return hash.digest('hex').slice(0, 16);
}

async function writeAtomically(file: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Deletes models cached by other emitter versions (they are never read again). */
async function removeStale(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const m = /^dream-v(\d+)-.*\.onnx$/.exec(name);
    if (m && Number(m[1]) !== EMITTER_VERSION) await unlink(path.join(dir, name)).catch(() => undefined);
  }
}

function floatData(t: Tensor | undefined): Float32Array {
  if (!t || !(t.data instanceof Float32Array)) throw new Error('internal: ONNX output is not float32');
  return t.data;
}

const byLayer = (means: LayerTerm[]) => new Map(means.map((t) => [t.layer, t.channelWeights]));

/** [n, h, w, 3] -> [n, 3, h, w] (into `dst` when given). */
export function toNchw(src: Float32Array, n: number, h: number, w: number, dst: Float32Array = new Float32Array(n * 3 * h * w)): Float32Array {
  const hw = h * w;
  for (let b = 0; b < n; b++) {
    const s = b * hw * 3;
    const d = b * hw * 3;
    for (let i = 0; i < hw; i++) {
      dst[d + i] = src[s + 3 * i];
      dst[d + hw + i] = src[s + 3 * i + 1];
      dst[d + 2 * hw + i] = src[s + 3 * i + 2];
    }
  }
  return dst;
}

/** [1, 3, h, w] -> [h, w, 3]. */
export function toNhwc(src: Float32Array, h: number, w: number): Float32Array {
  const hw = h * w;
  const dst = new Float32Array(hw * 3);
  for (let i = 0; i < hw; i++) {
    dst[3 * i] = src[i];
    dst[3 * i + 1] = src[hw + i];
    dst[3 * i + 2] = src[2 * hw + i];
  }
  return dst;
}
