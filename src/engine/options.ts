// The engine's names, presets and limits, importable without loading a backend, a model or ONNX Runtime: what a
// command line checks before the (slower) engine loads, so --help and usage errors answer at once. index.ts, the
// engine's public surface, exports all of it too.
export { CLASS_MODEL, HYBRID_CLASS_WEIGHT } from './class-model.ts';
export { BACKEND_CHOICES, DEFAULT_MAX_SIDE, type BackendChoice, type BackendName } from './backend-names.ts';
export { GUIDE_MAX_SIDE } from './dream.ts';
export { INTENSITIES, isIntensity, PRESETS, ZOOM_DEFAULTS, ZOOM_PRESETS, type Intensity, type ZoomOverrides } from './presets.ts';
export { ZOOM_LIMITS } from './zoom.ts';
export { MODELS_DIR } from './model/manifest.ts';
export { DEFAULT_NSFW_THRESHOLD } from './screen/threshold.ts';
