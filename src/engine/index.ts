// The dream engine's public surface: everything outside src/engine imports from here, or from light.ts (what the
// bot, its jobs and the composition root need on a main thread: no backend, no weights) or options.ts (what a
// command line checks before the engine loads).
export { createDreamer, type Dreamer, type DreamerOptions } from './dreamer.ts';
export { BACKEND_CHOICES, DEFAULT_MAX_SIDE, initBackend, type BackendChoice, type BackendInfo, type BackendName } from './backend.ts';
export { DreamCancelledError, DreamParamsError, type DreamParams, type DreamProgress, type DreamRunOptions } from './dream.ts';
export {
  DEFAULT_OCTAVE_SCALE,
  DEFAULT_TILE_SIZE,
  INTENSITIES,
  isIntensity,
  isLayerPreset,
  LAYER_PRESETS,
  PRESETS,
  resolveParams,
  type Intensity,
  type LayerPreset,
  type RecipeOverrides,
} from './presets.ts';
export { randomSeed } from './random.ts';
export { loadManifest, ModelError, MODELS_DIR, type ModelDirs, type ModelManifest } from './model/manifest.ts';
export {
  CLASS_GRADIENT_RATIO,
  listStyles,
  resolveStyle,
  StyleDataError,
  TRAIN_DEFAULTS,
  FINE_TUNE_DEFAULTS,
  trainStyle,
  type EpochStats,
  type StyleSummary,
  type TrainOptions,
  type TrainProgress,
  type TrainResult,
} from './style/index.ts';
export {
  checkExplainTarget,
  closeLabels,
  createExplainer,
  DEFAULT_EXPLAIN_MODEL,
  explainClasses,
  explainLabels,
  type ClassScore,
  type ExplainClass,
  type ExplainOptions,
  type Explainer,
  type ExplainerOptions,
  type Explanation,
} from './explain/index.ts';
export { DEFAULT_GUIDE_LAYER, GUIDE_MAX_SIDE, type DreamGuide } from './dream.ts';
export { guideLayerFor, resolveZoomParams, ZOOM_DEFAULTS, ZOOM_PRESETS, type ZoomOverrides } from './presets.ts';
export { dreamZoom, frameSeed, ZOOM_LIMITS, type FrameDreamer, type ZoomParams, type ZoomProgress, type ZoomRunOptions } from './zoom.ts';
export {
  createScreener,
  DEFAULT_NSFW_THRESHOLD,
  NSFW_CLASSES,
  type NsfwClass,
  type ScreenResult,
  type Screener,
  type ScreenerOptions,
} from './screen/index.ts';
export { CLASS_MODEL, HYBRID_CLASS_WEIGHT, isDreamModel, listDreamModels, resolveClass, resolveDreamModel, resolveImageNetClass } from './grow.ts';
export { SOFT_STEP_SCALE, softStep } from './presets.ts';
export { splitLayerSpec } from './objective.ts';
export { lapNormalise } from './lapnorm.ts';
export { ANIMATION_CARRY, ANIMATION_DEFAULTS, dreamAnimation, followRecipe, type AnimationParams, type AnimationProgress, type AnimationRunOptions } from './animate.ts';
export { FLOW_SIDE, greyAt, opticalFlow, warpImage, type Flow, type Grey } from './flow.ts';
