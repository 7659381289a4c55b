/**
 * One term of a dream's objective: `Σ_c channelWeights[c] · mean_{h,w}(layer[..., c])`.
 * Plain DeepDream on a layer (the mean of all its activations) is `channelWeights = 1/C` for every channel;
 * a style's class logit on the global average of its feature layer is the head's column times the class weight.
 * Every backend computes the same objective from these terms, so presets and styles share one path.
 */
export interface LayerTerm {
  layer: string;
  /** One weight per channel of `layer`. */
  channelWeights: Float32Array;
}

/**
 * A guided term (the original DeepDream notebook's `objective_guide`):
 * `Σ_positions max_j (act(p) · guide_j) / (H·W)`. Its upstream gradient at each position is the guide vector that
 * matches that position best by dot product (over H·W), so the image grows the guide's features rather than
 * "more of everything".
 */
export interface GuideTerm {
  layer: string;
  /** `[n, C]` row-major guide feature vectors, n ≥ 1 (already scaled by {@link guideTerm}). */
  guide: Float32Array;
}

/**
 * What a backend's `lossAndGradient` takes: per-layer forms of the upstream gradient from activations.
 * Means (presets, styles) and guides share the one path on every backend.
 */
export type ObjectiveTerm = LayerTerm | GuideTerm;

export function isGuideTerm(t: ObjectiveTerm): t is GuideTerm {
  return 'guide' in t;
}

/** The plain DeepDream term of a layer with `channels` channels: the mean of all its activations. */
export function meanTerm(layer: string, channels: number): LayerTerm {
  return { layer, channelWeights: new Float32Array(channels).fill(1 / channels) };
}

/**
 * A dream layer as a recipe names it: the whole layer (`mixed4`) or one of its channels (`mixed4:97`).
 * Null when the text is neither.
 */
export function splitLayerSpec(spec: string): { layer: string; channel?: number } | null {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(?::(\d{1,6}))?$/.exec(spec.trim());
  if (!m) return null;
  return m[2] === undefined ? { layer: m[1] } : { layer: m[1], channel: Number(m[2]) };
}

/** One channel's term: the mean of that channel alone (a one-hot weight vector on its layer). */
export function channelTerm(layer: string, channel: number, channels: number): LayerTerm {
  const channelWeights = new Float32Array(channels);
  channelWeights[channel] = 1;
  return { layer, channelWeights };
}

/** At most this many guide vectors: the per-position match is an [H·W, n] product, so n bounds its cost. */
export const MAX_GUIDE_VECTORS = 2048;

/**
 * The guide term of a layer from the guide image's activations there (`[positions, C]` row-major, e.g. HWC),
 * subsampled evenly to at most `maxVectors`. The vectors are scaled by one constant so that the gradient at a
 * position has, on average, the L2 norm of a plain mean term's (`1/(√C·H·W)`): mixed with means or a style's
 * class term it pulls about as hard; the best match (argmax) is the notebook's, unchanged by a common scale.
 */
export function guideTerm(layer: string, activations: Float32Array, channels: number, maxVectors = MAX_GUIDE_VECTORS): GuideTerm {
  const positions = Math.floor(activations.length / channels);
  if (positions < 1 || activations.length !== positions * channels) throw new Error(`Guide activations on ${layer}: ${activations.length} floats for ${channels} channels.`);
  const n = Math.min(positions, maxVectors);
  const guide = new Float32Array(n * channels);
  let sumSquares = 0;
  for (let j = 0; j < n; j++) {
    const from = Math.floor((j * positions) / n) * channels;
    for (let c = 0; c < channels; c++) {
      const v = activations[from + c];
      guide[j * channels + c] = v;
      sumSquares += v * v;
    }
  }
  const rms = Math.sqrt(sumSquares / n);
  // An all-zero guide (a blank picture) matches nothing: it stays zero and the step normalisation copes.
  const scale = rms > 0 ? 1 / (rms * Math.sqrt(channels)) : 0;
  for (let i = 0; i < guide.length; i++) guide[i] *= scale;
  return { layer, guide };
}

/**
 * Terms combined per layer, in first-seen order: mean terms on one layer are summed (a layer may appear in a
 * preset and in a style's class term); guide terms on one layer have their vectors concatenated (the best match
 * over both sets is the best of the two).
 */
export function mergeTerms(terms: LayerTerm[]): LayerTerm[];
export function mergeTerms(terms: ObjectiveTerm[]): ObjectiveTerm[];
export function mergeTerms(terms: ObjectiveTerm[]): ObjectiveTerm[] {
  const out: ObjectiveTerm[] = [];
  const means = new Map<string, LayerTerm>();
  const guides = new Map<string, GuideTerm>();
  for (const t of terms) {
    if (isGuideTerm(t)) {
      const prev = guides.get(t.layer);
      if (!prev) {
        const copy = { layer: t.layer, guide: t.guide };
        guides.set(t.layer, copy);
        out.push(copy);
      } else {
        const joined = new Float32Array(prev.guide.length + t.guide.length);
        joined.set(prev.guide);
        joined.set(t.guide, prev.guide.length);
        prev.guide = joined;
      }
      continue;
    }
    const prev = means.get(t.layer);
    if (!prev) {
      const copy = { layer: t.layer, channelWeights: Float32Array.from(t.channelWeights) };
      means.set(t.layer, copy);
      out.push(copy);
    } else if (prev.channelWeights.length !== t.channelWeights.length) throw new Error(`Objective terms on ${t.layer} disagree on its channel count.`);
    else for (let c = 0; c < prev.channelWeights.length; c++) prev.channelWeights[c] += t.channelWeights[c];
  }
  return out;
}

/** Checks a guide's shape against its layer's channel count; returns the number of guide vectors. */
export function guideRows(t: GuideTerm, channels: number): number {
  const n = t.guide.length / channels;
  if (!Number.isInteger(n) || n < 1) throw new Error(`Guide on ${t.layer}: ${t.guide.length} floats is not a whole number (≥ 1) of ${channels}-channel vectors.`);
  return n;
}
