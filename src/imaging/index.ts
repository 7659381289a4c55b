export { ImageInputError, OutputFormatError } from './errors.ts';
export type { RgbImage } from './rgb-image.ts';
export { readImage, type ReadImageOptions, type ReadImageResult } from './read-image.ts';
export {
  encodeImage,
  encodeToFit,
  formatFromPath,
  writeFileAtomically,
  writeImage,
  type EncodeOptions,
  type FittedImage,
  type OutputFormat,
} from './write-image.ts';
export { shrinkImage } from './resize-image.ts';
export {
  colorizeHeatmap,
  heatmapLegend,
  overlayHeatmap,
  sideBySide,
  textRenderingAvailable,
  turbo,
  upsampleHeatmap,
  type Heatmap,
  type LegendOptions,
  type OverlayOptions,
  type Panel,
  type SideBySideOptions,
} from './heatmap.ts';
export {
  animationFormatOf,
  encodeAnimation,
  encodeAnimationToFit,
  encodeLastFrame,
  type AnimationFormat,
  type AnimationOptions,
  type FitAnimationOptions,
  type FittedAnimation,
} from './animation.ts';
export {
  probeAnimation,
  readAnimation,
  sampleFrames,
  type AnimationHeader,
  type DecodedAnimation,
  type FramePlan,
  type ReadAnimationOptions,
} from './read-animation.ts';
