import type { DreamProgress } from '../engine/index.ts';
import { englishFormat } from '../i18n/index.ts';

/** A one-line progress bar redrawn in place, with lines printed above it; only used when stderr is a terminal. */
export class ProgressBar {
  private shown = false;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly width = 28,
  ) {}

  /** Redraws the bar at `fraction` (0..1) followed by `text`. */
  draw(fraction: number, text: string): void {
    const filled = Math.round(Math.min(1, Math.max(0, fraction)) * this.width);
    this.out.write(`\r${'█'.repeat(filled)}${'░'.repeat(this.width - filled)} ${String(Math.floor(fraction * 100)).padStart(3)}%  ${text}\x1b[K`);
    this.shown = true;
  }

  /** A dream's progress: octave, step, loss and time left. */
  update(p: DreamProgress): void {
    this.draw(p.fraction, `octave ${p.octave}/${p.octaves}  step ${p.step}/${p.steps}  loss ${p.loss.toFixed(3)}  ETA ${englishFormat.duration(p.etaSeconds)}`);
  }

  /** Prints a line above the bar. */
  line(text: string): void {
    this.done();
    this.out.write(`${text}\n`);
  }

  /** Clears the bar. */
  done(): void {
    if (this.shown) this.out.write('\r\x1b[K');
    this.shown = false;
  }
}
