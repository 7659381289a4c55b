import type { DreamProgress } from '../engine/index.ts';
import { formatDuration } from '../format.ts';

/** A one-line progress bar redrawn in place; only used when stderr is a terminal. */
export class ProgressBar {
  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly width = 28,
  ) {}

  update(p: DreamProgress): void {
    const filled = Math.round(p.fraction * this.width);
    const bar = '█'.repeat(filled) + '░'.repeat(this.width - filled);
    const pct = String(Math.floor(p.fraction * 100)).padStart(3);
    const line = `${bar} ${pct}%  octave ${p.octave}/${p.octaves}  step ${p.step}/${p.steps}  loss ${p.loss.toFixed(3)}  ETA ${formatDuration(p.etaSeconds)}`;
    this.out.write(`\r${line}\x1b[K`);
  }

  done(): void {
    this.out.write('\r\x1b[K');
  }
}
