// The dream command's arguments: parsed, checked and read before the engine loads (src/engine/options.ts loads no
// backend or model), so --help, usage errors and a missing file answer at once; dream-run.ts loads the engine and
// does the rest.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  BACKEND_CHOICES,
  CLASS_MODEL,
  HYBRID_CLASS_WEIGHT,
  DEFAULT_MAX_SIDE,
  INTENSITIES,
  isIntensity,
  ZOOM_DEFAULTS,
  ZOOM_LIMITS,
  ZOOM_PRESETS,
  type BackendChoice,
  type ZoomOverrides,
} from '../engine/options.ts';
import { animationFormatOf, formatFromPath, ImageInputError, type AnimationFormat } from '../imaging/index.ts';
import { numberFlag, parseCli } from './args.ts';
import { UsageError } from './exit.ts';

export const USAGE = `Usage: npm run dream -- <input> [options]
       npm run dream -- --info

Turns an image (JPEG, PNG, WebP, GIF, AVIF, TIFF) into a DeepDream nightmare.

Options:
  -o, --output FILE        where to write (.png, .jpg, .webp; an animation: .gif, .webp); default <input>-dream.png,
                           or for an animated GIF or WebP <input>-dream.gif or .webp (a still output dreams its first frame)
  --intensity LEVEL        ${INTENSITIES.join(' | ')} (default medium)
  --layers A,B             layers to dream (default: the preset's, e.g. mixed3,mixed5); a layer:channel grows
                           one channel (mixed4:97), mixable with whole layers (mixed3,mixed4:97)
  --octaves N              number of scales
  --octave-scale X         size ratio between scales (default 1.3)
  --steps N                gradient-ascent steps per octave
  --step-size X            step size in image units [0..1]
  --seed N                 random seed; the same seed gives the same image
  --max-side N             longest side to dream at (default by backend: ${Object.entries(DEFAULT_MAX_SIDE).map(([b, n]) => `${b} ${n}`).join(', ')})
  --tile-size N            images larger than this are dreamed in tiles (default 512)
  --backend B              ${BACKEND_CHOICES.join(' | ')} (default: DREAM_BACKEND or auto)
  --model NAME             model or style under models/ (default inception_v3)
  --target CLASS           an ImageNet class to grow (goldfish, 金魚, n01443537 or 1), by the ${CLASS_MODEL} classifier
                           alone (soft), or with --layers beside them; with a style (npm run train): its class
  --class-weight X         with --target and --layers: the class's weight beside the layers (default ${HYBRID_CLASS_WEIGHT})
  --soft, --no-soft        soft dream: Laplacian-pyramid normalisation, larger and smoother structures (default:
                           on for a class grown alone, else off)
  --guide FILE             a picture that decides what grows (guided dream)
  --guide-layer L          the layer the guide steers (default mixed4; any dream layer)
  --zoom-frames N          an endless zoom of N frames (${ZOOM_LIMITS.minFrames}–${ZOOM_LIMITS.maxFrames}; with --zoom alone ${ZOOM_DEFAULTS.frames}) to .gif or .webp: each
                           frame is the last dreamed a little (${ZOOM_PRESETS.medium.octaves}×${ZOOM_PRESETS.medium.steps} steps at medium), then zoomed in
  --zoom X                 zoom per frame (default ${ZOOM_DEFAULTS.zoom}); a zoom's frames are at most ${ZOOM_DEFAULTS.maxSide} px unless --max-side
  --frames N               an animated input: dream at most N frames (2–500, default MAX_ANIMATION_FRAMES or 48),
                           sampled evenly, each shown longer so it lasts as long
  --still FILE             with a zoom: also write its last frame as a still (.png, .jpg, .webp)
  --max-mb X               with a zoom or an animated input: size limit of the animation in MiB (default 10); it
                           shrinks to fit
  --info                   print backend, model and presets, then exit
  -h, --help               this text`;

function parse(argv: string[]) {
  return parseCli({
    args: argv,
    allowPositionals: true,
    allowNegative: true,
    options: {
      output: { type: 'string', short: 'o' },
      intensity: { type: 'string' },
      layers: { type: 'string' },
      octaves: { type: 'string' },
      'octave-scale': { type: 'string' },
      steps: { type: 'string' },
      'step-size': { type: 'string' },
      seed: { type: 'string' },
      'max-side': { type: 'string' },
      'tile-size': { type: 'string' },
      backend: { type: 'string' },
      model: { type: 'string' },
      target: { type: 'string' },
      'class-weight': { type: 'string' },
      soft: { type: 'boolean' },
      guide: { type: 'string' },
      'guide-layer': { type: 'string' },
      'zoom-frames': { type: 'string' },
      zoom: { type: 'string' },
      still: { type: 'string' },
      'max-mb': { type: 'string' },
      frames: { type: 'string' },
      info: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/** Where and what to write: a still, or an animation (a zoom, or an animated input dreamed frame by frame). */
export interface OutputPlan {
  output: string;
  animation?: AnimationFormat;
  /** The output was named (-o): an animated input then follows its extension, else the input's format. */
  named: boolean;
}

/** A dream's command line, every flag checked (but not against the model: that needs it loaded). */
export interface DreamArgs {
  /** --info: print backend, model and presets (no input, no plan). */
  info: boolean;
  /** --backend, when given. */
  backend?: BackendChoice;
  model?: string;
  target?: string;
  overrides: ZoomOverrides;
  /** --max-side, when given. */
  maxSide?: number;
  zooming: boolean;
  /** The zoom animation's size limit in MiB. */
  maxMb: number;
  /** --frames: an animated input's frames to dream at most. */
  frames?: number;
  /** The input and the output plan (absent with --info). */
  input?: { file: string; plan: OutputPlan };
  guide?: string;
  still?: string;
}

/**
 * Parses and checks a dream's command line ('help' for --help); throws UsageError (exit code 2) for anything that
 * does not fit.
 */
export function parseDreamArgs(argv: string[]): DreamArgs | 'help' {
  const { values: v, positionals } = parse(argv);
  if (v.help) return 'help';
  const info = v.info ?? false;
  if (v.backend !== undefined && !(BACKEND_CHOICES as readonly string[]).includes(v.backend)) throw new UsageError(`--backend must be one of ${BACKEND_CHOICES.join(', ')}.`);
  if (v.intensity !== undefined && !isIntensity(v.intensity)) throw new UsageError(`--intensity must be one of ${INTENSITIES.join(', ')}.`);
  const overrides: ZoomOverrides = {
    intensity: v.intensity as ZoomOverrides['intensity'],
    layers: v.layers?.split(',').map((l) => l.trim()).filter(Boolean),
    octaves: numberFlag(v.octaves, 'octaves', true),
    octaveScale: numberFlag(v['octave-scale'], 'octave-scale', false),
    steps: numberFlag(v.steps, 'steps', true),
    stepSize: numberFlag(v['step-size'], 'step-size', false),
    seed: numberFlag(v.seed, 'seed', true),
    tileSize: numberFlag(v['tile-size'], 'tile-size', true),
    frames: numberFlag(v['zoom-frames'], 'zoom-frames', true),
    zoom: numberFlag(v.zoom, 'zoom', false),
    guideLayer: v['guide-layer'],
    classWeight: numberFlag(v['class-weight'], 'class-weight', false),
    soft: v.soft,
  };
  const maxSide = numberFlag(v['max-side'], 'max-side', true);
  if (maxSide !== undefined && (maxSide < 64 || maxSide > 4096)) throw new UsageError('--max-side must be from 64 to 4096.');
  const zooming = overrides.frames !== undefined || overrides.zoom !== undefined;
  const { minFrames, maxFrames, minZoom, maxZoom } = ZOOM_LIMITS;
  if (overrides.frames !== undefined && (overrides.frames < minFrames || overrides.frames > maxFrames)) throw new UsageError(`--zoom-frames must be from ${minFrames} to ${maxFrames}.`);
  if (overrides.zoom !== undefined && !(overrides.zoom >= minZoom && overrides.zoom <= maxZoom)) throw new UsageError(`--zoom must be from ${minZoom} to ${maxZoom}.`);
  if (v.still !== undefined && !zooming) throw new UsageError('--still is the last frame of a zoom: add --zoom-frames N.');
  if (v['guide-layer'] !== undefined && v.guide === undefined) throw new UsageError('--guide-layer needs --guide FILE.');
  const maxMb = numberFlag(v['max-mb'], 'max-mb', false) ?? 10;
  const frames = numberFlag(v.frames, 'frames', true);
  if (frames !== undefined && (frames < 2 || frames > 500)) throw new UsageError('--frames must be from 2 to 500.');
  if (frames !== undefined && zooming) throw new UsageError('--frames is for an animated input; a zoom takes --zoom-frames N.');
  if (!(maxMb >= 0.1 && maxMb <= 1024)) throw new UsageError('--max-mb must be from 0.1 to 1024.');

  let input: DreamArgs['input'];
  if (!info) {
    if (positionals.length !== 1) throw new UsageError(positionals.length ? 'Give one input image.' : `No input image given.\n${USAGE}`);
    const file = positionals[0];
    input = { file, plan: outputPlan(file, v.output, zooming) };
    if (v.still !== undefined) formatFromPath(v.still);
  }
  return {
    info,
    backend: v.backend as BackendChoice | undefined,
    model: v.model,
    target: v.target,
    overrides,
    maxSide,
    zooming,
    maxMb,
    frames,
    input,
    guide: v.guide,
    still: v.still,
  };
}

/** The input's and the guide's bytes; a file that cannot be read is one readable sentence (ImageInputError). */
export async function readDreamInputs(args: DreamArgs): Promise<{ bytes?: Buffer; guideBytes?: Buffer }> {
  if (!args.input) return {};
  const bytes = await readInput(args.input.file, 'Input file');
  const guideBytes = args.guide !== undefined ? await readInput(args.guide, 'Guide file') : undefined;
  return { bytes, guideBytes };
}

/** A file's bytes, with one readable sentence when it cannot be read. */
async function readInput(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ImageInputError(code === 'ENOENT' ? `${what} not found: ${file}` : code === 'EISDIR' ? `${file} is a folder, not an image.` : `Cannot read ${file} (${code}).`);
  }
}

/** Where and what to write: a still, or an animation when a zoom flag is given (checked before any work). */
function outputPlan(input: string, output: string | undefined, zoom: boolean): OutputPlan {
  if (!zoom) {
    // A .gif (or .webp) output of an animated input is its dream; of a still, a .gif is refused once the input is read.
    const file = output ?? path.join(path.dirname(input), `${path.parse(input).name}-dream.png`);
    const animation = animationFormatOf(file);
    if (animation !== 'gif') formatFromPath(file); // refuse a bad extension before spending minutes on the dream
    return { output: file, named: output !== undefined, ...(animation ? { animation } : {}) };
  }
  const file = output ?? path.join(path.dirname(input), `${path.parse(input).name}-zoom.gif`);
  const animation = animationFormatOf(file);
  if (!animation) throw new UsageError(`A zoom is an animation: the output must end in .gif or .webp, not "${path.basename(file)}".`);
  return { output: file, animation, named: output !== undefined };
}

/** The dream command: checks its arguments and files, then loads the engine and dreams; returns the exit code. */
export async function dreamMain(argv: string[]): Promise<number> {
  const args = parseDreamArgs(argv);
  if (args === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const inputs = await readDreamInputs(args);
  const { runDream } = await import('./dream-run.ts');
  return runDream(args, inputs);
}
