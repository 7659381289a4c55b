import type { RgbImage } from '../imaging/rgb-image.ts';
import type { DreamParams } from './dream.ts';
import { DEFAULT_GUIDE_LAYER, DreamParamsError } from './dream.ts';
import type { ModelManifest } from './model/manifest.ts';
import { splitLayerSpec } from './objective.ts';
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

/**
 * A soft dream's step size is the preset's times this: band-normalised gradients carry more of their size in broad
 * strokes, so the same step changes a picture more. Chosen so that the RMS change of a soft dream matches a classic
 * one's on real photos (README, "Grow anything").
 */
export const SOFT_STEP_SCALE = 0.7;

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
  /**
   * A trained style whose class is grown into the dream, and that class; without a style, `target` is an ImageNet
   * class (checked and named by resolveClass), grown alone unless `layers` are given.
   */
  style?: string;
  target?: string;
  /** Weight of the class beside the layers (see DreamParams.classWeight). */
  classWeight?: number;
  /** Soft dream (Laplacian-pyramid normalisation); default: on for a class grown alone, else off. */
  soft?: boolean;
  /** The dream model, when not the dreamer's own (checked by resolveDreamModel). */
  model?: string;
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
  // A fine-tuned style dreams its own blocks' layers (the seed's recipe) unless layers are asked for.
  const presetLayers = !manifest.style?.fineTune && preset.layers.every((l) => manifest.dreamLayers.includes(l)) ? preset.layers : manifest.defaultLayers;
  // An ImageNet class (a target without a style) grows alone unless layers are asked for.
  const imageNetClass = o.target !== undefined && !o.style && !manifest.style;
  const classAlone = imageNetClass && o.layers === undefined && !o.guide;
  const layers = o.layers ?? (classAlone ? [] : presetLayers);
  const specs = layers.map((l) => ({ text: l, spec: splitLayerSpec(l) }));
  const malformed = specs.find((s) => !s.spec || (s.spec.channel !== undefined && !manifest.dreamLayers.includes(s.spec.layer)));
  if (malformed) throw new DreamParamsError({ code: 'channel.bad', params: { value: malformed.text, model: manifest.name, layers: manifest.dreamLayers } });
  const unknown = layers.filter((l) => !manifest.dreamLayers.includes(splitLayerSpec(l)?.layer ?? l));
  if (unknown.length) {
    throw new DreamParamsError(
      `Unknown layer${unknown.length > 1 ? 's' : ''} ${unknown.map((l) => `"${l}"`).join(', ')} for model ${manifest.name}. Valid layers: ${manifest.dreamLayers.join(', ')}.`,
    );
  }
  if (o.guideLayer !== undefined && !o.guide) throw new DreamParamsError('A guide layer needs a guide image.');
  if (o.classWeight !== undefined && !(o.classWeight >= 0 && o.classWeight <= 100)) throw new DreamParamsError('The class weight must be a number from 0 to 100.');
  const soft = o.soft ?? classAlone;
  return {
    intensity,
    layers: [...new Set(layers.map((l) => l.trim()))],
    octaves: o.octaves ?? preset.octaves,
    octaveScale: o.octaveScale ?? DEFAULT_OCTAVE_SCALE,
    steps: o.steps ?? preset.steps,
    // A class alone keeps the preset's step even though soft: one classifier's logit changes a picture less per step
    // (RMS change 0.057 against classic's 0.086 at 0.6× the step, on chelsea.png at 384 px), so its full step is as strong as classic.
    stepSize: o.stepSize ?? (classAlone ? preset.stepSize : softStep(preset.stepSize, soft)),
    seed: o.seed ?? randomSeed(),
    tileSize: o.tileSize ?? DEFAULT_TILE_SIZE,
    ...(o.style ? { style: o.style, target: o.target } : imageNetClass ? { target: o.target } : {}),
    ...(o.classWeight !== undefined ? { classWeight: o.classWeight } : {}),
    ...(soft ? { soft: true } : {}),
    ...(o.model !== undefined ? { model: o.model } : {}),
    ...(o.guide ? { guide: { image: o.guide, layer: guideLayerFor(manifest, o.guideLayer) } } : {}),
  };
}

/** A preset's step size for a soft dream (SOFT_STEP_SCALE), rounded to 4 decimals so a recipe reads cleanly. */
export function softStep(stepSize: number, soft: boolean): number {
  return soft ? Math.round(stepSize * SOFT_STEP_SCALE * 1e4) / 1e4 : stepSize;
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
