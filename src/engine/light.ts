// What the bot, its jobs and the composition root (src/bin/compose.ts) take from the engine on a process's main
// thread: names, presets, recipes, manifests and label lookups, none of which loads a backend, a model's weights or
// ONNX Runtime. Dreams run in worker threads (src/runner/dream-worker.ts), which import index.ts; so `npm start`,
// `npm run worker` and every bot and worker process a test starts never load tfjs on their main thread (~0.4 s of
// CPU per start). index.ts, the engine's public surface, exports all of it too; options.ts is the smaller set a
// command line checks before the engine loads.
export { ANIMATION_DEFAULTS, type AnimationParams, type AnimationProgress } from './animate.ts';
export { DEFAULT_MAX_SIDE, type BackendName } from './backend-names.ts';
export { GUIDE_MAX_SIDE, type DreamParams } from './dream.ts';
export { checkExplainTarget, explainClasses, type ExplainClass } from './explain/label-set.ts';
export { listDreamModels, resolveClass, resolveDreamModel } from './grow.ts';
export { loadManifest, type ModelManifest } from './model/manifest.ts';
export { splitLayerSpec } from './objective.ts';
export {
  guideLayerFor,
  INTENSITIES,
  isIntensity,
  resolveParams,
  resolveZoomParams,
  ZOOM_DEFAULTS,
  type Intensity,
  type RecipeOverrides,
  type ZoomOverrides,
} from './presets.ts';
export { randomSeed } from './random.ts';
export { resolveStyle } from './style/head.ts';
export type { ZoomParams } from './zoom.ts';
