// Custom nightmare styles: transfer learning on your own photos (`npm run train`), then dreaming with them.
export { listStyles, type StyleSummary } from './list.ts';
export { trainStyle, TRAIN_DEFAULTS, CLASS_GRADIENT_RATIO, type TrainOptions, type TrainResult, type TrainProgress, type EpochStats } from './train.ts';
export { FINE_TUNE_DEFAULTS } from './fine-tune.ts';
export { readTrainingImage, StyleDataError, type SkippedFile } from './dataset.ts';
export { checkStyleFits, classObjective, loadStyleHead, resolveStyle, type StyleHead } from './head.ts';
export type { StyleFile, StyleHeadSpec, StyleObjective } from './spec.ts';
export { STYLE_NAME } from './spec.ts';
