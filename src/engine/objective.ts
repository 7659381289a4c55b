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

/** The plain DeepDream term of a layer with `channels` channels: the mean of all its activations. */
export function meanTerm(layer: string, channels: number): LayerTerm {
  return { layer, channelWeights: new Float32Array(channels).fill(1 / channels) };
}

/** Terms summed per layer (a layer may appear in a preset and in a style's class term), in first-seen order. */
export function mergeTerms(terms: LayerTerm[]): LayerTerm[] {
  const byLayer = new Map<string, Float32Array>();
  for (const t of terms) {
    const prev = byLayer.get(t.layer);
    if (!prev) byLayer.set(t.layer, Float32Array.from(t.channelWeights));
    else if (prev.length !== t.channelWeights.length) throw new Error(`Objective terms on ${t.layer} disagree on its channel count.`);
    else for (let c = 0; c < prev.length; c++) prev[c] += t.channelWeights[c];
  }
  return [...byLayer].map(([layer, channelWeights]) => ({ layer, channelWeights }));
}
