import type { RgbImage } from '../imaging/rgb-image.ts';
import { initBackend, type BackendChoice, type BackendInfo } from './backend.ts';
import { dream, DreamParamsError, type DreamParams, type DreamRunOptions } from './dream.ts';
import { loadCompiledModel } from './model/load.ts';
import { loadManifest, type ModelManifest } from './model/manifest.ts';
import { DreamNetwork, type ExtraObjective } from './network.ts';
import { headInput, pooledFeatures } from './style/features.ts';
import { classObjective, headLogits, loadStyleHead, softmaxRows, type StyleHead } from './style/head.ts';

export interface DreamerOptions {
  model?: string;
  backend?: BackendChoice;
  cacheDir?: string;
  onWarning?: (message: string) => void;
}

/** A loaded model on a started backend: load once, dream many times. */
export class Dreamer {
  /** Style heads by style name: the dreamer's own (when its model is a style) and those loaded for `params.style`. */
  private readonly heads = new Map<string, Promise<StyleHead>>();

  private constructor(
    readonly backend: BackendInfo,
    readonly manifest: ModelManifest,
    readonly network: DreamNetwork,
    /** How the model got here and how long it took, for logs and --info. */
    readonly loadInfo: { fromCache: boolean; ms: number },
  ) {}

  static async create(opts: DreamerOptions = {}): Promise<Dreamer> {
    const backend = await initBackend(opts.backend ?? 'auto');
    const started = Date.now();
    const { manifest, graph, fromCache, head } = await loadCompiledModel(opts.model ?? 'inception_v3', opts);
    const network = new DreamNetwork(graph, manifest.input.range);
    const dreamer = new Dreamer(backend, manifest, network, { fromCache, ms: Date.now() - started });
    if (head) dreamer.heads.set(manifest.name, Promise.resolve(head));
    return dreamer;
  }

  /**
   * Dreams an image. With a style (`params.style`, or the dreamer's model when it is one), the objective also
   * grows `params.target` (default: the style's first class).
   */
  async dream(image: RgbImage, params: DreamParams, opts: DreamRunOptions = {}): Promise<RgbImage> {
    const extra = [...(opts.extra ?? []), ...(await this.styleObjective(params))];
    return dream(this.network, image, params, { minSide: this.manifest.input.minSide, ...opts, extra });
  }

  /** Class probabilities of an image under a style's head (default: the dreamer's own style). */
  async classify(image: RgbImage, style?: string): Promise<{ classes: string[]; probabilities: Float32Array }> {
    const head = await this.styleHead(style ?? this.ownStyle() ?? '');
    const x = headInput(image, head.inputSize);
    try {
      const features = await pooledFeatures(this.network, x, head.featureLayer);
      return { classes: head.classes, probabilities: softmaxRows(headLogits(head, features, 1), head.classes.length) };
    } finally {
      x.dispose();
    }
  }

  private ownStyle(): string | undefined {
    return this.manifest.style ? this.manifest.name : undefined;
  }

  private async styleObjective(params: DreamParams): Promise<ExtraObjective[]> {
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
        const manifest = await loadManifest(style);
        if (!manifest.style) throw new DreamParamsError(`"${style}" is a model, not a style.`);
        const trunk = this.manifest.style?.trunk ?? this.manifest.name;
        if (manifest.style.trunk !== trunk) throw new DreamParamsError(`Style ${style} was trained on ${manifest.style.trunk}, not on ${trunk}.`);
        return loadStyleHead(manifest);
      })();
      this.heads.set(style, head);
      head.catch(() => this.heads.delete(style));
    }
    return head;
  }

  dispose(): void {
    this.network.dispose();
  }
}
