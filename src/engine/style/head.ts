// A style's classifier head: global average pooling of a trunk layer, then one dense layer (kernel + bias).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { io } from '@tensorflow/tfjs-core';
import { DreamParamsError } from '../dream.ts';
import { loadManifest, ModelError, MODELS_DIR, type ModelDirs, type ModelManifest } from '../model/manifest.ts';
import { listStyles } from './list.ts';
import type { LayerTerm } from '../objective.ts';
import { HEAD_BIAS, HEAD_KERNEL, HEAD_WEIGHTS_FILE } from './spec.ts';

export interface StyleHead {
  /** The style's name. */
  name: string;
  classes: string[];
  featureLayer: string;
  /** Side (px) of the square images the head expects. */
  inputSize: number;
  features: number;
  /** Dense kernel [features, classes], row-major. Its columns sum to zero (softmax is unchanged by that). */
  kernel: Float32Array;
  bias: Float32Array;
  /** Default weight of the class logit in a dream's objective (manifest `objective.classWeight`). */
  classWeight: number;
}

/** The head's weights as a tfjs weights manifest and the one binary file it names. */
export function encodeHeadWeights(kernel: Float32Array, bias: Float32Array, features: number): { weightsManifest: io.WeightsManifestConfig; data: Buffer } {
  const classes = bias.length;
  if (kernel.length !== features * classes) throw new Error('internal: head kernel size mismatch');
  const data = Buffer.alloc((kernel.length + bias.length) * 4);
  for (let i = 0; i < kernel.length; i++) data.writeFloatLE(kernel[i], i * 4);
  for (let i = 0; i < bias.length; i++) data.writeFloatLE(bias[i], (kernel.length + i) * 4);
  return {
    weightsManifest: [
      {
        paths: [HEAD_WEIGHTS_FILE],
        weights: [
          { name: HEAD_KERNEL, shape: [features, classes], dtype: 'float32' },
          { name: HEAD_BIAS, shape: [classes], dtype: 'float32' },
        ],
      },
    ],
    data,
  };
}

/** Reads a style's head weights (float32 tfjs weight files beside its manifest). */
export async function loadStyleHead(manifest: ModelManifest): Promise<StyleHead> {
  const style = manifest.style;
  if (!style) throw new ModelError(`Model ${manifest.name} is not a style.`);
  const { head } = style;
  const found = new Map<string, Float32Array>();
  for (const group of head.weightsManifest) {
    let bytes: Buffer;
    try {
      bytes = Buffer.concat(await Promise.all(group.paths.map((p) => readFile(path.resolve(manifest.dir, p)))));
    } catch (err) {
      throw new ModelError(`Style ${manifest.name}: cannot read its head weights (${(err as Error).message}).`);
    }
    let offset = 0;
    for (const spec of group.weights) {
      const count = spec.shape.reduce((a, b) => a * b, 1);
      if (spec.dtype !== 'float32' || spec.quantization) throw new ModelError(`Style ${manifest.name}: head weight ${spec.name} is not plain float32.`);
      if (offset + count * 4 > bytes.length) throw new ModelError(`Style ${manifest.name}: its head weight file is shorter than its manifest says.`);
      const values = new Float32Array(count);
      for (let i = 0; i < count; i++) values[i] = bytes.readFloatLE(offset + i * 4);
      found.set(spec.name, values);
      offset += count * 4;
    }
  }
  const kernel = found.get(HEAD_KERNEL);
  const bias = found.get(HEAD_BIAS);
  const classes = style.classes.length;
  if (!kernel || !bias || kernel.length !== head.features * classes || bias.length !== classes) {
    throw new ModelError(`Style ${manifest.name}: its head weights must be ${HEAD_KERNEL} [${head.features}, ${classes}] and ${HEAD_BIAS} [${classes}].`);
  }
  return {
    name: manifest.name,
    classes: style.classes,
    featureLayer: head.featureLayer,
    inputSize: head.inputSize,
    features: head.features,
    kernel,
    bias,
    classWeight: style.objective.classWeight,
  };
}

/** Logits of `n` feature rows ([n, features], row-major): [n, classes]. */
export function headLogits(head: Pick<StyleHead, 'kernel' | 'bias' | 'features'>, features: Float32Array, n: number): Float32Array {
  const f = head.features;
  const c = head.bias.length;
  const out = new Float32Array(n * c);
  for (let r = 0; r < n; r++) {
    for (let k = 0; k < c; k++) {
      let sum = head.bias[k];
      for (let i = 0; i < f; i++) sum += features[r * f + i] * head.kernel[i * c + k];
      out[r * c + k] = sum;
    }
  }
  return out;
}

/** Row-wise softmax of [n, classes] logits. */
export function softmaxRows(logits: Float32Array, classes: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r < logits.length / classes; r++) {
    let max = -Infinity;
    for (let k = 0; k < classes; k++) max = Math.max(max, logits[r * classes + k]);
    let sum = 0;
    for (let k = 0; k < classes; k++) sum += out[r * classes + k] = Math.exp(logits[r * classes + k] - max);
    for (let k = 0; k < classes; k++) out[r * classes + k] /= sum;
  }
  return out;
}

/**
 * The class term of a style dream: `weight · logit_target(GAP(featureLayer))`. Its gradient with respect to the
 * feature layer is the kernel's column W[:, target] / (H·W) at every position (the bias does not matter).
 */
export function classObjective(head: StyleHead, target: string, weight = head.classWeight): LayerTerm {
  const k = head.classes.indexOf(target);
  if (k < 0) throw unknownClass(head.name, head.classes, target);
  if (!(weight >= 0) || !Number.isFinite(weight)) throw new DreamParamsError('The class weight must be a number ≥ 0.');
  const c = head.classes.length;
  const column = new Float32Array(head.features);
  for (let i = 0; i < head.features; i++) column[i] = head.kernel[i * c + k] * weight;
  return { layer: head.featureLayer, channelWeights: column };
}

function unknownClass(style: string, classes: string[], target: string): DreamParamsError {
  return new DreamParamsError({ code: 'style.unknown-class', params: { style, target, classes } });
}

/** The trunk a model's dreams run on: its own name, or a style's trunk. */
const trunkOf = (m: ModelManifest) => m.style?.trunk ?? m.name;

/** Refuses a style that was not trained on the trunk `model` dreams with (the one compatibility check). */
export function checkStyleFits(model: ModelManifest, style: ModelManifest): void {
  if (!style.style) throw new DreamParamsError({ code: 'style.is-a-model', params: { style: style.name } });
  if (style.style.trunk !== trunkOf(model)) throw new DreamParamsError({ code: 'style.wrong-trunk', params: { style: style.name, trunk: style.style.trunk, model: trunkOf(model) } });
}

/** A style's target: one of its classes (default: its first). */
function styleTarget(style: ModelManifest & { style: NonNullable<ModelManifest['style']> }, target?: string): { style: string; target: string } {
  const classes = style.style.classes;
  if (target !== undefined && !classes.includes(target)) throw unknownClass(style.name, classes, target);
  return { style: style.name, target: target ?? classes[0] };
}

/**
 * The style part of a recipe for a dream with `model`: `{}` without a style; `{ style, target }` when `style` names
 * an installed style trained on the same trunk (or `model` is itself a style), with `target` one of its classes
 * (default: its first). Anything else is a DreamParamsError whose one line names the valid choices.
 */
export async function resolveStyle(model: ModelManifest, style: string | undefined, target: string | undefined, where: ModelDirs): Promise<{ style?: string; target?: string }> {
  if (style === undefined) {
    // A fine-tuned style dreams its own trunk's layers; its class logit joins only when a target is asked for.
    if (model.style?.fineTune && target === undefined) return {};
    if (model.style) return styleTarget({ ...model, style: model.style }, target);
    if (target !== undefined) throw new DreamParamsError({ code: 'style.not-a-style', params: { model: model.name } });
    return {};
  }
  const installed = async () => (await listStyles(where.stylesDir ?? where.modelsDir ?? MODELS_DIR)).map((s) => s.name);
  let manifest: ModelManifest;
  try {
    manifest = await loadManifest(style, where);
  } catch (err) {
    if (err instanceof ModelError) throw new DreamParamsError({ code: 'style.unknown', params: { style, installed: await installed() } });
    throw err;
  }
  checkStyleFits(model, manifest);
  // A fine-tuned style dreams its own trunk's layers; its class logit joins only when a target is asked for.
  if (manifest.style?.fineTune && target === undefined) return { style: manifest.name };
  return styleTarget({ ...manifest, style: manifest.style! }, target);
}
