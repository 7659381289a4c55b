import type { Logger } from 'pino';
import type { JobView, ReplyTarget } from './reply-target.ts';

/** Progress edits at most this often (Discord rate-limits message edits). */
const EDIT_INTERVAL_MS = 2000;

/**
 * Serialises a job's message edits and drops stale ones: at most one edit per interval, always the latest,
 * and a final view that nothing queued before it can overwrite.
 */
export class StatusEditor {
  private chain: Promise<void> = Promise.resolve();
  private pending: JobView | null = null;
  private timer: NodeJS.Timeout | null = null;
  private last = 0;
  private finished = false;

  constructor(
    readonly target: ReplyTarget,
    private readonly log: Logger,
  ) {}

  /** Shows `view` soon (at once when urgent, e.g. a preview), replacing any update not yet sent. */
  update(view: JobView, urgent = false): void {
    if (this.finished) return;
    this.pending = view;
    const wait = urgent ? 0 : Math.max(0, this.last + EDIT_INTERVAL_MS - Date.now());
    if (this.timer && !urgent) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), wait);
  }

  private flush(): void {
    this.timer = null;
    const view = this.pending;
    this.pending = null;
    if (!view || this.finished) return;
    this.last = Date.now();
    void this.enqueue(() => this.target.show(view));
  }

  private enqueue(edit: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(edit).catch((err: Error) => this.log.warn({ err }, 'could not update a dream message'));
    return this.chain;
  }

  /** The last word: drops pending progress, then shows `view` as final. */
  finish(view: JobView): Promise<void> {
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = null;
    return this.enqueue(() => this.target.show(view, true));
  }
}
