// A classifier's labels, read from its model folder without loading any weights, a backend or ONNX Runtime: for
// autocomplete and for checking an Explain or class target where a request is taken (src/engine/light.ts).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_EXPLAIN_MODEL } from '../class-model.ts';
import { loadManifest, ModelError, type ModelDirs, type ModelManifest } from '../model/manifest.ts';
import { makeLabelSet, resolveTarget, type LabelSet } from './labels.ts';

/** A class of an explainable model, as shown, with its WordNet id when it has one. */
export interface ExplainClass {
  label: string;
  synset?: string;
}

export function notExplainable(manifest: ModelManifest): ModelError {
  return new ModelError(
    `Model ${manifest.name} cannot explain pictures: it is not a classifier (its manifest has no "explain" block) nor a trained style.`,
  );
}

async function readJsonList(dir: string, file: string, what: string, model: string): Promise<string[]> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path.resolve(dir, file), 'utf8'));
  } catch (err) {
    throw new ModelError(`Model ${model}: cannot read its ${what} ${file} (${(err as Error).message.split('\n')[0]}).`);
  }
  if (!Array.isArray(json) || json.some((s) => typeof s !== 'string' || !s)) throw new ModelError(`Model ${model}: ${file} must be a JSON array of ${what}.`);
  return json as string[];
}

/** The classes of an explainable model or style, without loading any weights (for autocomplete). */
export async function loadLabelSet(manifest: ModelManifest): Promise<LabelSet> {
  if (manifest.style) return makeLabelSet(manifest.style.classes);
  const spec = manifest.explain;
  if (!spec) throw notExplainable(manifest);
  const names = await readJsonList(manifest.dir, spec.labels, 'class names', manifest.name);
  const synsets = spec.synsets ? await readJsonList(manifest.dir, spec.synsets, 'WordNet ids', manifest.name) : undefined;
  if (synsets && synsets.length !== names.length) throw new ModelError(`Model ${manifest.name}: ${spec.synsets} has ${synsets.length} ids for ${names.length} labels.`);
  return makeLabelSet(names, synsets, spec.displayNames);
}

/**
 * The labels of an explainable model or style, as `Explainer.labels` has them, without loading weights or a
 * backend: for autocomplete and for checking a target before queueing work.
 */
export async function explainLabels(model: string = DEFAULT_EXPLAIN_MODEL, dirs: ModelDirs = {}): Promise<string[]> {
  return (await loadLabelSet(await loadManifest(model, dirs))).labels;
}

/** {@link explainLabels} with each class's WordNet id (ImageNet classifiers), for showing them in other languages. */
export async function explainClasses(model: string = DEFAULT_EXPLAIN_MODEL, dirs: ModelDirs = {}): Promise<ExplainClass[]> {
  const set = await loadLabelSet(await loadManifest(model, dirs));
  return set.labels.map((label, i) => (set.synsets ? { label, synset: set.synsets[i] } : { label }));
}

/** Checks a target against a model's labels without loading it: its class index and label, or a DreamParamsError. */
export async function checkExplainTarget(target: string | number, model: string = DEFAULT_EXPLAIN_MODEL, dirs: ModelDirs = {}): Promise<{ index: number; label: string }> {
  const manifest = await loadManifest(model, dirs);
  const set = await loadLabelSet(manifest);
  const index = resolveTarget(set, target, manifest.name);
  return { index, label: set.labels[index] };
}
