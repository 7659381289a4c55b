import type { RgbImage } from '../imaging/rgb-image.ts';
import type { DreamParams } from './dream.ts';
import { DEFAULT_GUIDE_LAYER, DreamParamsError } from './dream.ts';
import type { ModelManifest } from './model/manifest.ts';
import { randomSeed } from './random.ts';
import { checkZoomParams, type ZoomParams } from './zoom.ts';

export const INTENSITIES = ['low', 'medium', 'high', 'nightmare'] as const;
export type Intensity = (typeof INTENSITIES)[number];

export interface Preset {
  octaves: number;
  steps: number;
  stepSize: number;
  /** Layers for the stock model; a model without them uses its own default layers. */
  layers: string[];
}

/** Tuned by looking at their images on real photos; see README for samples and timings (described in src/i18n). */
export const PRESETS: Record<Intensity, Preset> = {
  low: { octaves: 2, steps: 6, stepSize: 0.012, layers: ['mixed3', 'mixed5'] },
  medium: { octaves: 3, steps: 10, stepSize: 0.018, layers: ['mixed3', 'mixed5'] },
  high: { octaves: 4, steps: 12, stepSize: 0.02, layers: ['mixed3', 'mixed5'] },
  nightmare: { octaves: 5, steps: 15, stepSize: 0.025, layers: ['mixed2', 'mixed3', 'mixed5'] },
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
  /** A guide picture that decides what grows, and the dream layer it guides at (default mixed4). */
  guide?: RgbImage;
  guideLayer?: string;
}

/** What a zoom animation adds to a recipe. */
export interface ZoomOverrides extends RecipeOverrides {
  /** Frames, the input included (default 36). */
  frames?: number;
  /** Zoom factor per frame (default 1.05). */
  zoom?: number;
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
  if (o.guideLayer !== undefined && !o.guide) throw new DreamParamsError('A guide layer needs a guide image.');
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
    ...(o.guide ? { guide: { image: o.guide, layer: guideLayerFor(manifest, o.guideLayer) } } : {}),
  };
}

/**
 * The layer a guide steers: the one asked for, which must be a dream layer of the model, else mixed4 (the
 * notebook's middle layer) when the model has it, else the model's deepest default layer.
 */
export function guideLayerFor(manifest: ModelManifest, layer?: string): string {
  if (layer === undefined) return manifest.dreamLayers.includes(DEFAULT_GUIDE_LAYER) ? DEFAULT_GUIDE_LAYER : manifest.defaultLayers[manifest.defaultLayers.length - 1];
  if (!manifest.dreamLayers.includes(layer)) {
    throw new DreamParamsError(`Unknown guide layer "${layer}" for model ${manifest.name}. Valid layers: ${manifest.dreamLayers.join(', ')}.`);
  }
  return layer;
}

export const ZOOM_DEFAULTS = {
  frames: 36,
  zoom: 1.05,
  /** Longest side of a zoom's frames unless asked otherwise: a GIF this size plays inline and stays small. */
  maxSide: 512,
  /** A preview every this many frames. */
  previewEvery: 6,
} as const;

/**
 * Each zoom frame is a short dream of the last (octaves × steps, octaves 1.4× apart), at the intensity's step size:
 * the effect builds up over the frames. A third, small octave grows larger creatures for ~25 % more time than two
 * (compared on the sample); see README for timings.
 */
export const ZOOM_PRESETS: Record<Intensity, { octaves: number; steps: number }> = {
  low: { octaves: 2, steps: 3 },
  medium: { octaves: 3, steps: 3 },
  high: { octaves: 3, steps: 4 },
  nightmare: { octaves: 3, steps: 5 },
};
export const ZOOM_OCTAVE_SCALE = 1.4;

/** A zoom's recipe: {@link resolveParams} with the intensity's per-frame octaves, steps and scale, plus frames and zoom. */
export function resolveZoomParams(manifest: ModelManifest, o: ZoomOverrides = {}): ZoomParams & { intensity: Intensity } {
  const perFrame = ZOOM_PRESETS[o.intensity ?? 'medium'];
  const params = {
    ...resolveParams(manifest, { ...o, octaves: o.octaves ?? perFrame.octaves, steps: o.steps ?? perFrame.steps, octaveScale: o.octaveScale ?? ZOOM_OCTAVE_SCALE }),
    frames: o.frames ?? ZOOM_DEFAULTS.frames,
    zoom: o.zoom ?? ZOOM_DEFAULTS.zoom,
  };
  checkZoomParams(params);
  return params;
}

/** Named layer choices for people who do not know InceptionV3's layer names (stock model; described in src/i18n). */
export const LAYER_PRESETS = {
  classic: { layers: ['mixed3', 'mixed5'] },
  swirls: { layers: ['mixed2'] },
  brushwork: { layers: ['mixed0', 'mixed1'] },
  creatures: { layers: ['mixed4', 'mixed5'] },
} as const satisfies Record<string, { layers: string[] }>;
export type LayerPreset = keyof typeof LAYER_PRESETS;

export function isLayerPreset(v: string): v is LayerPreset {
  return v in LAYER_PRESETS;
}
