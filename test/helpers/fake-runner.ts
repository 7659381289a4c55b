import { CancelledError } from '../../src/errors.ts';
import type { AnimationProgress, BackendInfo, DreamProgress, Explanation, ScreenResult, ZoomProgress } from '../../src/engine/index.ts';
import type { RgbImage } from '../../src/imaging/index.ts';
import {
  WorkerCrashedError,
  type AnimationInput,
  type AnimationRunCallbacks,
  type DreamInput,
  type DreamRunCallbacks,
  type DreamRunner,
  type ExplainInput,
  type ZoomInput,
  type ZoomRunCallbacks,
} from '../../src/runner/index.ts';

/** Darknet's WordNet ids for the fake Explain labels, as the real classifier gives them. */
const FAKE_SYNSETS: Record<string, string> = {
  'Border terrier': 'n02093754',
  seashore: 'n09428293',
  lakeside: 'n09332890',
  valley: 'n09468604',
  alp: 'n09193705',
  volcano: 'n09472597',
  cliff: 'n09246464',
};

/** How a job goes on from the gate: to its end, or dying as a crashed worker thread would. */
export type GateOutcome = 'finish' | 'crash';

/**
 * Holds jobs until a test lets them go: `wait` resolves once a permit is there (taken by `release`, or always once
 * `open`), and rejects with CancelledError when the job is cancelled first. Permits given before a job arrives
 * are kept for it, so a test never races the job to the gate.
 */
export class Gate {
  private permits = 0;
  private opened: GateOutcome | null = null;
  private readonly waiting: ((outcome: GateOutcome) => void)[] = [];
  /** Dreams waiting at the gate now. */
  held = 0;
  /** Called whenever a dream arrives at the gate (e.g. to log it). */
  onHeld?: () => void;

  /** Lets `n` dreams through: ones waiting now, else the next ones to arrive. */
  release(n = 1): void {
    this.permits += n;
    while (this.permits > 0 && this.waiting.length) {
      this.permits--;
      this.waiting.shift()!('finish');
    }
  }

  /** Lets every job through from now on (with `crash`, to die as a crashed worker thread would). */
  open(outcome: GateOutcome = 'finish'): void {
    this.opened = outcome;
    for (const go of this.waiting.splice(0)) go(outcome);
  }

  /** Holds every job from now on again (permits not used yet are dropped). */
  close(): void {
    this.opened = null;
    this.permits = 0;
  }

  async wait(signal?: AbortSignal): Promise<GateOutcome> {
    if (this.opened) return this.opened;
    if (this.permits > 0) {
      this.permits--;
      return 'finish';
    }
    if (signal?.aborted) throw new CancelledError();
    this.held++;
    this.onHeld?.();
    try {
      return await new Promise<GateOutcome>((resolve, reject) => {
        const go = (outcome: GateOutcome) => {
          signal?.removeEventListener('abort', cancel);
          resolve(outcome);
        };
        const cancel = () => {
          const i = this.waiting.indexOf(go);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(new CancelledError());
        };
        this.waiting.push(go);
        signal?.addEventListener('abort', cancel, { once: true });
      });
    } finally {
      this.held--;
    }
  }
}

/**
 * A DreamRunner without the engine, for bot behaviour tests: it "dreams" by inverting the picture, taking time in
 * proportion to the pixels and steps (so big nightmares run long enough to queue behind), reports progress with
 * octave previews, honours cancels between steps, and fails on cue. `hold()` keeps jobs running until the test
 * says so, whatever the machine's speed.
 */
export class FakeRunner implements DreamRunner {
  readonly backend: BackendInfo = { name: 'cpu', detail: 'fake runner (tests)', threads: 1 };
  readonly size = 1;
  alive = 1;
  /** Milliseconds one step takes per megapixel (minimum 2 ms a step). */
  msPerMegapixel = 400;
  /** Every input it was given, in order. */
  readonly inputs: DreamInput[] = [];

  /** `{ msPerMegapixel: 0, msPerFrame: 2 }` makes every step and frame as short as it gets (2 ms), for tests that hold a job when they need one running. */
  constructor(timing: { msPerMegapixel?: number; msPerFrame?: number } = {}) {
    this.msPerMegapixel = timing.msPerMegapixel ?? this.msPerMegapixel;
    this.msPerFrame = timing.msPerFrame ?? this.msPerFrame;
  }

  /**
   * When set, every dream and zoom stops at this gate once, until the test lets it go: after its first step or frame
   * (progress reported), or at its end (every step and preview reported, the result not yet returned): `gateAt`.
   */
  gate?: Gate;
  gateAt: 'start' | 'end' = 'start';
  private readonly failures: ('backend' | 'crash')[] = [];

  /** The next run fails: `backend` as an out-of-memory error would, `crash` as a dead worker thread would. */
  failNext(kind: 'backend' | 'crash'): void {
    this.failures.push(kind);
  }

  /**
   * From now on every dream and zoom stops at a gate of its own (see `gate`), until `release()` or a cancel. A test,
   * not the clock, decides how long a job runs and when it ends.
   */
  hold(at: 'start' | 'end' = 'start'): void {
    if (this.gate) return;
    this.gate = new Gate();
    this.gateAt = at;
  }

  /** Lets held jobs go on to their end, and holds no more; with `crash`, a held job dies as a crashed worker would. */
  release(outcome: GateOutcome = 'finish'): void {
    const gate = this.gate;
    this.gate = undefined;
    this.gateAt = 'start';
    gate?.open(outcome);
  }

  /** Stops at the gate if there is one at `at`; a crash outcome throws as a dead worker thread would. */
  private async pass(at: 'start' | 'end', signal?: AbortSignal): Promise<boolean> {
    if (!this.gate || this.gateAt !== at) return false;
    if ((await this.gate.wait(signal)) === 'crash') throw new WorkerCrashedError(7);
    return true;
  }

  async run(input: DreamInput, { signal, onProgress }: DreamRunCallbacks = {}): Promise<RgbImage> {
    this.inputs.push(input);
    const failure = this.failures.shift();
    if (failure === 'backend') throw new Error('Aborted(OOM): out of memory');
    const { image, params } = input;
    const stepMs = Math.max(2, (this.msPerMegapixel * image.width * image.height) / 1e6);
    const out: RgbImage = { data: image.data.map((v) => 255 - v), width: image.width, height: image.height };
    const total = params.octaves * params.steps;
    const started = Date.now();
    let gated = false; // a job passes the start gate once (a test may hold after the first step)
    for (let o = 1; o <= params.octaves; o++) {
      for (let s = 1; s <= params.steps; s++) {
        await new Promise((resolve) => setTimeout(resolve, stepMs));
        if (signal?.aborted) throw new CancelledError();
        // A crash comes mid-dream, after the member has seen it start (progress edits go out every 2 s).
        if (failure === 'crash' && Date.now() - started > 2500) throw new WorkerCrashedError(7);
        const fraction = ((o - 1) * params.steps + s) / total;
        const elapsedMs = Date.now() - started;
        const progress: DreamProgress = { octave: o, octaves: params.octaves, step: s, steps: params.steps, fraction, elapsedMs, etaSeconds: ((elapsedMs / fraction) * (1 - fraction)) / 1000, loss: fraction };
        onProgress?.(s === params.steps && input.previews ? { ...progress, preview: out } : progress);
        if (!gated) gated = await this.pass('start', signal);
      }
    }
    await this.pass('end', signal);
    return out;
  }

  /** Every zoom input it was given, in order. */
  readonly zoomInputs: ZoomInput[] = [];
  /** Milliseconds one zoom frame takes (whatever its size). */
  msPerFrame = 20;

  /**
   * "Animates" without the engine: frame i is the input shifted in brightness by 8·i, one every `msPerFrame`,
   * with a progress event per frame (previews as the engine attaches them) and cancels honoured between frames.
   */
  async zoom(input: ZoomInput, { signal, onProgress }: ZoomRunCallbacks = {}): Promise<RgbImage[]> {
    this.zoomInputs.push(input);
    const { image, params, previewEvery = 0 } = input;
    const frames: RgbImage[] = [image];
    const made = params.frames - 1;
    const started = Date.now();
    let gated = false;
    for (let i = 1; i < params.frames; i++) {
      await new Promise((resolve) => setTimeout(resolve, this.msPerFrame));
      if (signal?.aborted) throw new CancelledError();
      const frame: RgbImage = { data: image.data.map((v) => (v + 8 * i) & 255), width: image.width, height: image.height };
      frames.push(frame);
      const fraction = i / made;
      const elapsedMs = Date.now() - started;
      const due = previewEvery > 0 && (i % previewEvery === 0 || i === made);
      const progress: ZoomProgress = {
        octave: params.octaves, octaves: params.octaves, step: params.steps, steps: params.steps, fraction, elapsedMs,
        etaSeconds: ((elapsedMs / fraction) * (1 - fraction)) / 1000, loss: fraction, frame: i, frames: params.frames, frameDone: true,
        preview: due ? frame : undefined,
      };
      onProgress?.(progress);
      if (!gated) gated = await this.pass('start', signal);
    }
    await this.pass('end', signal);
    return frames;
  }

  /** Every animation input it was given, in order. */
  readonly animationInputs: AnimationInput[] = [];

  /**
   * "Dreams" an animation without the engine: frame i is input frame i inverted, one every `msPerFrame`, with a
   * progress event per frame (previews as the engine attaches them) and cancels honoured between frames.
   */
  async animate(input: AnimationInput, { signal, onProgress }: AnimationRunCallbacks = {}): Promise<RgbImage[]> {
    this.animationInputs.push(input);
    const { frames, params, previewEvery = 0 } = input;
    const out: RgbImage[] = [];
    const started = Date.now();
    let gated = false;
    for (let i = 0; i < frames.length; i++) {
      await new Promise((resolve) => setTimeout(resolve, this.msPerFrame));
      if (signal?.aborted) throw new CancelledError();
      const frame: RgbImage = { data: frames[i].data.map((v) => 255 - v), width: frames[i].width, height: frames[i].height };
      out.push(frame);
      const fraction = (i + 1) / frames.length;
      const elapsedMs = Date.now() - started;
      const due = previewEvery > 0 && ((i + 1) % previewEvery === 0 || i === frames.length - 1);
      const progress: AnimationProgress = {
        octave: params.octaves, octaves: params.octaves, step: params.steps, steps: params.steps, fraction, elapsedMs,
        etaSeconds: ((elapsedMs / fraction) * (1 - fraction)) / 1000, loss: fraction, frame: i + 1, frames: frames.length, frameDone: true,
        preview: due ? frame : undefined,
      };
      onProgress?.(progress);
      if (!gated) gated = await this.pass('start', signal);
    }
    await this.pass('end', signal);
    return out;
  }

  /** The `explicit` score every screened picture gets (ordinary pictures score about 0.01). */
  explicitScore = 0.01;
  /** How many pictures it screened. */
  screened = 0;

  async screen(images: RgbImage[]): Promise<ScreenResult[]> {
    this.screened += images.length;
    const explicit = this.explicitScore;
    return images.map(() => ({ scores: { drawing: 0, hentai: 0, neutral: 1 - explicit, porn: explicit, sexy: 0 }, explicit }));
  }

  /** Every explain input it was given, in order. */
  readonly explainInputs: ExplainInput[] = [];

  /**
   * "Explains" without a classifier: the top labels are fixed (Border terrier first, or the target when one is
   * asked for), and the heat is brightest at the picture's brightest corner quadrant, so a test can see it.
   */
  async explain(input: ExplainInput, { signal }: Pick<DreamRunCallbacks, 'signal'> = {}): Promise<Explanation[]> {
    this.explainInputs.push(input);
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (signal?.aborted) throw new CancelledError();
    const names = [input.target ?? 'Border terrier', 'seashore', 'lakeside', 'valley', 'alp', 'volcano', 'cliff'].slice(0, input.top ?? 5);
    return input.images.map((image) => {
      const top = names.map((label, index) => ({ label, index, probability: [0.42, 0.21, 0.12, 0.08, 0.05, 0.03, 0.02][index], ...(FAKE_SYNSETS[label] ? { synset: FAKE_SYNSETS[label] } : {}) }));
      const heat = new Float32Array(14 * 14).map((_, i) => ((i % 14) + Math.floor(i / 14)) / 26);
      return { top, target: top[0], heatmap: { data: heat, width: 14, height: 14 }, width: image.width, height: image.height, logits: new Float32Array(names.length) };
    });
  }

  async close(): Promise<void> {
    this.alive = 0;
  }
}
