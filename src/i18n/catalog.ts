import type { ErrorCode, ErrorParams } from '../errors.ts';
import type { Formatters } from './format.ts';

/** The intensities and layer choices the catalogs name (the engine's preset ids). */
export type IntensityId = 'low' | 'medium' | 'high' | 'nightmare';
export type LayerPresetId = 'classic' | 'swirls' | 'brushwork' | 'creatures';
/** The channels `/dream channel:` suggests (chosen by looking at their dreams; README, "Grow anything"). */
export const CHANNEL_IDS = [
  'mixed1:100',
  'mixed2:250',
  'mixed3:20',
  'mixed3:150',
  'mixed3:400',
  'mixed3:600',
  'mixed4:97',
  'mixed4:200',
  'mixed4:300',
  'mixed4:400',
  'mixed5:100',
  'mixed5:600',
] as const;
export type ChannelId = (typeof CHANNEL_IDS)[number];
/** Dream models whose titles the catalogs word (others show their manifest's title). */
export type DreamModelId = 'inception_v3' | 'darknet_tiny';

/** A command's or option's words as Discord shows them (slash names: lowercase, no spaces, at most 32). */
export interface Words {
  name: string;
  description: string;
}

/** A recipe embed's field names: read back by Dream deeper and Reroll in any language. */
export interface RecipeFields {
  model: string;
  layers: string;
  intensity: string;
  octaves: string;
  stepSize: string;
  octaveScale: string;
  seed: string;
  size: string;
  backend: string;
  time: string;
  style: string;
  target: string;
  guide: string;
  guideLayer: string;
  soft: string;
}

/**
 * Every word a member sees, in one language. Each language is one file in `locales/` that fills all of it (a missing
 * key is a compile error). Numbers, sizes and durations are formatted inside with `Intl` for the language.
 */
export interface Catalog {
  queue: {
    /** "In the queue: position 2 (starts in ~1m 05s)"; `etaSeconds` ≤ 0: starting now. */
    waiting(position: number, etaSeconds: number): string;
    dreaming(p: { octave: number; octaves: number; step: number; steps: number; fraction: number; etaSeconds: number }): string;
    /** `etaSeconds` undefined until there is a first frame to time. */
    animating(p: { frame: number; frames: number; fraction: number; etaSeconds?: number }): string;
  };
  buttons: { cancel: string; deeper: string; reroll: string; explain: string; animate: string; delete: string };
  /** How a job ended without a result. */
  end: { cancelled: string; crashed: string; failed: string; notRun: string; diedTwice: string };
  /** Short phrases listed in a sentence ("a, b, and c"). */
  list(items: string[]): string;
  /** A member's error, as the reply shows it (⚠️ and the sentence). */
  refusedJob(sentence: string): string;
  ready: { dream(mention: string): string; animation(mention: string): string; explain(mention: string): string };
  intensities: Record<IntensityId, { name: string; summary: string }>;
  /** The word before a seed in a mention ("seed 42"). */
  seedWord: string;
  layerPresets: Record<LayerPresetId, string>;
  /** What each suggested channel grows, a few words. */
  channels: Record<ChannelId, string>;
  /** Dream models' titles as `/dream model:` offers them. */
  models: Record<DreamModelId, string>;
  /** The title's "what grows" for an ImageNet class (its name in this language). */
  imageNetClass: string;
  recipe: {
    fields: RecipeFields;
    title(intensity: IntensityId, style?: { name: string; target: string }): string;
    guideLink: string;
    seconds(s: number): string;
    footer: string;
  };
  zoom: {
    title(intensity: IntensityId): string;
    frames(shown: number, made: number): string;
    perFrame(zoom: number): string;
    fields: { intensity: string; frames: string; zoom: string; seed: string; size: string; time: string; fitted: string };
    /** What was given up to fit the upload limit, each a short phrase, and how they are listed. */
    gaveUp: { dithering: string; colours(n: number): string; quality(q: number): string; scaledTo(width: number, height: number): string; frames(kept: number, made: number): string };
    footer: string;
  };
  explain: {
    /** "Border terrier 22%". */
    score(label: string, probability: number): string;
    before: string;
    after: string;
    whereItSees(label: string): string;
    legend: { low: string; high: string };
    titleOne(label: string): string;
    titlePair(before: string, after: string): string;
    classifierImageNet: string;
    classifierStyle(style: string): string;
    topLabel: string;
    quoted(label: string): string;
    description(classifier: string, heatOf: string): string;
    fields: { before: string; after: string; top5: string; model: string };
    footer: string;
  };
  refusals: {
    queueFull(waiting: number, etaSeconds: number): string;
    userLimit(limit: number): string;
    closed: string;
    unavailable: string;
    nsfw: string;
    requestFailed: string;
    handlerFailed: string;
    restarting: string;
    notOwner: string;
    /** Delete pressed by someone who is neither the requester nor allowed to manage messages. */
    notYourResult: string;
    alreadyFinished: string;
    oldButton: string;
    lostRecipe: string;
    noImageToDream: string;
    noImageToExplain: string;
    /** A mention with no image in sight; says which intensity words (this language's names) a mention may add. */
    noImageInMention: string;
    /** A refusal about the guide picture rather than the image. */
    aboutGuide(sentence: string): string;
  };
  styles: {
    none: string;
    title: string;
    description: string;
    /** `trained` is absent when the style's manifest has no valid date. */
    /** `fineTuned`: the trunk blocks the style fine-tuned (it dreams on its own trunk). */
    entry(p: { classes: string[]; accuracy: number; trained?: Date; fineTuned?: string[] }): string;
  };
  /**
   * ImageNet's classes in this language, by WordNet id (Explain's labels); absent: the classifier's own (English)
   * labels. Style classes are names their trainer chose and are never translated.
   */
  classNames?: Readonly<Record<string, string>>;
  /** Member-caused errors by code (see src/errors.ts). */
  errors: { [C in ErrorCode]: (p: ErrorParams[C]) => string };
  /** Command names and descriptions for Discord, registered as localizations by `npm run deploy-commands`. */
  commands: {
    dream: Words & { options: Record<'image' | 'intensity' | 'layers' | 'seed' | 'style' | 'target' | 'guide' | 'channel' | 'soft' | 'model', Words> };
    zoom: Words & { options: Record<'image' | 'frames' | 'zoom' | 'intensity' | 'seed' | 'target' | 'channel' | 'soft', Words> };
    explain: Words & { options: Record<'image' | 'target' | 'style', Words> };
    styles: Words;
    /** An option's description with its default value. */
    withDefault(description: string, value: number): string;
    /** Apps-menu names (spaces allowed). */
    dreamMenu: string;
    explainMenu: string;
    /** Choice names of /zoom's intensity. */
    zoomIntensity(intensity: IntensityId, octaves: number, steps: number): string;
  };
  /** Server settings (/settings), daily limits (/quota) and where the bot works: every word of them. */
  community: CommunityWords;
  /** Animated inputs (GIF, animated WebP) dreamed frame by frame. */
  animation: {
    /** Title of an animation's result embed. */
    title(intensity: IntensityId): string;
    /** A long animation was sampled: kept of total frames, the same duration. */
    sampled(kept: number, total: number): string;
    /** Explain on an animation: it explains the first frame. */
    firstFrame: string;
  };
}

/** A server's settings as /settings show words them. */
export interface SettingsView {
  /** The policy in force, and whether it is this server's own or the deployment's (NSFW_POLICY). */
  policy: 'block' | 'spoiler' | 'off';
  policyOwn: boolean;
  dailyLimit: number;
  intensity?: IntensityId;
  mentions: boolean;
  channelMode: 'everywhere' | 'listed';
  channels: string[];
  recent: { dreams: number; members: number; refusals: number };
}

export interface CommunityWords {
  commands: {
    settings: Words & {
      show: Words;
      safety: Words & { policy: Words };
      dailyLimit: Words & { dreams: Words };
      intensity: Words & { default: Words };
      mentions: Words & { enabled: Words };
      channels: Words & { mode: Words };
      channel: Words & { channel: Words; allowed: Words };
    };
    quota: Words;
    /** Choice names. */
    policies: Record<'block' | 'spoiler' | 'off', string>;
    modes: Record<'everywhere' | 'listed', string>;
  };
  /** A member without Manage Server. */
  notManager: string;
  /** /settings or /quota outside a server (a DM). */
  serversOnly: string;
  /** The database cannot be reached. */
  unavailable: string;
  /** Asked in a channel that is not open here; names the open ones (Discord channel mentions). */
  channelClosed(channels: string[]): string;
  /** `cost`: what the refused request would have taken (a zoom costs several dreams). */
  dailyLimitReached(p: { used: number; limit: number; cost: number; resetsAt: Date }): string;
  negativeLimit: string;
  /** A channel that is not one of this server's. */
  foreignChannel: string;
  saved: {
    safety(policy: 'block' | 'spoiler' | 'off'): string;
    dailyLimit(dreams: number): string;
    intensity(intensity: IntensityId): string;
    mentions(enabled: boolean): string;
    channels(mode: 'everywhere' | 'listed', channels: string[]): string;
    channel(channel: string, allowed: boolean, mode: 'everywhere' | 'listed'): string;
  };
  show(v: SettingsView): string;
  quota(p: { used: number; limit: number; left?: number; resetsAt: Date }): string;
}

/** A language: its catalog and the Discord locales it answers (`ja`, or `en-US` and `en-GB`). */
export interface Language {
  /** BCP 47 tag used with Intl. */
  tag: string;
  /** Discord's locale codes for it; the first registers command localizations. */
  discordLocales: string[];
  /** Its numbers, sizes and durations (the catalog's own texts use them too). */
  format: Formatters;
  /** Text in this language's own script (a mention written in Japanese): answered in it whatever the server's language. */
  script?: RegExp;
  messages: Catalog;
}
