import type { RgbImage } from '../../imaging/rgb-image.ts';
import { initBackend, type BackendChoice, type BackendInfo } from '../backend.ts';
import type { GradientNetwork } from '../gradient-network.ts';
import { loadCompiledModel } from '../model/load.ts';
import { ModelError, type ModelDirs } from '../model/manifest.ts';
import { createGradientNetwork } from '../networks.ts';
import { checkHeadFits, headProbabilities, loadScreenHead, type ScreenHead } from './head.ts';
import { screenInput } from './resize.ts';

/** nsfwjs's five classes, in its output order. */
export const NSFW_CLASSES = ['drawing', 'hentai', 'neutral', 'porn', 'sexy'] as const;
export type NsfwClass = (typeof NSFW_CLASSES)[number];

/** The screening model under models/. */
export const SCREEN_MODEL = 'nsfw_screen';

export { DEFAULT_NSFW_THRESHOLD } from './threshold.ts';

export interface ScreenResult {
  /** Softmax probabilities of nsfwjs's classes (they sum to 1). */
  scores: Record<NsfwClass, number>;
  /**
   * P(porn) + P(hentai) + P(sexy) = 1 − P(drawing) − P(neutral): the probability that the picture is not safe for
   * work. `sexy` counts: nsfwjs's README defines it as "sexually explicit images, not pornography", which Discord
   * wants behind age-restricted channels too; no ordinary picture measured scored above 0.02 on it. A policy
   * compares this with its threshold.
   */
  explicit: number;
}

export interface ScreenerOptions extends ModelDirs {
  backend?: BackendChoice;
  /** CPU threads on onnx (default 1). */
  threads?: number;
  /** Where compiled weights and ONNX models are cached (default models/.cache). */
  cacheDir?: string;
  onWarning?: (message: string) => void;
}

/** nsfwjs's classifier on a started backend: load once per worker, screen many pictures, then `dispose()`. */
export interface Screener {
  readonly backend: BackendInfo;
  /** How long loading and warming up took, and whether the compiled weights came from the cache. */
  readonly loadInfo: { fromCache: boolean; ms: number };
  screen(image: RgbImage): Promise<ScreenResult>;
  /** Frees the network (and native sessions); resolves when they are gone. */
  dispose(): Promise<void>;
}

/**
 * Starts the backend (the same choice and threads as the worker's dreamer reuse it) and loads nsfwjs's InceptionV3
 * compiled like the dream trunk, up to mixed10, with its dense head beside it. Warms up on a blank picture, so the
 * first real screen costs what every later one does.
 */
export async function createScreener(opts: ScreenerOptions = {}): Promise<Screener> {
  const started = Date.now();
  const backend = await initBackend(opts.backend ?? 'auto', opts.threads);
  const model = await loadCompiledModel(SCREEN_MODEL, opts);
  const { manifest } = model;
  const head = await loadScreenHead(manifest, model.cacheDir);
  const spec = head.spec;
  if (spec.classes.length !== NSFW_CLASSES.length || spec.classes.some((c, i) => c !== NSFW_CLASSES[i])) {
    throw new ModelError(`Model ${manifest.name}: a screening model must have the classes ${NSFW_CLASSES.join(', ')}, in that order.`);
  }
  const network = await createGradientNetwork(backend, model);
  try {
    checkHeadFits(head, model.graph, network.channels(spec.featureLayer), manifest.name);
    const screener = new ModelScreener(backend, network, head);
    const blank = spec.inputSize;
    await screener.screen({ data: new Uint8Array(blank * blank * 3), width: blank, height: blank });
    screener.loadInfo = { fromCache: model.fromCache, ms: Date.now() - started };
    return screener;
  } catch (err) {
    await network.dispose();
    throw err;
  }
}

class ModelScreener implements Screener {
  loadInfo = { fromCache: false, ms: 0 };
  private readonly explicitIndices: number[];

  constructor(
    readonly backend: BackendInfo,
    private readonly network: GradientNetwork,
    private readonly head: ScreenHead,
  ) {
    this.explicitIndices = head.spec.explicit.map((c) => head.spec.classes.indexOf(c));
  }

  async screen(image: RgbImage): Promise<ScreenResult> {
    if (image.width < 1 || image.height < 1 || image.data.length !== image.width * image.height * 3) throw new Error(`internal: bad RgbImage ${image.width}×${image.height}`);
    const { inputSize: size, featureLayer } = this.head.spec;
    const input = screenInput(image, size, this.head.spec.resize);
    const features = await this.network.pooledFeatures(input.data, 1, size, size, featureLayer);
    const p = headProbabilities(this.head, features);
    const scores = Object.fromEntries(NSFW_CLASSES.map((c, i) => [c, p[i]])) as Record<NsfwClass, number>;
    return { scores, explicit: this.explicitIndices.reduce((sum, i) => sum + p[i], 0) };
  }

  dispose(): Promise<void> {
    return this.network.dispose();
  }
}
