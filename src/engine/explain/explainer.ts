import type { Heatmap } from '../../imaging/heatmap.ts';
import type { RgbImage } from '../../imaging/rgb-image.ts';
import { initBackend, type BackendChoice, type BackendInfo } from '../backend.ts';
import { DreamParamsError } from '../dream.ts';
import type { GradientNetwork } from '../gradient-network.ts';
import { loadCompiledModel } from '../model/load.ts';
import { loadManifest, type ModelDirs, type ModelManifest } from '../model/manifest.ts';
import { createGradientNetwork } from '../networks.ts';
import { headInput } from '../style/features.ts';
import { gradCam, logitsOf, softmax, topIndices } from './cam.ts';
import { loadClassifier, type Classifier } from './classifier.ts';
import { resolveTarget, type LabelSet } from './labels.ts';
import { squashToFloat } from './squash.ts';
import { DEFAULT_EXPLAIN_MODEL } from '../class-model.ts';

export { DEFAULT_EXPLAIN_MODEL };
// Label lookups that load no weights, in a light module of their own (the bot and its jobs import them).
export { checkExplainTarget, explainClasses, explainLabels, type ExplainClass } from './label-set.ts';

export interface ExplainerOptions extends ModelDirs {
  /** An explainable model (default darknet_tiny) or a trained style, by name or folder. */
  model?: string;
  backend?: BackendChoice;
  /** CPU threads on onnx (default 1). */
  threads?: number;
  /** Where compiled weights and ONNX models are cached (default models/.cache). */
  cacheDir?: string;
  onWarning?: (message: string) => void;
}

export interface ExplainOptions {
  /**
   * The class whose evidence is painted: an index, a label as `explainer.labels` shows it ("crane (bird)"), a
   * WordNet id, or a unique name; case does not matter. Default: the most probable class.
   */
  target?: string | number;
  /** How many of the most probable classes to list (default 5; at most the number of classes). */
  top?: number;
}

export interface ClassScore {
  /** As `Explainer.labels` shows it (unique). */
  label: string;
  index: number;
  /** Softmax probability, 0..1. */
  probability: number;
  /** The class's WordNet id, for ImageNet classifiers (names it in other languages). */
  synset?: string;
}

export interface Explanation {
  /** The `top` most probable classes, most probable first. */
  top: ClassScore[];
  /** The class the heatmap explains. */
  target: ClassScore;
  /**
   * Grad-CAM of the target at the classifier's feature layer, at that layer's resolution (14×14 for Darknet's
   * 224 px input), values in [0, 1] (1 = the strongest evidence), row-major. It covers the whole picture (which was
   * squashed to the classifier's square input), so cell (x, y) is the picture's region around
   * ((x + 0.5) / heatmap.width · width, (y + 0.5) / heatmap.height · height). `overlayHeatmap` (src/imaging)
   * upsamples it bilinearly onto the picture.
   */
  heatmap: Heatmap;
  /** The explained picture's size. */
  width: number;
  height: number;
  /** Every class's logit, in label order. */
  logits: Float32Array;
}

/** A loaded classifier on a started backend: load once, explain many pictures, then `dispose()`. */
export interface Explainer {
  readonly backend: BackendInfo;
  readonly manifest: ModelManifest;
  /** Class names as shown and accepted as targets, in output order (unique). */
  readonly labels: string[];
  /** Side of the square input the classifier reads (the picture is squashed to it). */
  readonly inputSize: number;
  /** The class index a target names; a DreamParamsError (one line, with close matches) if none. */
  resolveTarget(target: string | number): number;
  explain(image: RgbImage, opts?: ExplainOptions): Promise<Explanation>;
  /** Frees the network (and native sessions); resolves when they are gone. */
  dispose(): Promise<void>;
}

/** Starts the backend and loads the classifier: Darknet (default) or a trained style on its trunk. */
export async function createExplainer(opts: ExplainerOptions = {}): Promise<Explainer> {
  const manifest = await loadManifest(opts.model ?? DEFAULT_EXPLAIN_MODEL, opts);
  // Refuse a model that cannot explain before starting anything.
  const classifier = await loadClassifier(manifest);
  const backend = await initBackend(opts.backend ?? 'auto', opts.threads);
  const model = await loadCompiledModel(manifest.dir, opts);
  if (!(classifier.featureLayer in model.graph.outputs)) throw new Error(`internal: the compiled ${manifest.name} has no layer ${classifier.featureLayer}`);
  const network = await createGradientNetwork(backend, model);
  return new ModelExplainer(backend, manifest, classifier, network);
}

class ModelExplainer implements Explainer {
  readonly labels: string[];
  readonly inputSize: number;
  private readonly set: LabelSet;

  constructor(
    readonly backend: BackendInfo,
    readonly manifest: ModelManifest,
    private readonly classifier: Classifier,
    private readonly network: GradientNetwork,
  ) {
    this.set = classifier.labels;
    this.labels = classifier.labels.labels;
    this.inputSize = classifier.inputSize;
  }

  resolveTarget(target: string | number): number {
    return resolveTarget(this.set, target, this.manifest.name);
  }

  async explain(image: RgbImage, opts: ExplainOptions = {}): Promise<Explanation> {
    const requested = opts.top ?? 5;
    if (!Number.isInteger(requested) || requested < 1) throw new DreamParamsError('The number of labels to list must be a whole number of at least 1.');
    const top = Math.min(requested, this.labels.length);
    const wanted = opts.target === undefined ? undefined : this.resolveTarget(opts.target);
    if (image.width < 1 || image.height < 1 || image.data.length !== image.width * image.height * 3) throw new Error(`internal: bad RgbImage ${image.width}×${image.height}`);
    const act = await this.network.activations(await this.input(image), this.classifier.featureLayer);
    const logits = logitsOf(this.classifier.head, act);
    const probabilities = softmax(logits);
    const synsets = this.set.synsets;
    const score = (index: number): ClassScore => ({ label: this.labels[index], index, probability: probabilities[index], ...(synsets ? { synset: synsets[index] } : {}) });
    const ranked = topIndices(probabilities, top);
    const target = wanted ?? ranked[0];
    return {
      top: ranked.map(score),
      target: score(target),
      heatmap: gradCam(this.classifier.head, act, target),
      width: image.width,
      height: image.height,
      logits,
    };
  }

  /** The picture as the classifier reads it: squashed to its square input, floats in [0, 1]. */
  private async input(image: RgbImage) {
    const size = this.classifier.inputSize;
    if (this.classifier.kind === 'model') return squashToFloat(image, size, size);
    // A style's head was trained on tfjs-resized pictures: resize as `Dreamer.classify` does, for the same scores.
    const x = headInput(image, size);
    try {
      return { data: (await x.data()) as Float32Array, width: size, height: size };
    } finally {
      x.dispose();
    }
  }

  dispose(): Promise<void> {
    return this.network.dispose();
  }
}
