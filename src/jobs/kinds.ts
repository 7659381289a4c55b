// The job kinds a JobProcessor runs: one entry per kind, handed to the processor where it is made (src/bin/compose.ts).
import { animationKind, type AnimationKindOptions } from './animation-job.ts';
import { dreamView } from './dream-job.ts';
import { explainView } from './explain-job.ts';
import type { JobKinds } from './job-kind.ts';
import { zoomView } from './zoom-job.ts';

export interface JobKindOptions {
  animation: AnimationKindOptions;
}

/** Dream (a still, guided or not), zoom, Explain and animation. */
export function jobKinds(opts: JobKindOptions): JobKinds {
  return {
    dream: { run: (ctx, job, inputs, signal, log) => dreamView(ctx, job, inputs[0], signal, log, inputs[1]) },
    zoom: { run: (ctx, job, inputs, signal, log) => zoomView(ctx, job, inputs[0], signal, log) },
    explain: { run: (ctx, job, inputs, signal) => explainView(ctx, job, inputs, signal) },
    animation: animationKind(opts.animation),
  };
}
