// What a model needs to be explained: its feature layer, a linear head on it, and its labels.
import { loadArtifacts } from '../model/artifacts.ts';
import { modelConfigOf } from '../model/artifacts.ts';
import { WeightReader } from '../model/compile.ts';
import { ModelError, type ModelManifest } from '../model/manifest.ts';
import { loadStyleHead } from '../style/head.ts';
import type { LinearHead } from './cam.ts';
import { loadLabelSet, notExplainable } from './label-set.ts';
import { makeLabelSet, type LabelSet } from './labels.ts';

export interface Classifier {
  /** 'model': a classifier with an `explain` block (Darknet); 'style': a trained style's head on its trunk. */
  kind: 'model' | 'style';
  featureLayer: string;
  /** Side of the square picture the classifier reads. */
  inputSize: number;
  head: LinearHead;
  labels: LabelSet;
}

/**
 * Reads the head of a classifier: a style's dense head, or the Keras 1×1 linear Conv2D named in the manifest's
 * `explain.headLayer`, which must read `explain.featureLayer` directly.
 */
export async function loadClassifier(manifest: ModelManifest): Promise<Classifier> {
  if (manifest.style) {
    const head = await loadStyleHead(manifest);
    return { kind: 'style', featureLayer: head.featureLayer, inputSize: head.inputSize, head, labels: makeLabelSet(head.classes) };
  }
  const spec = manifest.explain;
  if (!spec) throw notExplainable(manifest);
  const labels = await loadLabelSet(manifest);
  const artifacts = await loadArtifacts(manifest);
  const bad = (what: string): never => {
    throw new ModelError(`Model ${manifest.name}: its explain head ${spec.headLayer} ${what}.`);
  };
  const layer = modelConfigOf(artifacts.modelTopology).layers.find((l) => l.name === spec.headLayer) ?? bad('is not a layer of the model');
  const c = layer.config;
  if (layer.class_name !== 'Conv2D') bad(`is a ${layer.class_name}, not a Conv2D`);
  const inbound = (layer.inbound_nodes[0] as unknown[][] | undefined)?.map((entry) => String(entry[0]));
  if (!inbound || inbound.length !== 1 || inbound[0] !== spec.featureLayer) bad(`does not read ${spec.featureLayer} directly`);
  if ((c.activation ?? 'linear') !== 'linear') bad(`has activation "${String(c.activation)}" (it must be linear)`);
  const k = Array.isArray(c.kernel_size) ? c.kernel_size : [c.kernel_size, c.kernel_size];
  const s = Array.isArray(c.strides) ? c.strides : [c.strides ?? 1, c.strides ?? 1];
  if (k.some((n) => n !== 1) || s.some((n) => n !== 1)) bad('is not a 1×1, stride-1 convolution');
  const reader = new WeightReader(artifacts);
  const kernel = reader.read(spec.headLayer, 'kernel');
  const [, , features, classes] = kernel.shape;
  const bias = c.use_bias === false ? new Float32Array(classes) : reader.read(spec.headLayer, 'bias').data;
  if (classes !== labels.labels.length) bad(`has ${classes} outputs for ${labels.labels.length} labels`);
  if (bias.length !== classes) bad(`has ${bias.length} biases for ${classes} outputs`);
  // HWIO [1, 1, features, classes] is already [features, classes] row-major.
  return { kind: 'model', featureLayer: spec.featureLayer, inputSize: spec.inputSize, head: { features, kernel: kernel.data, bias }, labels };
}
