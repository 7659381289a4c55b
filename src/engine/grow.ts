// Growing anything: an ImageNet class (the Explain classifier's logit), and which installed models can dream.
import { readdir } from 'node:fs/promises';
import { synsetNamed } from '../i18n/index.ts';
import { DreamParamsError } from './dream.ts';
import type { Classifier } from './explain/classifier.ts';
import { checkExplainTarget } from './explain/label-set.ts';
import { CLASS_MODEL, HYBRID_CLASS_WEIGHT } from './class-model.ts';
import { loadManifest, ModelError, MODELS_DIR, type ModelDirs, type ModelManifest } from './model/manifest.ts';
import type { LayerTerm } from './objective.ts';
import { resolveStyle } from './style/head.ts';

export { CLASS_MODEL, HYBRID_CLASS_WEIGHT } from './class-model.ts';

/**
 * In a hybrid, the classifier reads the picture at 0.7× its side: its gradient costs about half (the hybrid took 1.65×
 * a plain dream with it at full size), and the fish come out a little larger. At 0.5 the upsampled class gradient
 * blurred the layers' creatures away (compared on chelsea.png; goldfish stays first at half size either way).
 */
export const HYBRID_CLASS_SCALE = 0.7;

/**
 * An ImageNet class as the classifier shows it ("goldfish", "crane (bird)"), from what a person typed: a label,
 * its name in any language the bot speaks ("金魚"), a WordNet id or an index. A typo is one sentence with close
 * matches; "crane" is the ambiguity sentence.
 */
export async function resolveImageNetClass(target: string, dirs: ModelDirs = {}): Promise<{ index: number; label: string }> {
  const synset = synsetNamed(target);
  return checkExplainTarget(synset ?? target, CLASS_MODEL, dirs);
}

/**
 * The class part of a recipe: a trained style's class (its own meaning, unchanged), or without a style an ImageNet
 * class, returned as the classifier's label so that a recipe reads back the same in any language.
 */
export async function resolveClass(model: ModelManifest, style: string | undefined, target: string | undefined, dirs: ModelDirs): Promise<{ style?: string; target?: string }> {
  if (style === undefined && !model.style && target !== undefined) return { target: (await resolveImageNetClass(target, dirs)).label };
  return resolveStyle(model, style, target, dirs);
}

/**
 * The class term: logit_k minus its bias is `Σ_c W[c, k] · GAP(features)[c]`, a per-channel weight vector on the
 * classifier's feature layer, exactly the objective's LayerTerm (no new graph).
 */
export function imageNetClassTerm(classifier: Classifier, index: number): LayerTerm {
  const { features, kernel } = classifier.head;
  const classes = classifier.labels.labels.length;
  const channelWeights = new Float32Array(features);
  for (let c = 0; c < features; c++) channelWeights[c] = kernel[c * classes + index];
  return { layer: classifier.featureLayer, channelWeights };
}

/** A model a member may dream with: not a trained style (those are `style:`) nor a screening-only model. */
export function isDreamModel(m: ModelManifest): boolean {
  return !m.style && !m.screen;
}

/** The dream-capable models installed under `modelsDir`, sorted by name (manifests only: cheap for autocomplete). */
export async function listDreamModels(dirs: ModelDirs = {}): Promise<ModelManifest[]> {
  const modelsDir = dirs.modelsDir ?? MODELS_DIR;
  const entries = await readdir(modelsDir, { withFileTypes: true }).catch(() => []);
  const found: ModelManifest[] = [];
  for (const e of entries) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    const m = await loadManifest(e.name, { modelsDir }).catch(() => null);
    if (m && m.name === e.name && isDreamModel(m)) found.push(m);
  }
  return found.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** A dream model by name, or one sentence listing the installed ones. */
export async function resolveDreamModel(name: string, dirs: ModelDirs = {}): Promise<ModelManifest> {
  const installed = async () => (await listDreamModels(dirs)).map((m) => m.name);
  let m: ModelManifest;
  try {
    m = await loadManifest(name, { modelsDir: dirs.modelsDir });
  } catch (err) {
    if (err instanceof ModelError) throw new DreamParamsError({ code: 'model.unknown', params: { model: name, installed: await installed() } });
    throw err;
  }
  if (!isDreamModel(m) || m.name !== name) throw new DreamParamsError({ code: 'model.unknown', params: { model: name, installed: await installed() } });
  return m;
}
