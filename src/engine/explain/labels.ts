// Class labels of an explainable classifier: unique names to show, and what a person may type to pick one.
import { DreamParamsError } from '../dream.ts';

/** A classifier's classes, in output order. */
export interface LabelSet {
  /** Unique, human-readable names (duplicates disambiguated, e.g. "crane (bird)" and "crane (machine)"). */
  labels: string[];
  /** The names as the model's label file has them (may repeat). */
  names: string[];
  /** WordNet ids (`n02012849`), when the model has them. */
  synsets?: string[];
}

/**
 * Unique names: a name that occurs once is kept; a repeated one takes its entry in `displayNames` (by index),
 * else its synset id in brackets, else its index.
 */
export function makeLabelSet(names: string[], synsets?: string[], displayNames: Record<string, string> = {}): LabelSet {
  const count = new Map<string, number>();
  for (const n of names) count.set(norm(n), (count.get(norm(n)) ?? 0) + 1);
  const labels = names.map((n, i) => displayNames[String(i)] ?? ((count.get(norm(n)) ?? 0) > 1 ? `${n} (${synsets?.[i] ?? `#${i}`})` : n));
  const seen = new Set<string>();
  for (const l of labels) {
    if (seen.has(norm(l))) throw new Error(`internal: label "${l}" is still not unique`);
    seen.add(norm(l));
  }
  return { labels, names, ...(synsets ? { synsets } : {}) };
}

const norm = (s: string): string => s.trim().toLowerCase().replace(/[\s_]+/g, ' ');

/**
 * The class index a target names: an index (number, or a string of digits), a label as shown ("crane (bird)"),
 * a WordNet id ("n02012849"), or a name from the label file when only one class has it; case and spaces (or
 * underscores) do not matter. Anything else is a DreamParamsError whose one line lists up to 5 close labels.
 */
export function resolveTarget(set: LabelSet, target: string | number, model: string): number {
  const count = set.labels.length;
  if (typeof target === 'number' || /^\s*\d+\s*$/.test(String(target))) {
    const i = Number(target);
    if (Number.isInteger(i) && i >= 0 && i < count) return i;
    throw new DreamParamsError({ code: 'label.out-of-range', params: { target: String(target).trim(), model, count } });
  }
  const q = norm(target);
  if (!q) throw new DreamParamsError({ code: 'label.empty', params: { model } });
  let i = set.labels.findIndex((l) => norm(l) === q);
  if (i >= 0) return i;
  i = set.synsets?.findIndex((s) => s.toLowerCase() === q) ?? -1;
  if (i >= 0) return i;
  const same = set.names.flatMap((n, k) => (norm(n) === q ? [k] : []));
  if (same.length === 1) return same[0];
  if (same.length > 1) throw new DreamParamsError({ code: 'label.ambiguous', params: { target: target.trim(), model, options: same.map((k) => set.labels[k]) } });
  throw new DreamParamsError({ code: 'label.unknown', params: { target: target.trim(), model, close: closeLabels(set.labels, target) } });
}

/**
 * Up to `limit` labels that look like `query`, best first: labels containing it (shortest first), then labels with
 * a part within a few typos of it (edit distance to the closest substring, then to the whole label). For error
 * messages and autocomplete.
 */
export function closeLabels(labels: string[], query: string, limit = 5): string[] {
  const q = norm(query);
  if (!q) return labels.slice(0, limit);
  const allowed = Math.max(1, Math.floor(q.length / 3));
  const scored: { label: string; rank: [number, number, number] }[] = [];
  for (const label of labels) {
    const l = norm(label);
    const at = l.indexOf(q);
    if (at >= 0) {
      // Contained: word starts first, then shorter labels.
      scored.push({ label, rank: [0, at === 0 || l[at - 1] === ' ' ? 0 : 1, l.length] });
      continue;
    }
    const part = substringDistance(q, l);
    if (part <= allowed) scored.push({ label, rank: [1 + part, 0, editDistance(q, l)] });
  }
  scored.sort((a, b) => a.rank[0] - b.rank[0] || a.rank[1] - b.rank[1] || a.rank[2] - b.rank[2] || (a.label < b.label ? -1 : 1));
  return scored.slice(0, limit).map((s) => s.label);
}

/** Levenshtein distance. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}

/** Smallest edit distance between `a` and any substring of `b` (Sellers): "huskey" is 1 from "siberian husky". */
function substringDistance(a: string, b: string): number {
  let prev = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return Math.min(...prev);
}
