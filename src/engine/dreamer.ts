import type { RgbImage } from '../imaging/rgb-image.ts';
import { initBackend, type BackendChoice, type BackendInfo } from './backend.ts';
import { dream, DreamParamsError, type DreamParams, type DreamRunOptions } from './dream.ts';
import { toFloatImage } from './float-image.ts';
import type { GradientNetwork } from './gradient-network.ts';
import { loadCompiledModel } from './model/load.ts';
import { loadManifest, type ModelDirs, type ModelManifest } from './model/manifest.ts';
import { createGradientNetwork } from './networks.ts';
import type { LayerTerm } from './objective.ts';
import { guideLayerFor } from './presets.ts';
import { headInput } from './style/features.ts';
import { checkStyleFits, classObjective, headLogits, loadStyleHead, softmaxRows, type StyleHead } from './style/head.ts';

export interface DreamerOptions extends ModelDirs {
  /** A model or style name under models/ or the styles folder, or a folder (default inception_v3). */
  model?: string;
  backend?: BackendChoice;
  /** CPU threads one dream may use on onnx (default 1). */
  threads?: number;
  /** Where compiled weights and ONNX models are cached (default models/.cache). */
  cacheDir?: string;
  onWarning?: (message: string) => void;
}

/** A loaded model on a started backend: load once, dream many times, then `dispose()`. */
export interface Dreamer {
  readonly backend: BackendInfo;
  readonly manifest: ModelManifest;
  /** How the model got here and how long it took, for logs and --info. */
  readonly loadInfo: { fromCache: boolean; ms: number };
  /**
   * Dreams an image. With a style (`params.style`, or the dreamer's model when it is one), the objective also
   * grows `params.target` (default: the style's first class). With `params.guide`, the guide picture decides
   * what grows (at `guide.layer`, default mixed4; any dream layer of the model).
   */
  dream(image: RgbImage, params: DreamParams, opts?: DreamRunOptions): Promise<RgbImage>;
  /** The global average of a layer's activations for an image: a forward pass through the trunk. */
  pooledFeatures(image: RgbImage, layer: string): Promise<Float32Array>;
  /** Class probabilities of an image under a style's head (default: the dreamer's own style). */
  classify(image: RgbImage, style?: string): Promise<{ classes: string[]; probabilities: Float32Array }>;
  /** Frees the model (and native sessions); resolves when they are gone. */
  dispose(): Promise<void>;
}

/** Starts the backend and loads the model (from the compiled cache when it can). */
export async function createDreamer(opts: DreamerOptions = {}): Promise<Dreamer> {
  const backend = await initBackend(opts.backend ?? 'auto', opts.threads);
  const started = Date.now();
  const model = await loadCompiledModel(opts.model ?? 'inception_v3', opts);
  const network = await createGradientNetwork(backend, model);
  return new ModelDreamer(backend, model.manifest, network, { fromCache: model.fromCache, ms: Date.now() - started }, opts, model.head);
}

class ModelDreamer implements Dreamer {
  /** Style heads by style name: the dreamer's own (when its model is a style) and those loaded for `params.style`. */
  private readonly heads = new Map<string, Promise<StyleHead>>();

  constructor(
    readonly backend: BackendInfo,
    readonly manifest: ModelManifest,
    readonly network: GradientNetwork,
    readonly loadInfo: { fromCache: boolean; ms: number },
    private readonly dirs: ModelDirs,
    ownHead?: StyleHead,
  ) {
    if (ownHead) this.heads.set(manifest.name, Promise.resolve(ownHead));
  }

  async dream(image: RgbImage, params: DreamParams, opts: DreamRunOptions = {}): Promise<RgbImage> {
    const p = this.withGuideLayer(params);
    const extra = [...(opts.extra ?? []), ...(await this.styleObjective(p))];
    return dream(this.network, image, p, { minSide: this.manifest.input.minSide, ...opts, extra });
  }

  /** The guide's layer checked against the model's dream layers (default mixed4), so a bad one is one sentence. */
  private withGuideLayer(params: DreamParams): DreamParams {
    if (!params.guide) return params;
    return { ...params, guide: { ...params.guide, layer: guideLayerFor(this.manifest, params.guide.layer) } };
  }

  pooledFeatures(image: RgbImage, layer: string): Promise<Float32Array> {
    return this.network.pooledFeatures(toFloatImage(image).data, 1, image.height, image.width, layer);
  }

  async classify(image: RgbImage, style?: string): Promise<{ classes: string[]; probabilities: Float32Array }> {
    const head = await this.styleHead(style ?? this.ownStyle() ?? '');
    const x = headInput(image, head.inputSize);
    const pixels = (await x.data()) as Float32Array;
    x.dispose();
    const features = await this.network.pooledFeatures(pixels, 1, head.inputSize, head.inputSize, head.featureLayer);
    return { classes: head.classes, probabilities: softmaxRows(headLogits(head, features, 1), head.classes.length) };
  }

  private ownStyle(): string | undefined {
    return this.manifest.style ? this.manifest.name : undefined;
  }

  private async styleObjective(params: DreamParams): Promise<LayerTerm[]> {
    const style = params.style ?? this.ownStyle();
    if (style === undefined) {
      if (params.target !== undefined) throw new DreamParamsError(`Model ${this.manifest.name} is not a style, so it has no class to target.`);
      return [];
    }
    const head = await this.styleHead(style);
    return [classObjective(head, params.target ?? head.classes[0], params.classWeight)];
  }

  /** A style's head, loaded once; the style must have been trained on this dreamer's trunk. */
  private styleHead(style: string): Promise<StyleHead> {
    let head = this.heads.get(style);
    if (!head) {
      head = (async () => {
        if (!style) throw new DreamParamsError(`Model ${this.manifest.name} is not a style.`);
        const manifest = await loadManifest(style, this.dirs);
        checkStyleFits(this.manifest, manifest);
        return loadStyleHead(manifest);
      })();
      this.heads.set(style, head);
      head.catch(() => this.heads.delete(style));
    }
    return head;
  }

  dispose(): Promise<void> {
    return this.network.dispose();
  }
}
