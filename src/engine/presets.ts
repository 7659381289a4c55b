import type { DreamParams } from './dream.ts';
import { DreamParamsError } from './dream.ts';
import type { ModelManifest } from './model/manifest.ts';
import { randomSeed } from './random.ts';

export const INTENSITIES = ['low', 'medium', 'high', 'nightmare'] as const;
export type Intensity = (typeof INTENSITIES)[number];

export interface Preset {
  octaves: number;
  steps: number;
  stepSize: number;
  /** Layers for the stock model; a model without them uses its own default layers. */
  layers: string[];
  summary: string;
}

/** Tuned by looking at their images on real photos; see README for samples and timings. */
export const PRESETS: Record<Intensity, Preset> = {
  low: { octaves: 2, steps: 6, stepSize: 0.012, layers: ['mixed3', 'mixed5'], summary: 'a light touch: swirls and first eyes' },
  medium: { octaves: 3, steps: 10, stepSize: 0.018, layers: ['mixed3', 'mixed5'], summary: 'the classic: eyes, fur and dog faces' },
  high: { octaves: 4, steps: 12, stepSize: 0.02, layers: ['mixed3', 'mixed5'], summary: 'dense dog faces and arches everywhere' },
  nightmare: { octaves: 5, steps: 15, stepSize: 0.025, layers: ['mixed2', 'mixed3', 'mixed5'], summary: 'nothing of the photo is safe' },
};

export const DEFAULT_OCTAVE_SCALE = 1.3;
export const DEFAULT_TILE_SIZE = 512;

/** What a user may set on top of a preset (CLI flags, Discord options). */
export interface RecipeOverrides {
  intensity?: Intensity;
  layers?: string[];
  octaves?: number;
  octaveScale?: number;
  steps?: number;
  stepSize?: number;
  seed?: number;
  tileSize?: number;
  /** A trained style whose class is grown into the dream, and that class (checked by resolveStyle). */
  style?: string;
  target?: string;
}

export function isIntensity(v: string): v is Intensity {
  return (INTENSITIES as readonly string[]).includes(v);
}

/** Preset + overrides + model -> the exact parameters of a dream, with readable errors for bad layers. */
export function resolveParams(manifest: ModelManifest, o: RecipeOverrides = {}): DreamParams & { intensity: Intensity } {
  const intensity = o.intensity ?? 'medium';
  const preset = PRESETS[intensity];
  const presetLayers = preset.layers.every((l) => manifest.dreamLayers.includes(l)) ? preset.layers : manifest.defaultLayers;
  const layers = o.layers ?? presetLayers;
  const unknown = layers.filter((l) => !manifest.dreamLayers.includes(l));
  if (unknown.length) {
    throw new DreamParamsError(
      `Unknown layer${unknown.length > 1 ? 's' : ''} ${unknown.map((l) => `"${l}"`).join(', ')} for model ${manifest.name}. Valid layers: ${manifest.dreamLayers.join(', ')}.`,
    );
  }
  return {
    intensity,
    layers: [...new Set(layers)],
    octaves: o.octaves ?? preset.octaves,
    octaveScale: o.octaveScale ?? DEFAULT_OCTAVE_SCALE,
    steps: o.steps ?? preset.steps,
    stepSize: o.stepSize ?? preset.stepSize,
    seed: o.seed ?? randomSeed(),
    tileSize: o.tileSize ?? DEFAULT_TILE_SIZE,
    ...(o.style ? { style: o.style, target: o.target } : {}),
  };
}

/** Named layer choices for people who do not know InceptionV3's layer names (stock model). */
export const LAYER_PRESETS = {
  classic: { layers: ['mixed3', 'mixed5'], description: 'eyes, fur and dog faces' },
  swirls: { layers: ['mixed2'], description: 'swirls and small eyes' },
  brushwork: { layers: ['mixed0', 'mixed1'], description: 'fine strokes and textures' },
  creatures: { layers: ['mixed4', 'mixed5'], description: 'larger animal parts' },
} as const satisfies Record<string, { layers: string[]; description: string }>;
export type LayerPreset = keyof typeof LAYER_PRESETS;

export function isLayerPreset(v: string): v is LayerPreset {
  return v in LAYER_PRESETS;
}
