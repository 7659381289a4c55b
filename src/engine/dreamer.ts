import type { RgbImage } from '../imaging/rgb-image.ts';
import { initBackend, type BackendChoice, type BackendInfo } from './backend.ts';
import { dream, DreamParamsError, type DreamParams, type DreamRunOptions } from './dream.ts';
import { loadClassifier, type Classifier } from './explain/classifier.ts';
import { toFloatImage } from './float-image.ts';
import type { GradientNetwork } from './gradient-network.ts';
import { loadCompiledModel } from './model/load.ts';
import { loadManifest, type ModelDirs, type ModelManifest } from './model/manifest.ts';
import { CLASS_MODEL, HYBRID_CLASS_SCALE, HYBRID_CLASS_WEIGHT, imageNetClassTerm, resolveDreamModel, resolveImageNetClass } from './grow.ts';
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

/** A loaded network and its manifest. */
interface LoadedNetwork {
  manifest: ModelManifest;
  network: GradientNetwork;
}

class ModelDreamer implements Dreamer {
  /** Style heads by style name: the dreamer's own (when its model is a style) and those loaded for `params.style`. */
  private readonly heads = new Map<string, Promise<StyleHead>>();
  /** Other dream models (`params.model`) and the ImageNet classifier, loaded on first use, by name. */
  private readonly others = new Map<string, Promise<LoadedNetwork>>();
  private classifier: Promise<Classifier> | null = null;

  constructor(
    readonly backend: BackendInfo,
    readonly manifest: ModelManifest,
    readonly network: GradientNetwork,
    readonly loadInfo: { fromCache: boolean; ms: number },
    private readonly dirs: DreamerOptions,
    ownHead?: StyleHead,
  ) {
    if (ownHead) this.heads.set(manifest.name, Promise.resolve(ownHead));
  }

  async dream(image: RgbImage, params: DreamParams, opts: DreamRunOptions = {}): Promise<RgbImage> {
    // A fine-tuned style (`params.style`) dreams on its own trunk, not on this dreamer's.
    const main = (params.model === undefined && params.style !== undefined && (await this.ownTrunkOf(params.style))) || (await this.networkOf(params.model));
    const p = this.withGuideLayer(params, main.manifest);
    const run = { minSide: main.manifest.input.minSide, ...opts };
    if ((p.style ?? this.ownStyle()) === undefined && p.target !== undefined) {
      const cls = await this.imageNetClass(p.target);
      const extra = [...(opts.extra ?? []), cls.term];
      // The class alone: the classifier is the dream's only network.
      if (p.layers.length === 0 && !p.guide) return dream(cls.net.network, image, p, { ...run, minSide: cls.net.manifest.input.minSide, extra });
      const part = { net: cls.net.network, terms: [cls.term], weight: p.classWeight ?? HYBRID_CLASS_WEIGHT, scale: HYBRID_CLASS_SCALE, minSide: cls.net.manifest.input.minSide };
      const minSide = Math.max(run.minSide, cls.net.manifest.input.minSide);
      return dream(main.network, image, p, { ...run, minSide, parts: [...(opts.parts ?? []), part] });
    }
    const terms = await this.styleObjective(p, main.manifest);
    // A fine-tuned style without a target grows no class: the dream is its own trunk's layers alone.
    const { style, ...unstyled } = p;
    const q = style !== undefined && terms.length === 0 ? unstyled : p;
    return dream(main.network, image, q, { ...run, extra: [...(opts.extra ?? []), ...terms] });
  }

  /** The dreamer's own network, or another dream model's, loaded once. */
  private networkOf(model: string | undefined): Promise<LoadedNetwork> {
    if (model === undefined || model === this.manifest.name) return Promise.resolve({ manifest: this.manifest, network: this.network });
    let loaded = this.others.get(model);
    if (!loaded) {
      loaded = (async () => {
        const manifest = await resolveDreamModel(model, this.dirs);
        const compiled = await loadCompiledModel(manifest.dir, this.dirs);
        // The classifier's runs alternate with the dream model's in a hybrid: its idle threads must not spin through
        // the other's (hybrid 1.59× → 1.27× a plain dream; the class alone took the same time either way).
        return { manifest, network: await createGradientNetwork(this.backend, compiled, { spinning: manifest.name !== CLASS_MODEL }) };
      })();
      this.others.set(model, loaded);
      loaded.catch(() => this.others.delete(model));
    }
    return loaded;
  }

  /** A fine-tuned style's own network (loaded once, like another model); undefined for any other style. */
  private async ownTrunkOf(style: string): Promise<LoadedNetwork | undefined> {
    if (style === this.manifest.name) return undefined;
    const key = `style:${style}`;
    let loaded = this.others.get(key);
    if (!loaded) {
      const manifest = await loadManifest(style, this.dirs);
      if (!manifest.style?.fineTune) return undefined;
      checkStyleFits(this.manifest, manifest);
      loaded = (async () => ({ manifest, network: await createGradientNetwork(this.backend, await loadCompiledModel(manifest.dir, this.dirs)) }))();
      this.others.set(key, loaded);
      loaded.catch(() => this.others.delete(key));
    }
    return loaded;
  }

  /** The ImageNet classifier's network and the class term of `target` (any name resolveImageNetClass takes). */
  private async imageNetClass(target: string): Promise<{ net: LoadedNetwork; term: ReturnType<typeof imageNetClassTerm> }> {
    const { index } = await resolveImageNetClass(target, this.dirs);
    this.classifier ??= loadManifest(CLASS_MODEL, this.dirs).then(loadClassifier);
    this.classifier.catch(() => (this.classifier = null));
    const [classifier, net] = await Promise.all([this.classifier, this.networkOf(CLASS_MODEL)]);
    return { net, term: imageNetClassTerm(classifier, index) };
  }

  /** The guide's layer checked against the model's dream layers (default mixed4), so a bad one is one sentence. */
  private withGuideLayer(params: DreamParams, manifest: ModelManifest): DreamParams {
    if (!params.guide) return params;
    return { ...params, guide: { ...params.guide, layer: guideLayerFor(manifest, params.guide.layer) } };
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

  private async styleObjective(params: DreamParams, model: ModelManifest): Promise<LayerTerm[]> {
    const style = params.style ?? this.ownStyle();
    if (style === undefined) return [];
    const manifest = style === this.manifest.name ? this.manifest : await loadManifest(style, this.dirs);
    // A fine-tuned style without a target dreams its own layers alone.
    if (manifest.style?.fineTune && params.target === undefined) return [];
    if (model !== this.manifest) checkStyleFits(model, manifest);
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

  async dispose(): Promise<void> {
    const others = await Promise.allSettled([...this.others.values()]);
    await Promise.all([this.network.dispose(), ...others.flatMap((o) => (o.status === 'fulfilled' ? [o.value.network.dispose()] : []))]);
  }
}
