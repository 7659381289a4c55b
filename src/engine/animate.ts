// Dreaming an animation frame by frame so the dream moves with the picture (temporal coherence): the previous
// frame's dream change travels along the optical flow into the next frame, then is dreamed a little more.
import { CancelledError } from '../errors.ts';
import type { RgbImage } from '../imaging/rgb-image.ts';
import { DreamParamsError, type DreamParams, type DreamProgress } from './dream.ts';
import { toFloatImage, toRgbImage, type FloatImage } from './float-image.ts';
import { FLOW_SIDE, greyAt, opticalFlow, warpImage } from './flow.ts';
import { frameSeed, type FrameDreamer, type ZoomRunOptions } from './zoom.ts';

/** An animation's recipe: the first frame's dream, and how each later frame follows it. Structured-clone friendly. */
export interface AnimationParams extends DreamParams {
  /** Octaves of each frame after the first (default {@link followRecipe}). */
  followOctaves?: number;
  /** Steps per octave of each frame after the first. */
  followSteps?: number;
  /** Share of the previous frame's dream change carried into the next, 0..1 (default {@link ANIMATION_CARRY}). */
  carry?: number;
  /** Share of the carried change kept in the output over the short dream's, 0..1 (default {@link ANIMATION_HOLD}). */
  hold?: number;
}

export const ANIMATION_DEFAULTS = {
  /** Longest side an animation is dreamed at unless asked otherwise: dozens of frames stay quick and the file small. */
  maxSide: 384,
  /** A preview every this many frames while it is dreamed. */
  previewEvery: 6,
  /** An animation costs this many frames to a dream in caps and wait estimates (as a zoom does). */
  framesPerDream: 8,
} as const;

/**
 * How a frame follows the last one, measured on a still photo with a moving ball and on a camera pan (320 px, medium,
 * scripts/animation-check.ts): the carried change (0.95 of it, so flow errors fade instead of piling up) is dreamed a
 * little more, and the output keeps 0.6 of the carried change where the flow is trusted. Without that hold a still
 * background changed by 8/255 from frame to frame (every gradient step moves pixels by about the step size); with it
 * by 5/255, and 2.9/255 once the flow was smoothed (a pan: 3.3/255 between frames shifted by it, 21.4 dreamed alone).
 */
export const ANIMATION_CARRY = 0.95;
export const ANIMATION_HOLD = 0.6;

/**
 * A later frame is a short dream on top of the carried one: 2 octaves of a third of the steps (medium: 2 × 3 of
 * 3 × 10), about a quarter of a still dream's time, so 24 frames take under 8 still dreams.
 */
export function followRecipe(p: AnimationParams): { octaves: number; steps: number } {
  return { octaves: p.followOctaves ?? Math.min(2, p.octaves), steps: p.followSteps ?? Math.max(2, Math.round(p.steps / 3)) };
}

export interface AnimationProgress extends DreamProgress {
  /** The frame being dreamed, 1-based. */
  frame: number;
  frames: number;
  /** True on the event that ends a frame; its `preview` is that frame when one was due. */
  frameDone: boolean;
}

export interface AnimationRunOptions extends Omit<ZoomRunOptions, 'onProgress'> {
  onProgress?: (p: AnimationProgress) => void;
}

function meanAbs(a: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]);
  return sum / a.length;
}

/** Where the input moved as the flow says, how far it is from the next input: 1 where it matches, 0 past `tolerance`. */
function confidence(movedPrev: FloatImage, next: FloatImage, tolerance: number): Float32Array {
  const n = next.width * next.height;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const d = (Math.abs(movedPrev.data[i * 3] - next.data[i * 3]) + Math.abs(movedPrev.data[i * 3 + 1] - next.data[i * 3 + 1]) + Math.abs(movedPrev.data[i * 3 + 2] - next.data[i * 3 + 2])) / 3;
    out[i] = Math.max(0, 1 - d / tolerance);
  }
  return out;
}

/**
 * The animation dreamed frame by frame: frame 1 as a still dream (its seed is the animation's, so a still of the
 * first frame matches it); each later frame starts from its input plus the previous frame's dream change (dream −
 * input) moved along the optical flow between the two inputs, carried where the flow explains the picture, then a
 * short dream (seed {@link frameSeed}). Same frames, params and backend give the same frames. Cancellable between
 * frames and between steps.
 */
export async function dreamAnimation(dreamer: FrameDreamer, frames: RgbImage[], p: AnimationParams, opts: AnimationRunOptions = {}): Promise<RgbImage[]> {
  if (frames.length === 0) throw new DreamParamsError('An animation needs at least one frame.');
  const { onProgress, previewEvery = 0, ...dreamOpts } = opts;
  const { followOctaves: _o, followSteps: _s, carry = ANIMATION_CARRY, hold = ANIMATION_HOLD, ...params } = p;
  const follow = followRecipe(p);
  // Work per frame, for progress: a follow frame costs about its steps over the first frame's (pixels weighted alike).
  const firstCost = params.octaves * params.steps;
  const followCost = follow.octaves * follow.steps;
  const total = firstCost + followCost * (frames.length - 1);
  const doneBefore = (i: number) => (i === 0 ? 0 : firstCost + followCost * (i - 1));
  const started = Date.now();
  const timing = (fraction: number) => {
    const elapsedMs = Date.now() - started;
    return { fraction, elapsedMs, etaSeconds: fraction > 0 ? ((elapsedMs / fraction) * (1 - fraction)) / 1000 : 0 };
  };

  const out: RgbImage[] = [];
  let strength = 0;
  let prevInput: FloatImage | undefined;
  let prevChange: FloatImage | undefined;
  for (let i = 0; i < frames.length; i++) {
    if (dreamOpts.signal?.aborted) throw new CancelledError();
    const input = toFloatImage(frames[i]);
    let start = input;
    let carried: { change: Float32Array; trust: Float32Array } | undefined;
    if (prevInput && prevChange) {
      const flow = opticalFlow(greyAt(prevInput, FLOW_SIDE), greyAt(input, FLOW_SIDE));
      const moved = warpImage(prevChange, flow);
      const trust = confidence(warpImage(prevInput, flow), input, 0.12);
      const data = new Float32Array(input.data.length);
      for (let k = 0; k < data.length; k++) data[k] = Math.min(1, Math.max(0, input.data[k] + carry * trust[(k / 3) | 0] * moved.data[k]));
      start = { data, width: input.width, height: input.height };
      carried = { change: moved.data, trust };
    }
    const cost = i === 0 ? firstCost : followCost;
    const recipe: DreamParams = i === 0 ? params : { ...params, octaves: follow.octaves, steps: follow.steps, seed: frameSeed(params.seed, i) };
    let last: DreamProgress | undefined;
    const dreamed = await dreamer.dream(toRgbImage(start), recipe, {
      ...dreamOpts,
      previews: false,
      onProgress: (d) => {
        last = d;
        onProgress?.({ ...d, ...timing((doneBefore(i) + d.fraction * cost) / total), frame: i + 1, frames: frames.length, frameDone: false });
      },
    });
    const result = toFloatImage(dreamed);
    const change = new Float32Array(result.data.length);
    for (let k = 0; k < change.length; k++) change[k] = result.data[k] - input.data[k];
    if (carried) {
      // The output keeps `hold` of the carried change where the flow is trusted: the short dream's wobble is damped.
      for (let k = 0; k < change.length; k++) {
        const m = hold * carried.trust[(k / 3) | 0];
        change[k] = m * carried.change[k] + (1 - m) * change[k];
      }
      // Then the change is scaled back to the first frame's strength (within a fifth a frame): otherwise short dreams
      // on top of carried ones fade (a pan's warps blur) or build up over dozens of frames.
      const gain = Math.min(1.2, Math.max(0.83, strength / Math.max(1e-6, meanAbs(change))));
      for (let k = 0; k < change.length; k++) {
        change[k] *= gain;
        result.data[k] = Math.min(1, Math.max(0, input.data[k] + change[k]));
      }
    } else {
      strength = meanAbs(change);
    }
    prevChange = { data: change, width: input.width, height: input.height };
    prevInput = input;
    const frame = carried ? toRgbImage(result) : dreamed;
    out.push(frame);
    if (onProgress) {
      const due = previewEvery > 0 && ((i + 1) % previewEvery === 0 || i === frames.length - 1);
      const end = last ?? { octave: recipe.octaves, octaves: recipe.octaves, step: recipe.steps, steps: recipe.steps, loss: 0 };
      onProgress({ ...end, ...timing(doneBefore(i + 1) / total), frame: i + 1, frames: frames.length, frameDone: true, preview: due ? frame : undefined });
    }
  }
  return out;
}
