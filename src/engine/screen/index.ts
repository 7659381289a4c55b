// Screening pictures for explicit content with nsfwjs's classifier, compiled like the dream trunk.
export {
  createScreener,
  DEFAULT_NSFW_THRESHOLD,
  NSFW_CLASSES,
  type NsfwClass,
  type ScreenResult,
  type Screener,
  type ScreenerOptions,
} from './screener.ts';
